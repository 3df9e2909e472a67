r"""Image attributes that each steering edit changes, measured per image.

The paper (Jahanian, Chai & Isola, ICLR 2020, Sec. 4) measures how far a walk shifts a dataset
statistic: the area and centre of a MobileNet-SSD bounding box for zoom and shifts, pixel
intensities for colour. This module gives detector-free stand-ins that are exact on synthetic
images (an object on a flat background), for unit tests and small experiments:

* :func:`foreground`: pixels whose colour differs from the background colour, the per-channel
  median of the border pixels, by more than ``threshold`` (RMS over channels, in ``[-1, 1]``
  units). With an edit's ``mask``, masked pixels are never foreground and the "border" is the rim
  of the valid region (valid pixels with an invalid or out-of-frame 8-neighbour).
* :func:`object_size`, :func:`centroid`, :func:`dominant_orientation` of the foreground;
  :func:`luminance` and :func:`channel_means` over the valid pixels.

Coordinates are pixels, ``x`` = column and ``y`` = row from the top-left pixel's centre; angles
are degrees counter-clockwise as displayed (the sign of :func:`reprobook.steer.edits.rotate`).
Images are ``(B, C, H, W)`` floats in ``[-1, 1]``; masks ``(B, 1, H, W)`` as the edits return them.

:data:`ATTRIBUTES` maps each edit to the attribute it moves and how: ``zoom`` multiplies the object
area by ``alpha**2``, ``shiftx`` / ``shifty`` move the centroid by ``alpha`` pixels, ``rotate2d``
turns the principal axis by ``alpha`` degrees, ``color`` adds ``alpha`` to the channel means and
``brightness`` adds ``alpha`` to the mean Rec. 601 luma (its weights sum to 1).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .edits import _check_images

__all__ = ["foreground", "object_size", "centroid", "luminance", "channel_means", "dominant_orientation",
           "background_color", "Attribute", "ATTRIBUTES", "target_change", "observed_change",
           "wrap_angle", "REC601"]

#: Rec. 601 luma weights for (R, G, B).
REC601 = (0.299, 0.587, 0.114)


def _valid(x: torch.Tensor, mask) -> torch.Tensor:
    """``mask`` as bool ``(B, 1, H, W)`` (all True when None), checked against ``x``."""
    b, _, h, w = x.shape
    if mask is None:
        return torch.ones(b, 1, h, w, dtype=torch.bool, device=x.device)
    if not torch.is_tensor(mask):
        raise TypeError(f"mask must be a tensor (B, 1, H, W), got {type(mask).__name__}")
    if mask.shape != (b, 1, h, w):
        raise ValueError(f"mask must have shape (B, 1, H, W) = {(b, 1, h, w)}, got {tuple(mask.shape)}")
    return mask.to(x.device) > 0.5


def _threshold(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"threshold must be a finite non-negative number, got {value!r}")
    return float(value)


def _ring(valid: torch.Tensor) -> torch.Tensor:
    """Valid pixels with an invalid or out-of-frame 8-neighbour, bool ``(B, 1, H, W)``."""
    invalid = F.pad((~valid).float(), (1, 1, 1, 1), value=1.0)
    return valid & (F.max_pool2d(invalid, 3, stride=1) > 0)


def background_color(x: torch.Tensor, mask=None) -> torch.Tensor:
    """Per-channel median of the border pixels (the rim of the valid region), ``(B, C)``; NaN for
    an image with no valid pixel."""
    _check_images(x)
    b, c = x.shape[:2]
    ring = _ring(_valid(x, mask)).reshape(b, 1, -1)                           # (B, 1, H*W)
    vals = torch.where(ring, x.reshape(b, c, -1), torch.full_like(x.reshape(b, c, -1), float("nan")))
    return torch.nanmedian(vals, dim=-1).values                               # (B, C)


def foreground(x: torch.Tensor, mask=None, threshold: float = 0.5) -> torch.Tensor:
    r"""Foreground estimate, bool ``(B, H, W)``: valid pixels with

    .. math:: \sqrt{\tfrac{1}{C}\textstyle\sum_c (x_c - m_c)^2} > \mathrm{threshold},

    :math:`m` the :func:`background_color`. ``threshold`` is in the images' ``[-1, 1]`` units
    (the default 0.5 is a quarter of the range; 1.0, half the black-white
    distance, puts the boundary of a black/white object at its half-contrast edge). Meant for one object on a roughly flat background."""
    _check_images(x)
    t = _threshold(threshold)
    valid = _valid(x, mask)
    m = background_color(x, mask)                                             # (B, C)
    dist = (x - m[:, :, None, None]).pow(2).mean(dim=1).sqrt()                # (B, H, W)
    return (dist > t) & valid[:, 0]


def object_size(x: torch.Tensor, mask=None, threshold: float = 0.5) -> torch.Tensor:
    """Foreground area as a fraction of the whole frame ``H * W``, ``(B,)``."""
    fg = foreground(x, mask, threshold)
    return fg.to(torch.float64).mean(dim=(1, 2))


def centroid(x: torch.Tensor, mask=None, threshold: float = 0.5) -> torch.Tensor:
    """Foreground centre of mass ``(B, 2)`` as ``(x, y)`` = (column, row) in pixels from the
    top-left pixel's centre; NaN for an image without foreground."""
    fg = foreground(x, mask, threshold).to(torch.float64)                     # (B, H, W)
    h, w = fg.shape[-2:]
    rows = torch.arange(h, dtype=torch.float64, device=fg.device).view(1, h, 1)
    cols = torch.arange(w, dtype=torch.float64, device=fg.device).view(1, 1, w)
    area = fg.sum(dim=(1, 2))
    cx = (fg * cols).sum(dim=(1, 2)) / area                                   # 0/0 = NaN when empty
    cy = (fg * rows).sum(dim=(1, 2)) / area
    return torch.stack([cx, cy], dim=1)


