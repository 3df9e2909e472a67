"""Measure how far each reported number moves under perturbed numerics; write the tolerances.

``reprobook tolerances CHAPTER[/NOTEBOOK]`` executes the notebook sources at smoke scale under
several numeric configurations of the same code (thread counts, instruction sets, MKL's
conditional-numerical-reproducibility mode), stores each run's reported quantities under
``runs/spread/``, and writes ``book/<chapter>/tolerances.json``:

* a quantity whose value never moves keeps no entry: it compares exactly;
* a number that moves gets ``tol = |twin − mean| + 4 sd`` of the values seen (the twin's and
  the perturbed runs'), at least 1.5 × the largest deviation from the twin seen and the printed
  resolution, rounded up to two significant digits (for a table column: the largest over rows);
* a label that moves (a ranking, the argmax of a grid) gets ``"any"``.

Entries marked ``"manual": true`` by an author are kept as they are.
"""
from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from ..paths import RUNS
from . import notebooks as nbs
from .records import git_state, write_json_atomic
from .regression import ANY, TOLERANCES_FILE, _is_number, notebook_quantities

# Numeric configurations of the same code. They change the order of floating-point reductions
# (oneDNN / MKL / ATen kernels and their parallel split), never the algorithm.
CONFIGURATIONS: dict[str, dict[str, str]] = {
    "default": {},
    "threads1": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "avx2-threads1": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2",
                      "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"},
}
#: measured by default: "default" is the twin's own configuration (it adds nothing on the machine
#: that wrote the twins; name it to include a run as is on another machine)
PERTURBED = [c for c in CONFIGURATIONS if c != "default"]
MARGIN_SD = 4.0              # the twin's distance from the mean + 4 sd of all values seen (twin included)
MARGIN_DEVIATION = 1.5       # and at least 1.5 × the largest deviation from the twin seen
OBSERVATIONS = RUNS / "spread"


def observation_path(ref: nbs.NotebookRef, config: str, root: Path = OBSERVATIONS) -> Path:
    return root / ref.chapter / ref.name / f"{config}.json"


def observe(ref: nbs.NotebookRef, config: str, root: Path = OBSERVATIONS) -> dict:
    """Execute ``ref`` at smoke scale under ``config``; store and return its quantities."""
    from .runner import environment, execute

    if config not in CONFIGURATIONS:
        raise ValueError(f"unknown configuration {config!r}; valid: {', '.join(CONFIGURATIONS)}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reprobook-spread-") as tmp, environment(CONFIGURATIONS[config]):
        executed = execute(ref, Path(tmp) / f"{ref.name}.ipynb", None, progress=False)
    found = notebook_quantities(executed)
    obs = {"notebook": ref.key, "configuration": config, "env": CONFIGURATIONS[config],
           "seconds": round(time.perf_counter() - t0, 1), "quantities": found}
    write_json_atomic(observation_path(ref, config, root), obs)
    return obs


def _decimals(v) -> int:
    """Decimal places of a printed (rounded) value: 40.4 -> 1, 1e-05 -> 5, 40.0 -> 1."""
    return max(0, -Decimal(repr(float(v))).as_tuple().exponent)


def _round_up(x: float) -> float:
    """Round up to two significant digits (0.0432 -> 0.044, 2.11 -> 2.2)."""
    if x <= 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(x)) - 1)
    return round(math.ceil(x / step - 1e-9) * step, 12)


def tolerance(twin: list, seen: list[list]):
    """The tolerance of one quantity from the twin's values and those seen under perturbation.

    ``None`` (exact) when nothing moved, ``"any"`` when a label moved, else a number.
    """
    moved = any(len(v) != len(twin) or any(a != b and not (a is None and b is None) for a, b in zip(twin, v))
                for v in seen)
    if not moved:
        return None
    numeric = all(_is_number(x) or x is None for v in [twin, *seen] for x in v)
    if not numeric or any(len(v) != len(twin) for v in seen):
        return ANY
    if any([x is None for x in v] != [x is None for x in twin] for v in seen):
        return ANY                                         # a NaN (None) that comes and goes: a label
    needed = 0.0
    for twin_value, *others in zip(twin, *seen):          # one table row (or the metric) at a time
        if twin_value is None:
            continue                                       # NaN in every run: compared exactly
        values = [twin_value, *others]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1))
        deviation = max(abs(x - twin_value) for x in others)
        needed = max(needed, abs(twin_value - mean) + MARGIN_SD * sd, MARGIN_DEVIATION * deviation)
    resolution = 10.0 ** -max((_decimals(x) for v in [twin, *seen] for x in v if x is not None), default=0)
    return _round_up(max(needed, resolution))


