"""How far a walk steers: attribute-vs-α curves and the data-variability correlation
(Jahanian, Chai & Isola, ICLR 2020, Sec. 4.1-4.3; book/07-gan-steerability, notebook 3).

For an edit and a grid of α, :func:`attribute_curve` measures on the same codes ``z``

* the **model**: the attribute change from ``G(z)`` to ``G(walk(z, α))`` (what the walk achieves);
* the **target**: the change from ``G(z)`` to ``edit(G(z), α)`` measured within the edit's mask
  (what was asked for, through the same detector-free measure, so the two are comparable);
* the **expected** change of the edit's formula (:func:`reprobook.steer.attributes.target_change`);
* the Eq. 1 distance ``masked_mse(G(walk(z, α)), edit(G(z), α), m)``, beside the distance of the
  unmoved image ``masked_mse(G(z), edit(G(z), α), m)``: their ratio subtracted from 1,
  ``explained``, is the share of the edit's distance the walk removes (0 = no better than standing
  still, 1 = the edit reproduced exactly), a measure that needs no detector.

Medians and quartiles over samples (the foreground measures are NaN when an image has no
foreground; such samples are left out). :func:`reach` condenses a curve into one number, the
fraction of the requested change the walk realises at the ends of the α grid. The paper's
dataset-bias claim, that a walk pushes an attribute further where the training data varies more
in it, is measured by :func:`attribute_spread` on the data and :func:`pearson` across generators.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import torch

from .attributes import ATTRIBUTES, observed_change, target_change
from .edits import EDITS
from .walks import masked_mse

#: Edits whose attribute is one number per image (colour moves three: use ``brightness``).
SCALAR_EDITS = ("zoom", "shiftx", "shifty", "rotate2d", "brightness")


def _check_edit(edit: str) -> None:
    if edit not in SCALAR_EDITS:
        raise ValueError(f"attribute curves need an edit with a scalar attribute, one of {SCALAR_EDITS}; got "
                         f"{edit!r}" + (" (use 'brightness' for the colour walk's luminance)" if edit == "color" else ""))


def _quantiles(v: torch.Tensor) -> tuple[float, float, float, int]:
    v = v[torch.isfinite(v)]
    if v.numel() == 0:
        return math.nan, math.nan, math.nan, 0
    q = torch.quantile(v.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return q[1].item(), q[0].item(), q[2].item(), int(v.numel())


@torch.no_grad()
def attribute_curve(G: Callable, walk: Callable, edit: str, alphas: Sequence[float], z: torch.Tensor,
                    walk_alpha_fn: Callable | None = None, threshold: float = 0.5) -> list[dict]:
    """One row per ``α`` of ``alphas``: ``alpha``, ``expected`` (the formula), ``target`` /
    ``target_q25`` / ``target_q75`` (the measured change of the edited images), ``model`` /
    ``model_q25`` / ``model_q75`` (the walked images), ``valid`` (samples with a finite model
    change), ``loss`` (Eq. 1's masked L2 between walked and edited images), ``loss_still`` (the same
    for the unedited ``G(z)``) and ``explained = 1 − loss / loss_still`` (NaN at the identity). ``z``: ``(B, nz)`` on
    ``G``'s device; edits run with ``strict=False`` so α may leave the training range."""
    _check_edit(edit)
    if not torch.is_tensor(z) or z.ndim != 2 or z.shape[0] < 1:
        raise ValueError(f"z must be a (B, nz) tensor, got {getattr(z, 'shape', type(z).__name__)}")
    if len(alphas) == 0:
        raise ValueError("alphas is empty")
    x = G(z)                                                             # (B, C, H, W)
    rows = []
    for a in alphas:
        if isinstance(a, bool) or not isinstance(a, numbers.Real) or not math.isfinite(a):
            raise ValueError(f"every alpha must be a finite number, got {a!r}")
        alpha = torch.full((z.shape[0],), float(a), device=z.device)
        target, mask = EDITS[edit](x, alpha, strict=False)
        walked = G(walk(z, alpha if walk_alpha_fn is None else walk_alpha_fn(alpha)))
        model = observed_change(edit, x, walked, None, threshold)        # (B,)
        asked = observed_change(edit, x, target, mask, threshold)        # (B,)
        m, m25, m75, valid = _quantiles(model)
        t, t25, t75, _ = _quantiles(asked)
        loss, still = masked_mse(walked, target, mask).item(), masked_mse(x, target, mask).item()
        rows.append(dict(alpha=float(a), expected=float(target_change(edit, float(a))), target=t, target_q25=t25,
                         target_q75=t75, model=m, model_q25=m25, model_q75=m75, valid=valid, loss=loss,
                         loss_still=still, explained=1.0 - loss / still if still > 0 else math.nan))
    return rows


