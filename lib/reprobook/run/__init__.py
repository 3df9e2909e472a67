"""Scales, the papermill runner, results records and what notebooks report."""
from .records import load_records, record_path, summarize
from .report import report, report_figure, table
from .scales import SCALES, Config, configure