def measure(ref: nbs.NotebookRef, observations: dict[str, dict], twin: dict) -> dict:
    """``{quantity: entry}`` for the quantities of ``ref`` that moved."""
    entries = {}
    for quantity, twin_values in sorted(twin.items()):
        seen = {c: o["quantities"].get(quantity) for c, o in observations.items()}
        missing = [c for c, v in seen.items() if v is None]
        if missing:
            raise ValueError(f"{ref.key}: {quantity} was not reported under {', '.join(missing)}")
        tol = tolerance(twin_values, list(seen.values()))
        if tol is None:
            continue
        one = len(twin_values) == 1
        entries[quantity] = {"tol": tol, "twin": twin_values[0] if one else twin_values,
                             "seen": {c: (v[0] if one else v) for c, v in seen.items()}}
    return entries


def write_tolerances(chapter: str, measured: dict[str, dict], configs: list[str],
                     book: Path = nbs.BOOK) -> Path:
    """Merge ``{notebook: entries}`` into ``book/<chapter>/tolerances.json`` (manual entries kept)."""
    path = book / chapter / TOLERANCES_FILE
    old = json.loads(path.read_text()) if path.exists() else {}
    notebooks = dict(old.get("notebooks", {}))
    for name, entries in measured.items():
        manual = {q: e for q, e in notebooks.get(name, {}).items() if isinstance(e, dict) and e.get("manual")}
        notebooks[name] = {**entries, **manual}
    import torch

    doc = {
        "about": ("Tolerances of the trained numbers of this chapter's smoke notebooks, for the notebook "
                  "regression (reprobook.run.regression). Written by `reprobook tolerances CHAPTER` from "
                  "each number's spread under the numeric configurations below: tol = |twin - mean| + 4 sd "
                  "of the values seen (twin included), at least 1.5 x the largest deviation from the twin "
                  "and the printed resolution, rounded up to two significant digits (table columns: the "
                  "largest over rows). A number without an entry did not move and compares exactly; "
                  "'any' marks a label that moved. Entries with \"manual\": true are kept when re-measured."),
        "measured": {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "commit": git_state()["commit"], "machine": platform.processor() or platform.machine(),
                     "cpus": os.cpu_count(), "torch": torch.__version__,
                     "configurations": {c: CONFIGURATIONS[c] for c in configs}},
        "notebooks": dict(sorted(notebooks.items())),
    }
    return write_json_atomic(path, doc)


def run_spread(target: str, configs: list[str] | None = None, execute: bool = True,
               book: Path = nbs.BOOK, root: Path = OBSERVATIONS) -> list[Path]:
    """Observe (unless ``execute`` is False: reuse stored observations) and write tolerances."""
    configs = configs or PERTURBED
    unknown = [c for c in configs if c not in CONFIGURATIONS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {', '.join(unknown)}; valid: {', '.join(CONFIGURATIONS)}")
    refs = nbs.resolve(target, book)
    by_chapter: dict[str, dict] = {}
    for ref in refs:
        observations = {}
        for config in configs:
            path = observation_path(ref, config, root)
            if execute:
                print(f"{ref.key}: executing under {config} {CONFIGURATIONS[config] or '(as is)'}", flush=True)
                observations[config] = observe(ref, config, root)
                print(f"  {observations[config]['seconds']} s", flush=True)
            elif path.exists():
                observations[config] = json.loads(path.read_text())
        if not observations:
            raise ValueError(f"{ref.key}: no stored observations under {root}; run without --reuse first")
        if not ref.twin.exists():
            raise ValueError(f"{ref.twin} is missing: run `make golden` first")
        twin = notebook_quantities(ref.twin)
        by_chapter.setdefault(ref.chapter, {})[ref.name] = measure(ref, observations, twin)
        for q, e in by_chapter[ref.chapter][ref.name].items():
            print(f"  {q}: tol {e['tol']}  twin {e['twin']}  seen {e['seen']}")
    return [write_tolerances(ch, measured, configs, book) for ch, measured in by_chapter.items()]
