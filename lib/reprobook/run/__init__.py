"""Scales, the papermill runner, results records and what notebooks report."""
from .records import load_records, record_path, summarize
from .report import report, table
from .scales import SCALES, Config, configure
