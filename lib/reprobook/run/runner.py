"""Execute a notebook at a scale: jupytext -> papermill -> executed notebook + results record."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..paths import REPO_ROOT, RUNS
from . import notebooks as nbs
from .records import make_record, record_path, variant_of, variant_tag, write_json_atomic
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


DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
OWN_FLAGS = {"scale": "--scale", "seed": "--seed"}


def _kind(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(type(value),
                                                                                         type(value).__name__)


def check_parameters(ref: nbs.NotebookRef, given: dict) -> dict:
    """Validate overrides against the notebook's parameters cell; return the full set.

    Checked before any kernel starts: names, types (those of the cell's literals; an integer
    passes for a number), the options a parameter declares (``# one of: ...``), ``seed >= 0``,
    a known scale, and a device that exists. Every error names the parameter and what is valid.
    """
    defaults = nbs.parameters(ref)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for {ref.key}; valid: "
                         f"{', '.join(sorted(defaults))}")
    choices = nbs.parameter_choices(ref)
    for name, value in given.items():
        default = defaults[name]
        same = type(value) is type(default) or (type(default) is float and type(value) is int)
        if not same:
            raise ValueError(f"parameter {name} of {ref.key} must be {_kind(default)} (default {default!r}), "
                             f"got {value!r}")
        if name in choices and value not in choices[name]:
            raise ValueError(f"parameter {name}={value!r} of {ref.key} is not valid; valid: "
                             f"{', '.join(map(str, choices[name]))}")
    full = {**defaults, **given}
    if "scale" in full:
        check_scale(full["scale"])
    if "seed" in full and full["seed"] < 0:
        raise ValueError(f"parameter seed must be an integer >= 0, got {full['seed']}")
    if "device" in given:
        check_device(given["device"])
    return full


def check_device(device: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``, and CUDA must be there when asked for."""
    if not isinstance(device, str) or not DEVICE_RE.match(device):
        raise ValueError(f"parameter device={device!r} is not valid; valid: auto, cpu, cuda, cuda:N")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for but CUDA is not available here "
                             f"(torch {torch.__version__}); use device=cpu or auto")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device


@contextmanager
def environment(settings: dict[str, str]):
    """Set environment variables for the kernels started inside (they inherit them)."""
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def absolute_data_path(value: str | None = None) -> str | None:
    """``$REPROBOOK_DATA`` with every folder made absolute against the caller's working
    directory (the kernel runs in the notebook's folder, where a relative path means else)."""
    value = os.environ.get("REPROBOOK_DATA") if value is None else value
    if not value:
        return value
    return os.pathsep.join(str(Path(p).expanduser().resolve()) for p in value.split(os.pathsep) if p)


# the kernel's own chatter ("running over TCP without encryption", "KeyboardInterrupt caught in
# kernel" when a failed run is shut down) says nothing about the notebook
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


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
    data = absolute_data_path()
    with environment({"REPROBOOK_DATA": data} if data else {}):
        papermill.execute_notebook(nb, str(output), parameters=parameters or {}, kernel_name="python3",
                                   language="python", cwd=str(ref.source.parent), progress_bar=progress,
                                   log_output=log_output, extra_arguments=KERNEL_ARGUMENTS)
    executed = nbformat.read(output, as_version=4)
    _strip_run_metadata(executed)
    nbformat.write(executed, output)
    return executed


def _executed_path(runs: Path, ref: nbs.NotebookRef, scale: str, seed: int, variant: dict) -> Path:
    return runs / ref.chapter / f"{ref.name}-{scale}-seed{seed}{variant_tag(variant)}.ipynb"


def plan(target: str, scale: str = "smoke", seed: int = 0, device: str | None = None,
         params: dict | None = None, book: Path = nbs.BOOK) -> list[tuple[nbs.NotebookRef, dict, dict]]:
    """Resolve and validate a run before anything executes: ``[(ref, parameters, variant)]``."""
    params = dict(params or {})
    for name, flag in OWN_FLAGS.items():
        if name in params:
            raise ValueError(f"set {name} with {flag}, not with -p {name}=...: the record is named after "
                             f"{flag} (one source of truth)")
    refs = nbs.resolve(target, book)
    if not refs:
        raise ValueError(f"{target} has no notebooks")
    planned = []
    for ref in refs:
        given = {"scale": scale, "seed": seed, **params}
        if device is not None:
            given["device"] = device
        full = check_parameters(ref, given)
        planned.append((ref, full, variant_of(full, nbs.parameters(ref))))
    return planned


def run(target: str, scale: str = "smoke", seed: int = 0, device: str | None = None,
        params: dict | None = None, record: bool = True, progress: bool = True,
        book: Path = nbs.BOOK, runs: Path = RUNS) -> list[Path]:
    """Run every notebook of ``target`` (``CHAPTER`` or ``CHAPTER/NOTEBOOK``); return record paths.

    Everything is validated before the first kernel starts. A notebook executes into a
    temporary name and replaces the executed notebook of an earlier run only on success (a
    failed one is kept as ``<name>.failed.ipynb``); its record is then written atomically.
    """
    written = []
    for ref, full, variant in plan(target, scale, seed, device, params, book):
        out = _executed_path(runs, ref, scale, seed, variant)
        running = out.with_name(out.stem + ".running.ipynb")
        failed = out.with_name(out.stem + ".failed.ipynb")
        shown = ", ".join(f"{k}={v}" for k, v in variant.items())
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="reprobook-") as tmp:
            metrics_file = Path(tmp) / "metrics.json"          # report() in the kernel writes here
            print(f"running {ref.key} at scale={full.get('scale', scale)} seed={full.get('seed', seed)}"
                  + (f" ({shown})" if shown else "") + f" -> {_rel(out)}", flush=True)
            try:
                with environment({METRICS_ENV: str(metrics_file)}):
                    execute(ref, running, full, progress=progress)
            except KeyboardInterrupt:
                running.unlink(missing_ok=True)
                raise
            except BaseException:
                if running.exists():
                    os.replace(running, failed)
                raise
            os.replace(running, out)
            failed.unlink(missing_ok=True)
            wall = time.perf_counter() - t0
            metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
            if record:
                path = record_path(ref.chapter, ref.name, scale, seed, variant)
                figures = {}
                for png in sorted((Path(tmp) / "figures").glob("*.png")):   # report_figure() wrote these
                    target = path.with_name(f"{path.stem}-{png.stem}.png")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(png, target)
                    figures[png.stem] = target.name
                write_json_atomic(path, make_record(ref.chapter, ref.name, scale, seed, full, metrics,
                                                    wall, device, _rel(out), variant, figures))
                print(f"  {len(metrics)} metrics, {len(figures)} figures in {wall:.1f} s -> {_rel(path)}")
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
