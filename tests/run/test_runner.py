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
    paths = run("99-demo/01-tiny", scale="short", seed=3, progress=False, book=book, runs=tmp_path / "runs")
    rec = json.loads(paths[0].read_text())
    assert paths[0] == tmp_path / "results" / "99-demo" / "01-tiny" / "short-seed3.json"
    assert rec["metrics"] == {"value": pytest.approx(32.123456), "scale_name": "short"}
    assert rec["parameters"] == {"scale": "short", "seed": 3, "width": 2} and rec["variant"] == {}
    assert rec["git"]["commit"] and rec["versions"]["torch"] and rec["wall_s"] > 0
    executed = tmp_path / "runs" / "99-demo" / "01-tiny-short-seed3.ipynb"
    assert metrics_from_notebook(executed)["value"] == 32.12          # rounded for display


def test_records_of_other_parameters_never_overwrite_and_tables_never_mix(book, tmp_path):
    from reprobook.run.records import load_records

    default = run("99-demo", scale="short", seed=0, progress=False, book=book, runs=tmp_path / "runs")[0]
    wide = run("99-demo", scale="short", seed=0, params={"width": 4}, progress=False, book=book,
               runs=tmp_path / "runs")[0]
    assert default != wide and default.name == "short-seed0.json" and wide.name.startswith("short-seed0-")
    assert json.loads(default.read_text())["metrics"]["value"] == pytest.approx(2.123456)
    assert json.loads(wide.read_text())["variant"] == {"width": 4}
    assert [r["metrics"]["value"] for r in load_records("99-demo", "01-tiny", "short")] == [pytest.approx(2.123456)]
    assert [r["variant"] for r in load_records("99-demo", "01-tiny", "short", {"width": 4})] == [{"width": 4}]
    assert len(load_records("99-demo", "01-tiny", "short", "any")) == 2


def test_seed_and_scale_come_from_their_flags_only(book, tmp_path):
    for name, flag in (("seed", "--seed"), ("scale", "--scale")):
        with pytest.raises(ValueError, match=f"set {name} with {flag}"):
            run("99-demo", params={name: 3}, progress=False, book=book, runs=tmp_path / "runs")
    paths = run("99-demo", seed=3, scale="short", progress=False, book=book, runs=tmp_path / "runs")
    rec = json.loads(paths[0].read_text())
    assert paths[0].name == "short-seed3.json" and rec["seed"] == 3 and rec["scale"] == "short"
    assert rec["parameters"]["seed"] == 3 and rec["metrics"]["scale_name"] == "short"


@pytest.mark.parametrize("kwargs,message", [
    ({"params": {"width": "abc"}}, r"parameter width of 99-demo/01-tiny must be an integer \(default 2\), got 'abc'"),
    ({"params": {"width": 2.5}}, "parameter width .* must be an integer"),
    ({"params": {"colour": "blue"}}, "parameter colour='blue' .* valid: red, green"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"device": "tpu"}, "device='tpu' is not valid; valid: auto, cpu, cuda, cuda:N"),
    ({"scale": "huge"}, "unknown scale 'huge'"),
])
def test_bad_parameters_are_refused_before_any_kernel_starts(book, tmp_path, kwargs, message, monkeypatch):
    import time

    (book / "99-demo" / "01-tiny.md").write_text(TINY.replace("width = 2", 'width = 2\ncolour = "red"  # one of: red, green\ndevice = "auto"'))
    monkeypatch.setattr("reprobook.run.runner.execute", lambda *a, **k: pytest.fail("a kernel was started"))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        run("99-demo", progress=False, book=book, runs=tmp_path / "runs", **kwargs)
    assert time.perf_counter() - t0 < 1.0


