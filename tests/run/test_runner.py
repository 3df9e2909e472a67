"""The runner end to end on a tiny notebook in a temporary book (the real chapters' smoke
notebooks are executed once, by nbval, not again here)."""
import json
import subprocess
import sys

import pytest

from reprobook.run import notebooks as nbs
from reprobook.run.report import metrics_from_notebook
from reprobook.run.runner import check_parameters, golden, parse_param, run, twin_mismatches

TINY = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Tiny

```{code-cell} ipython3
:tags: [parameters]

scale = "smoke"
seed = 0
width = 2
```

```{code-cell} ipython3
from reprobook.run import report
report(value=seed * 10 + width + 0.123456, scale_name=scale)
```
"""


@pytest.fixture
def book(tmp_path, monkeypatch):
    (tmp_path / "book" / "99-demo").mkdir(parents=True)
    (tmp_path / "book" / "99-demo" / "01-tiny.md").write_text(TINY)
    (tmp_path / "book" / "99-demo" / "index.md").write_text("# Demo\n")
    monkeypatch.setenv("REPROBOOK_RESULTS", str(tmp_path / "results"))
    return tmp_path / "book"


def test_discovery_and_resolution(book):
    assert nbs.chapters(book) == ["99-demo"]
    assert [r.name for r in nbs.notebooks(book=book)] == ["01-tiny"]
    assert nbs.resolve("demo/01", book)[0].name == "01-tiny"
    with pytest.raises(ValueError, match="unknown chapter 'nope'; valid chapters: 99-demo"):
        nbs.resolve("nope", book)
    with pytest.raises(ValueError, match="unknown notebook '02' in 99-demo; valid notebooks: 01-tiny"):
        nbs.resolve("99-demo/02", book)


def test_parameters_are_checked(book):
    ref = nbs.resolve("99-demo", book)[0]
    assert nbs.parameters(ref) == {"scale": "smoke", "seed": 0, "width": 2}
    assert check_parameters(ref, {"width": 5})["width"] == 5
    with pytest.raises(ValueError, match="unknown parameter.*depth.*valid: scale, seed, width"):
        check_parameters(ref, {"depth": 5})
    assert parse_param("lr=0.5") == ("lr", 0.5) and parse_param("name=abc") == ("name", "abc")


def test_run_writes_an_atomic_record_with_the_metrics(book, tmp_path):
    paths = run("99-demo/01-tiny", scale="short", seed=3, params={"width": 4}, progress=False, book=book,
                runs=tmp_path / "runs")
    rec = json.loads(paths[0].read_text())
    assert paths[0] == tmp_path / "results" / "99-demo" / "01-tiny" / "short-seed3.json"
    assert rec["metrics"] == {"value": pytest.approx(34.123456), "scale_name": "short"}
    assert rec["parameters"] == {"scale": "short", "seed": 3, "width": 4}
    assert rec["git"]["commit"] and rec["versions"]["torch"] and rec["wall_s"] > 0
    executed = tmp_path / "runs" / "99-demo" / "01-tiny-short-seed3.ipynb"
    assert metrics_from_notebook(executed)["value"] == 34.12          # rounded for display


def test_a_failing_notebook_writes_no_record(book, tmp_path):
    (book / "99-demo" / "01-tiny.md").write_text(TINY.replace("report(", "1 / 0\nreport("))
    with pytest.raises(Exception, match="ZeroDivisionError"):
        run("99-demo", progress=False, book=book, runs=tmp_path / "runs")
    assert not (tmp_path / "results").exists()


def test_golden_twin_and_mismatch_detection(book):
    ref = nbs.resolve("99-demo", book)[0]
    assert "missing" in twin_mismatches(ref)[0]
    assert golden("99-demo", progress=False, book=book) == [ref.twin]
    assert twin_mismatches(ref) == []
    ref.source.write_text(TINY.replace("width = 2", "width = 3"))
    assert "cell 1" in twin_mismatches(ref)[0]


def test_cli_bad_scale_lists_the_valid_ones():
    out = subprocess.run([sys.executable, "-m", "reprobook.cli", "run", "00-example", "--scale", "huge"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown scale 'huge'; valid scales: smoke, short, paper" in out.stderr
