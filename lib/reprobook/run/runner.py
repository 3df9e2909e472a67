"""Execute a notebook at a scale: jupytext -> papermill -> executed notebook + results record."""
from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..paths import REPO_ROOT, RUNS
from . import notebooks as nbs
from .records import make_record, record_path, write_json_atomic
from .report import METRICS_ENV
from .scales import check_scale


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def parse_param(text: str) -> tuple[str, object]:
    """``name=value`` with a Python literal value (a bare word is a string)."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"parameters are name=value, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def check_parameters(ref: nbs.NotebookRef, given: dict) -> dict:
    """Validate overrides against the notebook's parameters cell; return the full set."""
    defaults = nbs.parameters(ref)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for {ref.key}; valid: "
                         f"{', '.join(sorted(defaults))}")
    return {**defaults, **given}


def _strip_run_metadata(nb) -> None:
    """Remove per-run metadata (timestamps, durations) so twins diff only on real changes."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)


def execute(ref: nbs.NotebookRef, output: Path, parameters: dict | None = None,
            progress: bool = True, log_output: bool = False):
    """Execute ``ref``'s source with papermill into ``output``; return the executed notebook."""
    import jupytext
    import nbformat
    import papermill

    nb = jupytext.read(ref.source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(nb, str(output), parameters=parameters or {}, kernel_name="python3",
                               language="python", cwd=str(ref.source.parent), progress_bar=progress,
                               log_output=log_output)
    executed = nbformat.read(output, as_version=4)
    _strip_run_metadata(executed)
    nbformat.write(executed, output)
    return executed


def run(target: str, scale: str = "smoke", seed: int = 0, device: str | None = None,
        params: dict | None = None, record: bool = True, progress: bool = True,
        book: Path = nbs.BOOK, runs: Path = RUNS) -> list[Path]:
    """Run every notebook of ``target`` (``CHAPTER`` or ``CHAPTER/NOTEBOOK``); return record paths.

    A record is written only after the notebook finished without error, and atomically.
    """
    check_scale(scale)
    refs = nbs.resolve(target, book)
    if not refs:
        raise ValueError(f"{target} has no notebooks")
    written = []
    for ref in refs:
        given = {"scale": scale, "seed": seed, **(params or {})}
        if device is not None:
            given["device"] = device
        full = check_parameters(ref, given)
        out = runs / ref.chapter / f"{ref.name}-{scale}-seed{seed}.ipynb"
        old = os.environ.get(METRICS_ENV)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="reprobook-") as tmp:
            metrics_file = Path(tmp) / "metrics.json"          # report() in the kernel writes here
            os.environ[METRICS_ENV] = str(metrics_file)
            try:
                print(f"running {ref.key} at scale={scale} seed={seed} -> {out}")
                execute(ref, out, given, progress=progress)
                wall = time.perf_counter() - t0
                metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
            finally:
                if old is None:
                    os.environ.pop(METRICS_ENV, None)
                else:
                    os.environ[METRICS_ENV] = old
        if record:
            path = record_path(ref.chapter, ref.name, scale, seed)
            write_json_atomic(path, make_record(ref.chapter, ref.name, scale, seed, full, metrics,
                                                wall, device, _rel(out)))
            print(f"  {len(metrics)} metrics in {wall:.1f} s -> {path}")
            written.append(path)
    return written


def golden(target: str | None = None, progress: bool = True, book: Path = nbs.BOOK) -> list[Path]:
    """Regenerate the executed smoke twins (seed 0, default parameters) of ``target`` or all."""
    refs = nbs.resolve(target, book) if target else nbs.notebooks(book=book)
    done = []
    for ref in refs:
        t0 = time.perf_counter()
        # executed under runs/ first: a failed run keeps the old twin and leaves the partial one there
        partial = RUNS / ref.chapter / f"{ref.name}-golden.ipynb"
        execute(ref, partial, None, progress=progress)
        shutil.move(partial, ref.twin)
        print(f"{ref.key}: twin regenerated in {time.perf_counter() - t0:.1f} s")
        done.append(ref.twin)
    return done


def twin_mismatches(ref: nbs.NotebookRef) -> list[str]:
    """Differences between a twin's cells and its source's (empty when in sync)."""
    import jupytext
    import nbformat

    if not ref.twin.exists():
        return [f"{_rel(ref.twin)} is missing: run `make golden`"]
    src = jupytext.read(ref.source)
    twin = nbformat.read(ref.twin, as_version=4)
    a = [(c.cell_type, c.source.strip()) for c in src.cells]
    b = [(c.cell_type, c.source.strip()) for c in twin.cells]
    if a == b:
        return []
    problems = [f"{ref.key}: {len(a)} cells in the source, {len(b)} in the twin"] if len(a) != len(b) else []
    for k, (x, y) in enumerate(zip(a, b)):
        if x != y:
            problems.append(f"{ref.key}: cell {k} ({x[0]}) differs from the twin; run `make golden`")
    return problems