def reach(rows: list[dict], edit: str) -> float:
    """The fraction of the requested change the walk realises between the smallest and the largest
    α of a curve: ``(model(α_max) − model(α_min)) / (target(α_max) − target(α_min))`` on medians, in
    log space for zoom (a ratio). 1 = the walk goes as far as the edit; 0 = it does not move. Rows
    whose target or model median is not finite (zoom: no foreground left) are skipped, so the ends
    are the extreme α where both were measured; NaN when fewer than two remain."""
    _check_edit(edit)
    f = (lambda v: math.log(v) if v > 0 else math.nan) if ATTRIBUTES[edit].kind == "ratio" else (lambda v: v)
    rows = [r for r in rows if math.isfinite(f(r["target"])) and math.isfinite(f(r["model"]))]
    if len(rows) < 2:
        return math.nan
    lo, hi = min(rows, key=lambda r: r["alpha"]), max(rows, key=lambda r: r["alpha"])
    asked = f(hi["target"]) - f(lo["target"])
    if not math.isfinite(asked) or asked == 0:
        return math.nan
    return (f(hi["model"]) - f(lo["model"])) / asked


def attribute_spread(images: torch.Tensor, edit: str, threshold: float = 0.5) -> float:
    """How much ``images`` (floats ``(N, C, H, W)`` in ``[-1, 1]``) vary in ``edit``'s attribute: the
    standard deviation over images (of ``log`` object size for zoom; images without foreground are
    left out)."""
    _check_edit(edit)
    attr = ATTRIBUTES[edit]
    v = attr.measure(images, None, threshold).double()
    if attr.kind == "ratio":
        v = torch.log(v)
    v = v[torch.isfinite(v)]
    if v.numel() < 2:
        return math.nan
    return v.std().item()


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's correlation of two equally long sequences (NaN when either is constant)."""
    a, b = torch.tensor(list(x), dtype=torch.float64), torch.tensor(list(y), dtype=torch.float64)
    if a.shape != b.shape or a.numel() < 2:
        raise ValueError(f"need two sequences of equal length >= 2, got {a.numel()} and {b.numel()}")
    a, b = a - a.mean(), b - b.mean()
    den = (a.norm() * b.norm()).item()
    return (a @ b).item() / den if den > 0 else math.nan


def spread_subsets(values: torch.Tensor, fractions: Sequence[float], size: int) -> list[torch.Tensor]:
    """Indices of ``size`` images each, spread evenly in rank over the central ``fraction`` of
    ``values`` (e.g. luminance): a small fraction keeps images close to the median (a biased, narrow
    data set), 1 spans them all. Used to train generators on data of controlled variability."""
    n = values.numel()
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= n:
        raise ValueError(f"size must be an integer in [1, {n}], got {size!r}")
    order = torch.argsort(values.flatten(), stable=True)
    subsets = []
    for f in fractions:
        if not (isinstance(f, numbers.Real) and 0 < f <= 1):
            raise ValueError(f"fractions must lie in (0, 1], got {f!r}")
        width = max(size, int(round(f * n)))
        start = (n - width) // 2
        ranks = start + torch.linspace(0, width - 1, size).round().long()
        subsets.append(order[ranks])
    return subsets