def dominant_orientation(x: torch.Tensor, mask=None, threshold: float = 0.5) -> torch.Tensor:
    r"""Orientation of the foreground's principal axis in degrees, ``(B,)`` in ``(-90, 90]``,
    counter-clockwise from the +x axis as displayed. From the central second moments
    :math:`\mu_{20} = \sum (u - \bar u)^2`, :math:`\mu_{02} = \sum (v - \bar v)^2`,
    :math:`\mu_{11} = \sum (u - \bar u)(v - \bar v)` (``u`` column, ``v`` row, pointing down):

    .. math:: \theta = \tfrac12 \operatorname{atan2}(-2\mu_{11},\ \mu_{20} - \mu_{02}).

    NaN without foreground; an isotropic blob (:math:`\mu_{20} = \mu_{02}`, :math:`\mu_{11} = 0`)
    has no principal axis and returns 0."""
    fg = foreground(x, mask, threshold).to(torch.float64)
    h, w = fg.shape[-2:]
    c = centroid(x, mask, threshold)                                          # (B, 2)
    u = torch.arange(w, dtype=torch.float64, device=fg.device).view(1, 1, w) - c[:, 0, None, None]
    v = torch.arange(h, dtype=torch.float64, device=fg.device).view(1, h, 1) - c[:, 1, None, None]
    mu20 = (fg * u * u).sum(dim=(1, 2))
    mu02 = (fg * v * v).sum(dim=(1, 2))
    mu11 = (fg * u * v).sum(dim=(1, 2))
    theta = 0.5 * torch.rad2deg(torch.atan2(-2 * mu11, mu20 - mu02))
    theta = torch.where(theta <= -90, theta + 180, theta)
    return torch.where(fg.sum(dim=(1, 2)) > 0, theta, torch.full_like(theta, float("nan")))


def channel_means(x: torch.Tensor, mask=None) -> torch.Tensor:
    """Mean of each channel over the valid pixels, ``(B, C)`` float64."""
    _check_images(x)
    valid = _valid(x, mask).to(torch.float64)                                 # (B, 1, H, W)
    return (x.to(torch.float64) * valid).sum(dim=(2, 3)) / valid.sum(dim=(2, 3))


def luminance(x: torch.Tensor, mask=None) -> torch.Tensor:
    r"""Mean Rec. 601 luma :math:`Y = 0.299 R + 0.587 G + 0.114 B` over the valid pixels, ``(B,)``
    float64, in the images' units (a grey image of value ``g`` has luminance ``g``). One-channel
    images are their own luma."""
    means = channel_means(x, mask)                                            # (B, C)
    if means.shape[1] == 1:
        return means[:, 0]
    if means.shape[1] != 3:
        raise ValueError(f"luminance needs RGB (C = 3) or grey (C = 1) images, got C = {means.shape[1]}")
    return means @ torch.tensor(REC601, dtype=torch.float64, device=means.device)


def wrap_angle(deg: torch.Tensor) -> torch.Tensor:
    """An orientation difference wrapped to ``(-90, 90]`` degrees (axes are defined modulo 180)."""
    wrapped = torch.remainder(deg + 90, 180) - 90
    return torch.where(wrapped == -90, torch.full_like(wrapped, 90.0), wrapped)


