"""Notebook regression that holds on any CPU: trained numbers within measured tolerances.

nbval re-executes each executed smoke twin and compares its outputs with the committed ones.
Outputs that do not pass through training compare exactly. Numbers that do (a probe's
accuracy, the losses of a trained encoder) differ in their last bits between CPUs, instruction
sets and thread counts, and a minute of SGD turns that into a point of accuracy. Those numbers
are reported through :func:`reprobook.run.report` and :func:`reprobook.run.table`, which put
them into the outputs' metadata; this module compares them one by one:

* a **quantity** is a reported metric (``probe_acc``) or a column of a shown table
  (``results.probe_acc``, every row of it);
* its **tolerance** lives in ``book/<chapter>/tolerances.json`` under the notebook's name,
  measured by ``reprobook tolerances <chapter>`` from the quantity's spread under perturbed
  numerics (:mod:`reprobook.run.spread`); a quantity without an entry compares exactly, and
  ``"any"`` marks a derived label (a ranking, the best of a grid) that may legitimately flip;
* everything else in the output (labels, index, columns, key order, other outputs) compares
  exactly, through nbval.

``check_outputs`` is the whole comparison of one cell; ``reprobook.run.nbval_plugin`` hands it
to nbval.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .report import GLUE_PREFIX, METADATA_KEY, load_notebook

TOLERANCES_FILE = "tolerances.json"
ANY = "any"                       # a derived label that may legitimately change
CHECKED = "<checked by reprobook.run.regression within tolerances>"


# ---------------------------------------------------------------- tolerances on disk

def tolerances_path(notebook: Path) -> Path:
    """``book/<chapter>/tolerances.json`` for ``book/<chapter>/<name>.ipynb`` (or its source)."""
    return Path(notebook).parent / TOLERANCES_FILE


def load_tolerances(notebook: Path) -> dict:
    """``{quantity: tolerance}`` for one notebook; empty when the chapter has none measured."""
    path = tolerances_path(notebook)
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text())["notebooks"].get(Path(notebook).stem, {})
    except (json.JSONDecodeError, KeyError, AttributeError) as e:
        raise ValueError(f"{path} is not a tolerances file ({e}); regenerate it with "
                         f"`reprobook tolerances {path.parent.name}`") from None
    out = {}
    for quantity, entry in entries.items():
        tol = entry["tol"] if isinstance(entry, dict) else entry
        if not (tol == ANY or (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol >= 0)):
            raise ValueError(f"{path}: tolerance of {quantity!r} must be a number >= 0 or "
                             f"{ANY!r}, got {tol!r}")
        out[quantity] = tol
    return out


# ---------------------------------------------------------------- what an output reports

def _metadata(output) -> dict:
    return (output.get("metadata") or {}).get(METADATA_KEY) or {}


def _glue_name(output):
    scrap = (output.get("metadata") or {}).get("scrapbook") or {}
    data = output.get("data") or {}
    if scrap.get("name") and GLUE_PREFIX + "text/plain" in data:
        return scrap["name"]
    return None


def quantities(outputs) -> dict:
    """Every checked number of a cell's outputs: ``{quantity: [values]}`` (a list per row)."""
    found: dict = {}
    for out in outputs:
        meta = _metadata(out)
        for k, v in (meta.get("metrics") or {}).items():
            found[k] = [v]
        tab = meta.get("table")
        if tab:
            for j, col in enumerate(tab["columns"]):
                found[f"{tab['name']}.{col}"] = [row[j] for row in tab["values"]]
    return found


def notebook_quantities(nb) -> dict:
    """``{quantity: [values]}`` over every cell of an executed notebook (node or path)."""
    found: dict = {}
    for cell in load_notebook(nb)["cells"]:
        for name, values in quantities(cell.get("outputs", [])).items():
            if name in found:       # one tolerance, one record entry per name: names must be unique
                raise ValueError(f"{name} is reported twice in the notebook (report/table); give each a "
                                 f"name of its own")
            found[name] = values
    return found


# ---------------------------------------------------------------- comparison