def test_cuda_asked_for_without_cuda_is_refused(book, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")        # the refusal is what is tested; with CUDA it runs
    (book / "99-demo" / "01-tiny.md").write_text(TINY.replace("width = 2", 'width = 2\ndevice = "auto"'))
    with pytest.raises(ValueError, match="CUDA is not available"):
        run("99-demo", device="cuda", progress=False, book=book, runs=tmp_path / "runs")


def test_a_relative_data_path_is_taken_from_the_callers_directory(book, tmp_path, monkeypatch):
    (book / "99-demo" / "01-tiny.md").write_text(TINY.replace(
        "report(value=seed * 10 + width + 0.123456, scale_name=scale)",
        "import os\nreport(data=os.environ['REPROBOOK_DATA'])"))
    (tmp_path / "elsewhere" / "shards").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("REPROBOOK_DATA", "shards:../other")
    rec = json.loads(run("99-demo", progress=False, book=book, runs=tmp_path / "runs")[0].read_text())
    assert rec["metrics"]["data"] == f"{tmp_path / 'elsewhere' / 'shards'}:{tmp_path / 'other'}"


def test_a_failed_run_keeps_the_executed_notebook_of_the_last_good_one(book, tmp_path):
    runs = tmp_path / "runs"
    run("99-demo", progress=False, book=book, runs=runs)
    executed = runs / "99-demo" / "01-tiny-smoke-seed0.ipynb"
    good = executed.read_text()
    (book / "99-demo" / "01-tiny.md").write_text(TINY.replace("report(", "1 / 0\nreport("))
    with pytest.raises(Exception, match="ZeroDivisionError"):
        run("99-demo", progress=False, book=book, runs=runs)
    assert executed.read_text() == good
    assert "ZeroDivisionError" in (runs / "99-demo" / "01-tiny-smoke-seed0.failed.ipynb").read_text()
    assert not list((runs / "99-demo").glob("*.running.ipynb"))


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_says_one_line_records_nothing_and_cleans_up(book, tmp_path, sig):
    import os
    import signal
    import time

    (book / "99-demo" / "01-tiny.md").write_text(TINY.replace("report(", "import time\ntime.sleep(60)\nreport("))
    runtime, tmp = tmp_path / "jupyter-runtime", tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "REPROBOOK_BOOK": str(book), "REPROBOOK_RESULTS": str(tmp_path / "results"),
           "JUPYTER_RUNTIME_DIR": str(runtime), "TMPDIR": str(tmp)}
    # as from a terminal: a job started in the background of a script inherits an ignored SIGINT
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)   # noqa: E731
    proc = subprocess.Popen([sys.executable, "-m", "reprobook.cli", "run", "99-demo", "--no-record"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    def connection_files():   # the kernel's: in the runtime folder, or a temporary file
        return list(runtime.glob("kernel-*.json")) + list(tmp.glob("tmp*.json"))

    deadline = time.time() + 60
    while not connection_files() and time.time() < deadline:
        time.sleep(0.2)
    assert connection_files(), "no kernel started"
    time.sleep(3)                                      # the kernel is in the sleeping cell
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "reprobook: interrupted; nothing recorded"
    assert "Traceback" not in err
    assert not connection_files(), "the kernel's connection file was left behind"
    assert not [p for p in tmp.iterdir() if p.name.startswith("reprobook-")], "a temporary folder was left"
    from reprobook.paths import RUNS
    assert not list((RUNS / "99-demo").glob("*.running.ipynb")) if (RUNS / "99-demo").exists() else True
    assert not (tmp_path / "results").exists()


def test_targets_may_be_paths(book):
    ref = nbs.resolve("99-demo", book)[0]
    assert nbs.resolve(str(book / "99-demo" / "01-tiny.md"), book) == [ref]
    assert nbs.resolve(str(book / "99-demo" / "01-tiny.ipynb"), book) == [ref]
    assert nbs.resolve(str(book / "99-demo") + "/", book) == [ref]


def test_cli_version_and_help():
    out = subprocess.run([sys.executable, "-m", "reprobook.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("reprobook ")
    help_text = subprocess.run([sys.executable, "-m", "reprobook.cli", "--help"], capture_output=True, text=True).stdout
    assert "``" not in help_text and "REPROBOOK_DATA" in help_text and "results/" in help_text


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


def test_key_figures_are_kept_with_the_record(book, tmp_path):
    (book / "99-demo" / "01-tiny.md").write_text(TINY.replace(
        "report(value=seed * 10 + width + 0.123456, scale_name=scale)",
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "from reprobook.run import report_figure\nplt.plot([0, width])\nreport_figure('line')\n"
        "report(value=1.0)"))
    path = run("99-demo", scale="short", progress=False, book=book, runs=tmp_path / "runs")[0]
    rec = json.loads(path.read_text())
    assert rec["figures"] == {"line": "short-seed0-line.png"}
    assert (path.parent / "short-seed0-line.png").read_bytes().startswith(bytes.fromhex("89504e47"))
    from reprobook.run.report import figure_from_notebook
    assert figure_from_notebook(tmp_path / "runs" / "99-demo" / "01-tiny-short-seed0.ipynb", "line")
