"""The book's one matplotlib style: call ``use_style()`` once at the top of a notebook."""
from __future__ import annotations

import matplotlib as mpl

#: colours used across chapters, one per method/objective so the same method keeps its colour
PALETTE = {
    "random": "#9e9e9e",
    "supervised": "#1f77b4",
    "contrastive": "#d62728",
    "align_uniform": "#2ca02c",
    "simclr": "#ff7f0e",
    "supcon": "#9467bd",
    "cross_entropy": "#1f77b4",
}
#: a qualitative cycle for classes (10 well separated colours)
CLASS_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "figure.figsize": (6.4, 4.0),
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "semibold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(color=CLASS_COLORS),
    "svg.hashsalt": "reprobook",          # deterministic SVG ids
}


def use_style() -> None:
    """Apply the book's style (idempotent)."""
    mpl.rcParams.update(STYLE)


def method_color(name: str) -> str:
    return PALETTE.get(name, "#333333")