@dataclass
class Mismatch:
    where: str              # "book/03-hypersphere/02-hypersphere-plots.ipynb, cell 8"
    quantity: str
    twin: object
    new: object
    tol: object
    row: str | None = None

    def __str__(self) -> str:
        what = self.quantity + (f" [row {self.row}]" if self.row is not None else "")
        if self.tol is None:
            rule = "must equal the twin exactly (no tolerance measured for it)"
        else:
            rule = f"allowed |difference| <= {self.tol}"
        diff = ""
        if _is_number(self.twin) and _is_number(self.new):
            diff = f", |difference| {abs(self.new - self.twin):.4g}"
        return f"{self.where}: {what}: twin {self.twin!r}, new {self.new!r}{diff}; {rule}"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _parse(text: str):
    """A glued value back into a number when it is one."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def values_agree(twin, new, tol) -> bool:
    if tol == ANY:
        return True
    if isinstance(twin, bool) or isinstance(new, bool):      # labels, not numbers
        return type(twin) is type(new) and twin == new
    if twin == new:
        return True                                          # also equal infinities
    if _is_number(twin) and _is_number(new):
        if math.isnan(twin) or math.isnan(new):
            return math.isnan(twin) and math.isnan(new)
        if tol is None:
            return twin == new
        return abs(new - twin) <= tol + 1e-9 * max(1.0, abs(twin))
    return twin == new


def _structure(output) -> dict:
    """What must match exactly besides the values: kind, name, keys, index, columns."""
    meta = _metadata(output)
    if meta.get("metrics") is not None:
        return {"metrics": sorted(meta["metrics"])}     # nbformat stores metadata keys sorted
    tab = meta["table"]
    return {"table": tab["name"], "index": tab["index"], "columns": tab["columns"]}


def _placeholder(output):
    """The output with its data replaced: its values were checked here, nbval checks the rest."""
    from nbformat import NotebookNode

    out = NotebookNode(output)                 # nbval reads outputs by attribute
    out["data"] = NotebookNode({"text/plain": CHECKED})
    return out


def check_outputs(ref_outputs, test_outputs, tolerances: dict, where: str):
    """Compare one cell's reported numbers; return ``(mismatches, ref_rest, test_rest)``.

    ``ref_rest`` / ``test_rest`` are the outputs with the checked data replaced by a
    placeholder, for nbval's exact comparison of everything else (including how many outputs
    there are of each kind).
    """
    problems: list = []
    ref_rest = [_placeholder(o) if (_metadata(o) or _glue_name(o)) else o for o in ref_outputs]
    test_rest = [_placeholder(o) if (_metadata(o) or _glue_name(o)) else o for o in test_outputs]

    ref_rep = [o for o in ref_outputs if _metadata(o).keys() & {"metrics", "table"}]
    test_rep = [o for o in test_outputs if _metadata(o).keys() & {"metrics", "table"}]
    if len(ref_rep) != len(test_rep):
        problems.append(f"{where}: the twin has {len(ref_rep)} reported outputs (report/table), "
                        f"the new run {len(test_rep)}")
        return problems, ref_rest, test_rest
    for ref, test in zip(ref_rep, test_rep):
        if _structure(ref) != _structure(test):
            problems.append(f"{where}: reported output differs in its structure:\n  twin {_structure(ref)}\n"
                            f"  new  {_structure(test)}")
            continue
        twin_q, new_q = quantities([ref]), quantities([test])
        index = _metadata(ref).get("table", {}).get("index")          # row labels of a table
        for quantity, twin_values in twin_q.items():
            tol = tolerances.get(quantity)                              # None: exact
            for k, (a, b) in enumerate(zip(twin_values, new_q[quantity])):
                if not values_agree(a, b, tol):
                    problems.append(Mismatch(where, quantity, a, b, tol, index[k] if index else None))

    ref_glue = [(_glue_name(o), o["data"][GLUE_PREFIX + "text/plain"]) for o in ref_outputs if _glue_name(o)]
    test_glue = [(_glue_name(o), o["data"][GLUE_PREFIX + "text/plain"]) for o in test_outputs if _glue_name(o)]
    if [n for n, _ in ref_glue] != [n for n, _ in test_glue]:
        problems.append(f"{where}: glued names differ: twin {[n for n, _ in ref_glue]}, "
                        f"new {[n for n, _ in test_glue]}")
    else:
        said = {p.quantity for p in problems if isinstance(p, Mismatch)}   # glue repeats a metric
        for (name, a), (_, b) in zip(ref_glue, test_glue):
            tol = tolerances.get(name)
            if name not in said and not values_agree(_parse(a), _parse(b), tol):
                problems.append(Mismatch(where + " (glue)", name, _parse(a), _parse(b), tol))
    return [str(p) for p in problems], ref_rest, test_rest
