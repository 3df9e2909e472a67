import json

from reprobook.run.records import load_records, make_record, summarize, write_json_atomic


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "a" / "b.json"
    write_json_atomic(path, {"x": 1})
    write_json_atomic(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2}
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]


def test_failed_write_keeps_the_previous_record(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"ok": True})
    try:
        write_json_atomic(path, {"bad": object()})
    except TypeError:
        pass
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_record_fields_and_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RESULTS", str(tmp_path))
    rec = make_record("03-x", "01-y", "short", 0, {"scale": "short"}, {"acc": 90.0}, 12.345)
    assert set(rec) >= {"metrics", "parameters", "git", "device", "versions", "wall_s", "date"}
    assert rec["versions"]["torch"] and rec["wall_s"] == 12.35
    write_json_atomic(tmp_path / "03-x" / "01-y" / "short-seed0.json", rec)
    assert load_records("03-x", "01-y", "short")[0]["metrics"] == {"acc": 90.0}
    assert load_records("03-x", "01-y", "paper") == []


def test_summarize():
    assert summarize([]) == "—"
    assert summarize([91.234]) == "91.23"
    assert summarize([90.0, 92.0]) == "91.00 ± 1.41 (2 seeds)"
