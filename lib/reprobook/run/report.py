"""What a notebook reports: metrics for the results record, the book's tables and glue.

``report(acc=91.234, ...)`` in a notebook

* prints the metrics rounded (what nbval compares),
* glues each one (``{glue:text}`name``` in the notebook's prose shows it),
* stores them in the output's metadata under ``reprobook.metrics`` (what the chapter's results
  table reads from the executed smoke twin), and
* when run by ``reprobook run``, merges them into the file named by ``$REPROBOOK_METRICS``,
  from which the runner writes the results record.

``table(df, "results")`` shows a table of (trained) numbers the same way: the rounded values
travel in the output's metadata, so the notebook regression (``reprobook.run.regression``)
compares them column by column within the chapter's measured tolerances instead of as text.
"""
from __future__ import annotations

import json
import numbers
import os
from pathlib import Path

METADATA_KEY = "reprobook"
GLUE_PREFIX = "application/papermill.record/"   # myst-nb's glue format
METRICS_ENV = "REPROBOOK_METRICS"


def _rounded(value, digits: int):
    if isinstance(value, float):
        return round(value, digits)
    return value


def _display(bundle: dict, metadata: dict | None = None) -> None:
    try:
        from IPython.display import display
    except ImportError:   # plain Python: nothing to show
        return
    display(bundle, raw=True, metadata=metadata or {})


def report(digits: int = 2, **metrics) -> dict:
    """Report named scalar metrics (numbers or short strings); returns them rounded."""
    for k, v in metrics.items():
        if not isinstance(v, (int, float, str, bool)):
            try:
                metrics[k] = float(v)    # tensors, numpy scalars
            except (TypeError, ValueError):
                raise TypeError(f"metric {k!r} must be a number or string, got {type(v).__name__}") from None
    rounded = {k: _rounded(v, digits) for k, v in metrics.items()}
    width = max((len(k) for k in rounded), default=0)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in rounded.items())
    _display({"text/plain": text}, {METADATA_KEY: {"metrics": rounded}})
    for k, v in rounded.items():
        _display({GLUE_PREFIX + "text/plain": str(v)},
                 {"scrapbook": {"name": k, "mime_prefix": GLUE_PREFIX}})
    target = os.environ.get(METRICS_ENV)
    if target:
        path = Path(target)
        existing = json.loads(path.read_text()) if path.exists() else {}
        existing.update(metrics)
        path.write_text(json.dumps(existing, indent=1))
    return rounded


def _cell(value, digits: int):
    """A table entry as JSON: rounded floats, NaN as None, integers and text as they are."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return None if f != f else round(f, digits)
    return str(value)


def table(frame, name: str, digits: int = 3) -> None:
    """Show a pandas DataFrame or Series of numbers rounded to ``digits`` (returns nothing, so
    that a cell ending in ``table(...)`` shows the table once).

    The output carries the values under ``reprobook.table`` in its metadata: index and columns
    are compared exactly by the notebook regression, numeric columns within the tolerance
    measured for ``<name>.<column>`` (see ``book/<chapter>/tolerances.json``).
    """
    import pandas as pd

    if not name.isidentifier():
        raise ValueError(f"table name must be an identifier, got {name!r}")
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(frame.name if frame.name is not None else "value")
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table() takes a pandas DataFrame or Series, got {type(frame).__name__}")
    shown = frame.round(digits)
    meta = {"name": name,
            "index": [str(i) for i in shown.index],
            "columns": [str(c) for c in shown.columns],
            "values": [[_cell(v, digits) for v in row] for row in shown.itertuples(index=False)]}
    try:
        from IPython.core.formatters import format_display_data
    except ImportError:   # plain Python: nothing to show
        return
    data, _ = format_display_data(shown)
    _display(data, {METADATA_KEY: {"table": meta}})


def metrics_from_notebook(nb) -> dict:
    """All metrics a notebook (an executed ``nbformat`` node or path) reported, merged."""
    if isinstance(nb, (str, os.PathLike)):
        nb = json.loads(Path(nb).read_text())
    found: dict = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            found.update(out.get("metadata", {}).get(METADATA_KEY, {}).get("metrics", {}))
    return found
