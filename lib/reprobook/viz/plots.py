"""Every plot helper of the book. Each takes ``ax=None`` (a new figure when None) and returns ``ax``."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .style import CLASS_COLORS, method_color


def _ax(ax, figsize=None, **kw):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, **kw)
    return ax


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


# ---------------------------------------------------------------- generic
def plot_history(history: Sequence[Mapping], keys: Sequence[str] = ("loss",), ax=None, label: str | None = None,
                 color: str | None = None):
    """Per-epoch curves of ``keys`` from a training history (``TrainResult.history``)."""
    ax = _ax(ax)
    epochs = [h["epoch"] for h in history]
    for k in keys:
        lbl = k if label is None else (label if len(keys) == 1 else f"{label}: {k}")
        ax.plot(epochs, [h[k] for h in history], marker="o", ms=3, label=lbl, color=color)
    ax.set_xlabel("epoch")
    ax.set_ylabel(keys[0] if len(keys) == 1 else "value")
    ax.legend()
    return ax


def show_images(images, labels=None, classes: Sequence[str] | None = None, ncols: int = 8, ax=None,
                mean=None, std=None, title: str | None = None):
    """A grid of images ``(N, 3, H, W)`` (uint8, or float normalised with ``mean``/``std``)."""
    x = _np(images).astype(np.float32)
    if mean is not None:
        x = x * np.asarray(std, np.float32).reshape(1, 3, 1, 1) + np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    elif x.max() > 1.5:
        x = x / 255.0
    x = np.clip(x, 0, 1).transpose(0, 2, 3, 1)
    n, h, w, _ = x.shape
    nrows = -(-n // ncols)
    grid = np.ones((nrows * (h + 2), ncols * (w + 2), 3), np.float32)
    for k in range(n):
        r, c = divmod(k, ncols)
        grid[r * (h + 2) + 1:r * (h + 2) + 1 + h, c * (w + 2) + 1:c * (w + 2) + 1 + w] = x[k]
    ax = _ax(ax, figsize=(ncols * 0.8, nrows * 0.8 + 0.3))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if labels is not None and classes is not None:
        names = [classes[int(l)] for l in _np(labels)]
        for k, name in enumerate(names):
            r, c = divmod(k, ncols)
            ax.text(c * (w + 2) + w / 2, r * (h + 2) + h + 1, name, ha="center", va="top", fontsize=6)
    return ax


def bar_compare(values: Mapping[str, float], ax=None, ylabel: str = "", reference: Mapping[str, float] | None = None,
                fmt: str = "{:.1f}", labels: Mapping[str, str] | None = None):
    """Bars of ``values`` per method (coloured by method, tick ``labels[name]`` if given), with
    optional reference markers."""
    ax = _ax(ax)
    names = list(values)
    xs = np.arange(len(names))
    bars = ax.bar(xs, [values[n] for n in names], color=[method_color(n) for n in names], width=0.6)
    for b, n in zip(bars, names):
        ax.annotate(fmt.format(values[n]), (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
    if reference:
        for x, n in zip(xs, names):
            if n in reference:
                ax.plot([x - 0.3, x + 0.3], [reference[n]] * 2, color="k", lw=1.5, ls="--")
    ax.set_xticks(xs, [(labels or {}).get(n, n.replace("_", " ")) for n in names])
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)
    return ax


# ---------------------------------------------------------------- hypersphere (chapter 03)
def von_mises_kde(angles, grid, kappa: float = 16.0) -> np.ndarray:
    r"""Density on the circle: :math:`\hat p(\theta) = \frac{1}{n}\sum_i
    \frac{e^{\kappa\cos(\theta-\theta_i)}}{2\pi I_0(\kappa)}` (von Mises kernel)."""
    angles, grid = _np(angles)[None, :], np.asarray(grid)[:, None]
    # exp(kappa (cos - 1)) / (2 pi I0(kappa) e^{-kappa}): stable for large kappa
    log_norm = np.log(2 * np.pi * np.i0(kappa)) - kappa
    return np.exp(kappa * (np.cos(grid - angles) - 1) - log_norm).mean(axis=1)


def plot_circle_density(z2, ax=None, title: str | None = None, kappa: float = 16.0, color: str = "#333333",
                        points: bool = True, labels=None):
    """Features ``(N, 2)`` on S^1 drawn as a ring coloured by their von Mises KDE density
    (the paper's Fig. 3, top row), with the samples as dots inside the ring (at a random radius,
    fixed per sample, so that dense arcs look dense), coloured by class when ``labels`` given.
    The ring fades from white (no density) to ``color``."""
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("density", ["#ffffff", color])
    z = _np(z2)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"expected 2-d features (N, 2), got {z.shape}")
    ax = _ax(ax, figsize=(3.2, 3.2))
    theta = np.arctan2(z[:, 1], z[:, 0])
    grid = np.linspace(-np.pi, np.pi, 721)
    dens = von_mises_kde(theta, grid, kappa)
    r_in, r_out = 1.0, 1.22
    tt, rr = np.meshgrid(grid, np.linspace(r_in, r_out, 2))
    ax.pcolormesh(rr * np.cos(tt), rr * np.sin(tt), np.vstack([dens, dens]), cmap=cmap,
                  shading="gouraud", vmin=0, vmax=max(dens.max(), 1 / np.pi))
    circle = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(circle), np.sin(circle), color="k", lw=0.6, alpha=0.6)
    if points:
        colors = "k" if labels is None else [CLASS_COLORS[int(l) % 10] for l in _np(labels)]
        r = np.random.default_rng(0).uniform(0.6, 0.95, len(theta))
        ax.scatter(r * np.cos(theta), r * np.sin(theta), s=3, c=colors, alpha=0.6, lw=0)
    ax.set_aspect("equal")
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_angle_densities(z2, labels, classes: Sequence[str], ax=None, kappa: float = 16.0,
                         show: Sequence[int] | None = None):
    """Per-class von Mises KDE of the feature angle arctan2(y, x) (the paper's Fig. 3, bottom)."""
    z, y = _np(z2), _np(labels)
    theta = np.arctan2(z[:, 1], z[:, 0])
    grid = np.linspace(-np.pi, np.pi, 361)
    ax = _ax(ax, figsize=(3.2, 2.0))
    for c in (range(len(classes)) if show is None else show):
        sel = theta[y == c]
        if len(sel):
            ax.plot(grid, von_mises_kde(sel, grid, kappa), color=CLASS_COLORS[c % 10], lw=1.2, label=classes[c])
    ax.set_xlim(-np.pi, np.pi)
    ax.set_xticks([-np.pi, 0, np.pi], ["−π", "0", "π"])
    ax.set_xlabel("angle")
    ax.set_ylabel("density")
    return ax


def plot_pair_distances(z1, z2, ax=None, color: str | None = None, bins: int = 40, title: str | None = None):
    """Histogram of squared distances ||f(x) - f(y)||^2 of positive pairs, in [0, 4] (the
    paper's Fig. 3 alignment panel), with the mean marked."""
    d = ((_np(z1) - _np(z2)) ** 2).sum(axis=1)
    ax = _ax(ax, figsize=(3.2, 2.0))
    ax.hist(d, bins=bins, range=(0, 4), color=color, alpha=0.85)
    ax.axvline(d.mean(), color="k", lw=1, ls="--")
    ax.annotate(f"mean {d.mean():.2f}", (d.mean(), ax.get_ylim()[1] * 0.9), xytext=(4, 0),
                textcoords="offset points", fontsize=8)
    ax.set_xlim(0, 4)
    ax.set_xlabel(r"$\|f(x)-f(y)\|_2^2$")
    ax.set_ylabel("pairs")
    if title:
        ax.set_title(title)
    return ax


def plot_align_uniform(align, uniform, accuracy, ax=None, markers=None, labels=None, cmap: str = "viridis",
                       colorbar: bool = True):
    """Scatter of L_uniform (x) vs L_align (y) coloured by accuracy (the paper's Fig. 5).

    Lower-left is better on both axes. ``markers`` (one per point) distinguish objectives.
    """
    a, u, acc = _np(align), _np(uniform), _np(accuracy)
    ax = _ax(ax, figsize=(5.2, 4.0))
    marker_set = ["o"] * len(a) if markers is None else list(markers)
    sc = None
    for m in dict.fromkeys(marker_set):
        sel = np.array([mm == m for mm in marker_set])
        sc = ax.scatter(u[sel], a[sel], c=acc[sel], cmap=cmap, vmin=acc.min(), vmax=acc.max(), marker=m,
                        s=60, edgecolors="k", linewidths=0.5)
    if labels is not None:
        for x, y, t in zip(u, a, labels):
            ax.annotate(t, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel(r"$\mathcal{L}_\mathrm{uniform}$ (lower is more uniform)")
    ax.set_ylabel(r"$\mathcal{L}_\mathrm{align}$ (lower is better aligned)")
    if colorbar and sc is not None:
        plt.colorbar(sc, ax=ax, label="linear-probe accuracy (%)")
    return ax


def plot_gap_vs_m(ms, gaps, ax=None, label: str | None = None, color: str | None = None):
    """|L_contrastive(M) - log M - limit| against the number of negatives M (log-log)."""
    ax = _ax(ax)
    ax.loglog(_np(ms), np.abs(_np(gaps)), marker="o", label=label, color=color)
    ax.set_xlabel("number of negatives M")
    ax.set_ylabel(r"$|\mathcal{L}_\mathrm{contrastive} - \log M - \mathrm{limit}|$")
    if label:
        ax.legend()
    return ax


# ---------------------------------------------------------------- CMC
def plot_color_views(images, views, ncols: int | None = None, axes=None):
    """Each image ``(N, 3, H, W)`` uint8 in a row: the RGB image, then every channel of ``views``
    (a :class:`~reprobook.data.colorspaces.ColorViews`), each in grey scale over its own range."""
    import torch

    x = torch.as_tensor(images)
    channels, names = [], []
    for view, name in zip(views(x), views.names):
        for c in range(view.shape[1]):
            channels.append(_np(view[:, c]))
            names.append(name[c] if len(name) == view.shape[1] else f"{name}[{c}]")
    n, cols = len(x), 1 + len(channels)
    if axes is None:
        _, axes = plt.subplots(n, cols, figsize=(1.3 * cols, 1.3 * n), squeeze=False)
    rgb = _np(x).transpose(0, 2, 3, 1).astype(np.float32) / 255.0
    for i in range(n):
        axes[i][0].imshow(rgb[i], interpolation="nearest")
        for j, ch in enumerate(channels):
            lo, hi = np.percentile(ch, [1, 99])
            axes[i][j + 1].imshow(ch[i], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    for j, title in enumerate(["RGB"] + names):
        axes[0][j].set_title(title)
    for ax in np.ravel(axes):
        ax.set_axis_off()
    return axes


def plot_grouped_bars(values, ax=None, ylabel: str = "", fmt: str = "{:.1f}", colors: Sequence[str] | None = None):
    """Bars of a table ``values`` (a DataFrame): one group per row, one bar per column, annotated."""
    ax = _ax(ax)
    rows, cols = list(values.index), list(values.columns)
    width = 0.8 / len(cols)
    xs = np.arange(len(rows))
    for k, col in enumerate(cols):
        color = colors[k] if colors is not None else None
        bars = ax.bar(xs + (k - (len(cols) - 1) / 2) * width, values[col].to_numpy(float), width, label=str(col),
                      color=color)
        for b, v in zip(bars, values[col]):
            ax.annotate(fmt.format(v), (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 1), textcoords="offset points")
    ax.set_xticks(xs, [str(r) for r in rows])
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)
    ax.legend()
    return ax


# ---------------------------------------------------------------- InfoMin
def plot_mi_accuracy(mi, accuracy, labels=None, ax=None, name: str | None = None, color: str | None = None,
                     ceiling: float | None = None, mark_best: bool = True, arrows: bool = False):
    """Accuracy against the views' :math:`I_\\text{NCE}` (the InfoMin reverse-U plot): points in
    the order given, joined by a line (``arrows``: the direction of travel, for a training
    trajectory), each annotated with its label, the most accurate one starred, the estimator's
    ``ceiling`` (log K) dashed."""
    ax = _ax(ax)
    mi, accuracy = _np(mi).astype(float), _np(accuracy).astype(float)
    line, = ax.plot(mi, accuracy, marker="o", ms=4, color=color, label=name, lw=1.2)
    color = line.get_color()
    if arrows:
        for k in range(len(mi) - 1):
            ax.annotate("", (mi[k + 1], accuracy[k + 1]), (mi[k], accuracy[k]),
                        arrowprops=dict(arrowstyle="->", color=color, lw=1.2))
    for k, lbl in enumerate(labels if labels is not None else []):
        ax.annotate(str(lbl), (mi[k], accuracy[k]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if mark_best and len(mi):
        best = int(np.argmax(accuracy))
        ax.scatter([mi[best]], [accuracy[best]], marker="*", s=180, color=color, edgecolor="black", zorder=5)
    if ceiling is not None:
        ax.axvline(ceiling, ls="--", color="grey", lw=1)
    ax.set_xlabel(r"$I_\mathrm{NCE}(v_1; v_2)$ (nats)")
    ax.set_ylabel("linear probe top-1 (%)")
    if name is not None:
        ax.legend()
    return ax


def plot_image_grid(rows: Mapping[str, Sequence], col_labels: Sequence[str] | None = None, axes=None,
                    cell: float = 1.3):
    """One labelled row per entry of ``rows`` (label -> images ``(3, H, W)`` or ``(H, W)`` floats in
    [0, 1], or tensors of such), grey-scale where single-channel."""
    n_rows, n_cols = len(rows), max(len(v) for v in rows.values())
    if axes is None:
        _, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols, cell * n_rows), squeeze=False)
    for i, (label, images) in enumerate(rows.items()):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if j >= len(images):
                continue
            img = np.clip(_np(images[j]), 0, 1)
            if img.ndim == 3:
                img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        axes[i][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    for j, title in enumerate(col_labels or []):
        axes[0][j].set_title(title, fontsize=8)
    return axes
