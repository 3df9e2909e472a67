"""The chapter results table: paper column, smoke from the executed twin, records summarised."""
from pathlib import Path

from reprobook.book import results_rows
from reprobook.run.records import make_record, record_path, write_json_atomic
from reprobook.run.report import metrics_from_notebook

TWIN = Path(__file__).resolve().parents[2] / "book" / "00-example" / "01-probe.ipynb"
ROWS = [{"metric": "probe_acc_supervised", "label": "supervised", "paper": "—"}]


def test_smoke_comes_from_the_twin_and_missing_runs_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RESULTS", str(tmp_path))
    header, body = results_rows("00-example", "01-probe", ROWS)
    smoke = metrics_from_notebook(TWIN)["probe_acc_supervised"]
    assert header[1] == "paper" and body[0][:3] == ["supervised", "—", f"{smoke:.2f}"]
    assert body[0][3:] == ["not run", "not run"]


def test_records_are_summarised_over_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RESULTS", str(tmp_path))
    for seed, acc in [(0, 90.0), (1, 92.0)]:
        rec = make_record("00-example", "01-probe", "short", seed, {}, {"probe_acc_supervised": acc}, 1.0)
        write_json_atomic(record_path("00-example", "01-probe", "short", seed), rec)
    _, body = results_rows("00-example", "01-probe", ROWS)
    assert body[0][3] == "91.00 ± 1.41 (2 seeds)" and body[0][4] == "not run"
