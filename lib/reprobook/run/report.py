"""What a notebook reports: metrics for the results record, the book's tables and glue.

``report(acc=91.234, ...)`` in a notebook

* prints the metrics rounded (what nbval compares),
* glues each one (``{glue:text}`name``` in the notebook's prose shows it),
* stores them in the output's metadata under ``reprobook.metrics`` (what the chapter's results
  table reads from the executed smoke twin), and
* when run by ``reprobook run``, merges them into the file named by ``$REPROBOOK_METRICS``,
  from which the runner writes the results record.

``report_figure("circle", fig)`` shows a key figure (instead of ``plt.show()``) and registers it:
the output carries its name, so the chapter page can show the smoke twin's figure, and under
``reprobook run`` the PNG is saved beside the metrics so that the results record of a
``short``/``paper`` run keeps it (``results/<chapter>/<notebook>/<scale>-seed<k>-<name>.png``).

``table(df, "results")`` shows a table of (trained) numbers the same way: the rounded values
travel in the output's metadata, so the notebook regression (``reprobook.run.regression``)
compares them column by column within the chapter's measured tolerances instead of as text.
"""
from __future__ import annotations

import base64
import io
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


FIGURE_DPI = 110


def figures_dir() -> Path | None:
    """Where ``reprobook run`` collects the figures of the notebook it runs (None otherwise)."""
    target = os.environ.get(METRICS_ENV)
    return Path(target).parent / "figures" if target else None


def report_figure(name: str, fig=None) -> None:
    """Show ``fig`` (default: the current figure) as a key figure of the notebook named ``name``,
    then close it; use it instead of ``plt.show()``."""
    import matplotlib.pyplot as plt

    if not name.isidentifier():
        raise ValueError(f"figure name must be an identifier, got {name!r}")
    fig = plt.gcf() if fig is None else fig
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    png = buffer.getvalue()
    folder = figures_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.png").write_bytes(png)
    width, height = fig.get_size_inches() * FIGURE_DPI
    _display({"image/png": base64.b64encode(png).decode(),
              "text/plain": f"<Figure size {int(width)}x{int(height)} with {len(fig.axes)} Axes>"},
             {METADATA_KEY: {"figure": name}})
    plt.close(fig)


def load_notebook(nb):
    """An executed notebook given as a node (returned as is) or a path (read as JSON)."""
    if isinstance(nb, (str, os.PathLike)):
        return json.loads(Path(nb).read_text())
    return nb


def figure_from_notebook(nb, name: str) -> bytes | None:
    """The PNG of the key figure ``name`` in an executed notebook (node or path), or None."""
    for cell in load_notebook(nb)["cells"]:
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get(METADATA_KEY, {}).get("figure") == name:
                data = out["data"]["image/png"]
                return base64.b64decode("".join(data) if isinstance(data, list) else data)
    return None


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
    found: dict = {}
    for cell in load_notebook(nb)["cells"]:
        for out in cell.get("outputs", []):
            found.update(out.get("metadata", {}).get(METADATA_KEY, {}).get("metrics", {}))
    return found