# ------------------------------------------------------------------------------------ edit -> attribute

def _centroid_x(x, mask=None, threshold: float = 0.5):
    return centroid(x, mask, threshold)[:, 0]


def _centroid_y(x, mask=None, threshold: float = 0.5):
    return centroid(x, mask, threshold)[:, 1]


def _channel_means(x, mask=None, threshold=None):
    return channel_means(x, mask)


def _luminance(x, mask=None, threshold=None):
    return luminance(x, mask)


@dataclass(frozen=True)
class Attribute:
    """What an edit changes: ``measure(images, mask=None, threshold=0.5)`` per image (the
    foreground ``threshold`` is ignored by the pixel statistics), and how ``alpha`` moves it:
    ``kind`` ``"ratio"`` (after / before = target), ``"difference"`` (after - before = target) or
    ``"angle"`` (the difference wrapped to ``(-90, 90]``)."""
    name: str
    measure: Callable
    kind: str
    expected: str


ATTRIBUTES: dict[str, Attribute] = {
    "zoom": Attribute("object_size", object_size, "ratio", "alpha ** 2 (area scales with the square)"),
    "shiftx": Attribute("centroid_x", _centroid_x, "difference", "alpha pixels"),
    "shifty": Attribute("centroid_y", _centroid_y, "difference", "alpha pixels"),
    "rotate2d": Attribute("dominant_orientation", dominant_orientation, "angle", "alpha degrees (mod 180)"),
    "color": Attribute("channel_means", _channel_means, "difference", "alpha per channel"),
    "brightness": Attribute("luminance", _luminance, "difference", "alpha"),
}


def _edit(edit: str) -> Attribute:
    if edit not in ATTRIBUTES:
        raise ValueError(f"unknown edit {edit!r}; expected one of {sorted(ATTRIBUTES)}")
    return ATTRIBUTES[edit]


def target_change(edit: str, alpha, batch_size: int | None = None) -> torch.Tensor:
    """The change of ``ATTRIBUTES[edit]`` that the edit with ``alpha`` should produce, float64:
    ``alpha**2`` (zoom, a ratio), ``alpha`` (shifts, brightness; a difference),
    ``wrap_angle(alpha)`` (rotate2d) and ``alpha`` broadcast to ``(B, C)`` (color). ``alpha`` is a
    number or ``(B,)`` tensor (color: ``(C,)`` or ``(B, C)``); ``batch_size`` broadcasts a single
    alpha to ``(B,)`` (``(B, C)`` for color)."""
    _edit(edit)
    if isinstance(alpha, bool):
        raise TypeError("alpha must be a real number or a tensor, got bool")
    a = torch.as_tensor(alpha, dtype=torch.float64)
    if not torch.isfinite(a).all():
        raise ValueError(f"alpha must be finite, got {a.tolist()}")
    if edit == "color":
        if a.ndim not in (1, 2):
            raise ValueError(f"color alpha must have shape (C,) or (B, C), got {tuple(a.shape)}")
        if a.ndim == 1 and batch_size is not None:
            a = a.view(1, -1).expand(batch_size, -1)
        return a.clone()
    if a.ndim > 1:
        raise ValueError(f"{edit} alpha must be a number or have shape (B,), got {tuple(a.shape)}")
    if a.ndim == 0 and batch_size is not None:
        a = a.expand(batch_size)
    if edit == "zoom":
        if (a <= 0).any():
            raise ValueError(f"zoom alpha must be positive, got {a.tolist()}")
        return a ** 2
    if edit == "rotate2d":
        return wrap_angle(a)
    return a.clone()


def observed_change(edit: str, x: torch.Tensor, edited: torch.Tensor, mask=None,
                    threshold: float = 0.5) -> torch.Tensor:
    """The measured change of ``ATTRIBUTES[edit]`` from ``x`` to ``edited`` (measured within the
    edit's ``mask``; ``threshold`` for the foreground), in the form :func:`target_change` predicts."""
    attr = _edit(edit)
    if not (torch.is_tensor(x) and torch.is_tensor(edited)) or x.shape != edited.shape:
        raise ValueError(f"x and edited must be tensors of the same shape (B, C, H, W), got "
                         f"{tuple(getattr(x, 'shape', ()))} and {tuple(getattr(edited, 'shape', ()))}")
    before, after = attr.measure(x, None, threshold), attr.measure(edited, mask, threshold)
    if attr.kind == "ratio":
        return after / before
    if attr.kind == "angle":
        return wrap_angle(after - before)
    return after - before
