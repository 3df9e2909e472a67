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


def test_variant_records_stay_out_of_the_default_row(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RESULTS", str(tmp_path))
    for variant, acc in [({}, 90.0), ({"dataset": "cifar100"}, 60.0)]:
        rec = make_record("00-example", "01-probe", "short", 0, {}, {"probe_acc_supervised": acc}, 1.0,
                          variant=variant)
        write_json_atomic(record_path("00-example", "01-probe", "short", 0, variant), rec)
    _, body = results_rows("00-example", "01-probe", ROWS + [dict(ROWS[0], parameters={"dataset": "cifar100"})])
    assert body[0][3] == "90.00" and body[1][3] == "60.00" and body[1][2] == "—"


PNG = bytes.fromhex("89504e470d0a1a0a") + b"a recorded figure"


def test_the_strongest_figure_is_shown_with_its_provenance(tmp_path, monkeypatch):
    from reprobook.book import strongest_figure

    monkeypatch.setenv("REPROBOOK_RESULTS", str(tmp_path))
    png, label = strongest_figure("03-hypersphere", "02-hypersphere-plots", "circle")
    assert png.startswith(bytes.fromhex("89504e47")) and label.startswith("smoke run")   # the twin's
    for scale, seed, date in [("short", 0, "2026-11-01"), ("short", 1, "2026-11-02")]:
        rec = make_record("03-hypersphere", "02-hypersphere-plots", scale, seed, {}, {}, 312.0,
                          figures={"circle": f"{scale}-seed{seed}-circle.png"})
        rec.update(date=date + "T00:00:00+00:00", git={"commit": "abcdef1234567", "dirty": False},
                   device={"gpu": "NVIDIA H200"})
        write_json_atomic(record_path("03-hypersphere", "02-hypersphere-plots", scale, seed), rec)
        (tmp_path / "03-hypersphere" / "02-hypersphere-plots" / f"{scale}-seed{seed}-circle.png").write_bytes(PNG)
    png, label = strongest_figure("03-hypersphere", "02-hypersphere-plots", "circle")
    assert png == PNG
    assert label == "short run, seed 1, 2026-11-02, commit abcdef1, NVIDIA H200, 312 s"
    assert strongest_figure("03-hypersphere", "02-hypersphere-plots", "nope")[0] is None
