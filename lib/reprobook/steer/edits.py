r"""Target edits of "On the 'Steerability' of GANs" (Jahanian, Chai & Isola, ICLR 2020).

A walk in latent space, :math:`G(z + \alpha w)`, is trained to reproduce an image edit applied to
the generator's own output, :math:`\mathrm{edit}(G(z), \alpha)`, under a mask that excludes the
pixels the edit leaves undefined (paper eq. 1):

.. math::
    w^* = \arg\min_w \; \mathbb{E}_{z, \alpha}\,
          \mathcal{L}\big(G(z + \alpha w),\ \mathrm{edit}(G(z), \alpha)\big)
          \quad\text{(the loss taken over } \mathrm{mask} = 1 \text{ only).}

This module builds the targets and their masks. Images are float tensors ``(B, C, H, W)`` in the
generator's range ``[-1, 1]``; every edit returns ``(edited, mask)`` with ``edited`` of the input's
shape, dtype and device and ``mask`` of shape ``(B, 1, H, W)``, 1 where ``edited`` is defined by
in-frame pixels and 0 on padding and out-of-frame regions (filled with 0, as the official code's
``cv2.warpAffine`` / zero canvas do). Targets need no gradient: every edit runs under
``torch.no_grad()``.

Official definitions (``utils/transforms.py`` of github.com/ali-design/gan_steerability) and where
this module differs:

* ``zoom``: centre crop resized up (zoom in) or the image pasted on a zero canvas resized down (zoom
  out), bilinear (``cv2.resize(..., INTER_LINEAR)``, i.e. ``F.interpolate(..., "bilinear",
  align_corners=False)``). **Convention:** here ``alpha > 1`` zooms in (objects grow by ``alpha``);
  the official ``ZoomTransform.get_target_np`` zooms *in* for ``alpha < 1`` (it crops
  ``int(alpha * size)`` pixels), so its ``alpha`` is ``1 / alpha`` here. The training range
  ``[0.25, 4]`` is closed under the reciprocal, and :func:`reprobook.steer.walks.edit_alpha` draws
  the reciprocal of the official α, so the zooms are distributed as officially.
* ``shift``: ``cv2.warpAffine`` with ``M = [[1, 0, a], [0, 1, 0]]`` (x) or ``[[1, 0, 0], [0, 1, a]]``
  (y): content moves right / down by ``a`` pixels.
* ``rotate``: ``cv2.getRotationMatrix2D(center, degrees, 1)``: positive angles rotate
  counter-clockwise as displayed, bilinear, zero border. **Centre:** here the geometric centre
  ``((W - 1) / 2, (H - 1) / 2)`` (so 90-degree multiples equal ``torch.rot90``); the official code
  uses the pixel ``(size // 2, size // 2)``, half a pixel off for even sizes.
* ``color``: ``target[..., c] = x[..., c] + alpha[b, c]``, mask all ones, **not clipped**.
* ``brightness``: the colour edit with the same ``alpha`` in every channel (the official "W"/"D"
  whiten / darken panels and the NN walk's luminance target, ``alpha * ones((B, 3))``), not clipped.
* **Masks:** the official code warps / resizes an all-ones image and sets every *nonzero* pixel to 1,
  so a one-pixel rim whose value is a blend with the zero border counts as defined. Here a pixel is
  1 only when it is interpolated entirely from in-frame pixels (tolerance ``1e-6``).

``strict=True`` (the default) enforces the training ranges of :data:`ALPHA_RANGES`;
``strict=False`` allows the official evaluation ranges and beyond (zoom ``[1/16, 16]``, shifts up
to the full image size, any rotation angle, any finite colour shift).
"""
from __future__ import annotations

import numbers
from functools import partial

import torch
import torch.nn.functional as F

__all__ = ["zoom", "shift", "rotate", "color", "brightness", "EDITS", "ALPHA_RANGES", "alpha_range",
           "IDENTITY_ALPHAS", "walk_alpha", "edit_units"]

#: Training ranges of alpha (official ``get_train_alpha`` of the linear walks): zoom
#: ``U(0.25, 1)`` or ``U(1, 4)``; shifts ``randint(1, size // 2)`` pixels with a random sign, stored
#: here as a *fraction of the image size* (use :func:`alpha_range` for pixels); rotations
#: ``randint(1, 45)`` degrees with a random sign; colour ``U(-0.5, 0.5)`` per channel (the NN walk:
#: ``eps = 0.1``, ``N_f = 5`` steps, the same ``+-0.5``); brightness the same as colour.
ALPHA_RANGES: dict[str, tuple[float, float]] = {
    "zoom": (0.25, 4.0),
    "shiftx": (-0.5, 0.5),
    "shifty": (-0.5, 0.5),
    "rotate2d": (-45.0, 45.0),
    "color": (-0.5, 0.5),
    "brightness": (-0.5, 0.5),
}

#: The alpha that leaves an image unchanged (with an all-ones mask).
IDENTITY_ALPHAS = {"zoom": 1.0, "shiftx": 0, "shifty": 0, "rotate2d": 0.0, "color": 0.0, "brightness": 0.0}

_ZOOM_LIMITS = (1.0 / 16.0, 16.0)     # official test_alphas (linear walk) span 0.0625 .. 16
_EXACT_TOL = 1e-6                      # snap source coordinates this close to an integer


def alpha_range(edit: str, size: int | None = None) -> tuple[float, float]:
    """The training range of ``edit``'s alpha; for ``shiftx`` / ``shifty`` in pixels of an image
    ``size`` pixels wide / high (``+- size // 2``, the official ``alpha_max``)."""
    if edit not in ALPHA_RANGES:
        raise ValueError(f"unknown edit {edit!r}; expected one of {sorted(ALPHA_RANGES)}")
    if edit in ("shiftx", "shifty"):
        if size is None or isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 2:
            raise ValueError(f"alpha_range({edit!r}) needs the image size in pixels, got {size!r}")
        return (-float(size // 2), float(size // 2))
    return ALPHA_RANGES[edit]


# ------------------------------------------------------------------------------------ checks

def _check_images(x: torch.Tensor) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a tensor of images (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point (images in [-1, 1]), got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)})")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf")


def _per_sample(alpha, batch: int, name: str) -> torch.Tensor:
    """``alpha`` (a real number, a one-element tensor or a ``(B,)`` sequence) as float64 ``(B,)``."""
    if isinstance(alpha, bool):
        raise TypeError(f"{name} must be a real number or a (B,) tensor, got bool")
    if isinstance(alpha, numbers.Real):
        a = torch.full((batch,), float(alpha), dtype=torch.float64)
    else:
        try:
            a = torch.as_tensor(alpha).detach().cpu()
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a real number or a (B,) tensor, got {type(alpha).__name__}") from err
        if a.dtype == torch.bool or a.is_complex():
            raise TypeError(f"{name} must be real, got dtype {a.dtype}")
        a = a.to(torch.float64)
        if a.ndim == 0 or a.shape == (1,):
            a = a.reshape(1).expand(batch).clone()
        elif a.shape != (batch,):
            raise ValueError(f"{name} must be a number or have shape (B,) = ({batch},), got {tuple(a.shape)}")
    if not torch.isfinite(a).all():
        raise ValueError(f"{name} must be finite, got {a.tolist()}")
    return a


def _check_range(a: torch.Tensor, lo: float, hi: float, name: str, hint: str = "") -> None:
    bad = (a < lo) | (a > hi)
    if bad.any():
        raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}]{hint}, got {a[bad].tolist()}")


_STRICT_HINT = " (the training range; pass strict=False to go beyond it)"


# ------------------------------------------------------------------------------------ sampling

def _sample(x: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear samples of ``x`` (B, C, H, W) at source pixel coordinates ``sx``, ``sy`` (B, H, W)
    (column, row; pixel centres at integers), zero outside the frame (``cv2.BORDER_CONSTANT``).
    Coordinates within ``_EXACT_TOL`` of an integer are snapped, so integer shifts and 90-degree
    rotations copy pixels exactly. Returns ``(values (B, C, H, W), mask (B, 1, H, W))`` with the
    mask 1 where the sample lies inside ``[0, W - 1] x [0, H - 1]``."""
    b, c, h, w = x.shape
    sx = torch.where((sx - sx.round()).abs() < _EXACT_TOL, sx.round(), sx)
    sy = torch.where((sy - sy.round()).abs() < _EXACT_TOL, sy.round(), sy)
    x0, y0 = sx.floor(), sy.floor()
    wx, wy = (sx - x0).to(x.dtype), (sy - y0).to(x.dtype)                    # (B, H, W)
    flat = x.reshape(b, c, h * w)                                            # (B, C, H*W)
    out = torch.zeros_like(x)
    for dx, dy, weight in ((0, 0, (1 - wx) * (1 - wy)), (1, 0, wx * (1 - wy)),
                           (0, 1, (1 - wx) * wy), (1, 1, wx * wy)):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)       # (B, H, W)
        idx = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long().reshape(b, 1, h * w)
        vals = flat.gather(2, idx.expand(b, c, h * w)).reshape(b, c, h, w)
        wgt = torch.where(inside, weight, torch.zeros_like(weight))
        out = out + vals * wgt.unsqueeze(1)
    valid = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    return out, valid.unsqueeze(1).to(x.dtype)


def _pixel_grid(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column and row indices (1, H, W), float64, on ``x``'s device."""
    h, w = x.shape[-2:]
    rows = torch.arange(h, dtype=torch.float64, device=x.device).view(1, h, 1).expand(1, h, w)
    cols = torch.arange(w, dtype=torch.float64, device=x.device).view(1, 1, w).expand(1, h, w)
    return cols, rows


# ------------------------------------------------------------------------------------ edits

@torch.no_grad()
def zoom(x: torch.Tensor, alpha, strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Zoom about the image centre by the scale factor ``alpha`` (objects grow by ``alpha``).

    With :math:`n = \lfloor H / \alpha \rfloor` (and likewise for the width):

    * ``alpha > 1`` (zoom in): the centre crop of rows ``[H//2 - n//2, H//2 + n//2)`` resized
      bilinearly to ``(H, W)``; the mask is all ones.
    * ``alpha < 1`` (zoom out): ``x`` pasted at rows ``[n//2 - H//2, n//2 - H//2 + H)`` of an
      ``n x n`` zero canvas, resized bilinearly (no antialiasing, as ``cv2.INTER_LINEAR``) to
      ``(H, W)``; the mask (the canvas's ones, resized the same way) is 0 on the padding.
    * ``alpha == 1``: ``x`` unchanged.

    The official code's ``alpha`` is ``1 / alpha`` here (see the module docstring).

    Args:
        x: ``(B, C, H, W)`` images in ``[-1, 1]``.
        alpha: a number or a ``(B,)`` tensor of per-sample factors, in ``[0.25, 4]`` (``strict``)
            or ``[1/16, 16]``.
    Returns:
        ``(edited (B, C, H, W), mask (B, 1, H, W))``.
    """
    _check_images(x)
    b, c, h, w = x.shape
    a = _per_sample(alpha, b, "zoom alpha")
    if strict:
        _check_range(a, *ALPHA_RANGES["zoom"], "zoom alpha", _STRICT_HINT)
    else:
        _check_range(a, *_ZOOM_LIMITS, "zoom alpha")
    out = torch.empty_like(x)
    mask = torch.ones(b, 1, h, w, dtype=x.dtype, device=x.device)
    for i, ai in enumerate(a.tolist()):
        if ai == 1.0:
            out[i] = x[i]
            continue
        nh, nw = int(h / ai + 1e-9), int(w / ai + 1e-9)
        if ai > 1:
            if nh // 2 == 0 or nw // 2 == 0:
                raise ValueError(f"zoom alpha {ai:g} leaves no pixels of a {h}x{w} image to crop")
            crop = x[i:i + 1, :, h // 2 - nh // 2:h // 2 + nh // 2, w // 2 - nw // 2:w // 2 + nw // 2]
            out[i] = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
        else:
            canvas = x.new_zeros(1, c + 1, nh, nw)                            # image channels + mask
            top, left = nh // 2 - h // 2, nw // 2 - w // 2
            canvas[:, :c, top:top + h, left:left + w] = x[i]
            canvas[:, c, top:top + h, left:left + w] = 1
            resized = F.interpolate(canvas, size=(h, w), mode="bilinear", align_corners=False)[0]
            out[i] = resized[:c]
            mask[i, 0] = (resized[c] >= 1 - _EXACT_TOL).to(x.dtype)
    return out, mask


@torch.no_grad()
def shift(x: torch.Tensor, alpha, axis: str = "x", strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Translate by ``alpha`` whole pixels: ``edited[..., r, c] = x[..., r, c - alpha]`` for
    ``axis="x"`` (content moves right for ``alpha > 0``), ``x[..., r - alpha, c]`` for ``axis="y"``
    (content moves down); the vacated ``|alpha|`` columns / rows are 0 and masked.

    Args:
        x: ``(B, C, H, W)`` images.
        alpha: an integer-valued number or ``(B,)`` tensor, ``|alpha| <= size // 2`` along the axis
            (``strict``, the official ``alpha_max``) or ``<= size``.
        axis: ``"x"`` (horizontal) or ``"y"`` (vertical).
    """
    _check_images(x)
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    b, _, h, w = x.shape
    a = _per_sample(alpha, b, f"shift{axis} alpha")
    if (a != a.round()).any():
        raise ValueError(f"shift{axis} alpha must be whole pixels, got {a.tolist()}")
    size = w if axis == "x" else h
    if strict:
        _check_range(a, -(size // 2), size // 2, f"shift{axis} alpha (pixels)", _STRICT_HINT)
    else:
        _check_range(a, -size, size, f"shift{axis} alpha (pixels)")
    cols, rows = _pixel_grid(x)
    d = a.to(x.device).view(b, 1, 1)
    sx, sy = (cols - d, rows.expand(b, h, w)) if axis == "x" else (cols.expand(b, h, w), rows - d)
    return _sample(x, sx, sy)


@torch.no_grad()
def rotate(x: torch.Tensor, degrees, strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Rotate about the image centre :math:`(c_x, c_y) = ((W-1)/2, (H-1)/2)` by ``degrees``,
    counter-clockwise as displayed (``cv2.getRotationMatrix2D``'s sign), bilinear, zero border.

    Each output pixel :math:`(u, v)` (column, row) samples the input at

    .. math::
        s_x = c_x + \cos\theta\,(u - c_x) - \sin\theta\,(v - c_y), \qquad
        s_y = c_y + \sin\theta\,(u - c_x) + \cos\theta\,(v - c_y),

    and the mask is 1 where :math:`(s_x, s_y) \in [0, W-1] \times [0, H-1]` (the corners brought in
    from outside the frame are 0). ``degrees = 90 k`` equals ``torch.rot90(x, k, dims=(-2, -1))``
    (square images) with an all-ones mask.

    Args:
        x: ``(B, C, H, W)`` images.
        degrees: a number or ``(B,)`` tensor, in ``[-45, 45]`` (``strict``) or any finite angle.
    """
    _check_images(x)
    b, _, h, w = x.shape
    a = _per_sample(degrees, b, "rotate2d degrees")
    if strict:
        _check_range(a, *ALPHA_RANGES["rotate2d"], "rotate2d degrees", _STRICT_HINT)
    theta = torch.deg2rad(a).to(x.device).view(b, 1, 1)
    cos, sin = torch.cos(theta), torch.sin(theta)
    cols, rows = _pixel_grid(x)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    u, v = cols - cx, rows - cy                                               # (1, H, W)
    sx = cx + cos * u - sin * v                                               # (B, H, W)
    sy = cy + sin * u + cos * v
    return _sample(x, sx, sy)


@torch.no_grad()
def color(x: torch.Tensor, alpha, strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-channel additive shift, ``edited[b, c] = x[b, c] + alpha[b, c]`` (official
    ``ColorTransform``), **not clipped** to ``[-1, 1]``; the mask is all ones.

    Args:
        x: ``(B, C, H, W)`` images.
        alpha: ``(C,)`` (the same shift for every sample) or ``(B, C)`` (per sample), entries in
            ``[-0.5, 0.5]`` (``strict``) or any finite value. For one shift in every channel use
            :func:`brightness`.
    """
    _check_images(x)
    b, c = x.shape[:2]
    if isinstance(alpha, bool) or isinstance(alpha, numbers.Real):
        raise ValueError(f"color alpha must be a length-C = {c} vector or a (B, C) = ({b}, {c}) tensor, "
                         f"got the scalar {alpha!r} (use brightness for one shift in every channel)")
    a = torch.as_tensor(alpha).detach().cpu()
    if a.dtype == torch.bool or a.is_complex():
        raise TypeError(f"color alpha must be real, got dtype {a.dtype}")
    a = a.to(torch.float64)
    if a.shape == (c,):
        a = a.view(1, c).expand(b, c)
    elif a.shape != (b, c):
        raise ValueError(f"color alpha must have shape (C,) = ({c},) or (B, C) = ({b}, {c}), got {tuple(a.shape)}")
    if not torch.isfinite(a).all():
        raise ValueError(f"color alpha must be finite, got {a.tolist()}")
    if strict:
        _check_range(a, *ALPHA_RANGES["color"], "color alpha", _STRICT_HINT)
    shifted = x + a.to(device=x.device, dtype=x.dtype).view(b, c, 1, 1)
    return shifted, torch.ones(b, 1, *x.shape[-2:], dtype=x.dtype, device=x.device)


@torch.no_grad()
def brightness(x: torch.Tensor, alpha, strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The same additive shift in every channel, ``edited = x + alpha[b]`` (the official colour
    walk's whiten / darken and NN-luminance targets, ``alpha * ones((B, 3))``), not clipped; the
    mask is all ones. As Rec. 601 luma weights sum to 1, the mean luma changes by exactly ``alpha``.

    Args:
        x: ``(B, C, H, W)`` images.
        alpha: a number or ``(B,)`` tensor in ``[-0.5, 0.5]`` (``strict``) or any finite value.
    """
    _check_images(x)
    b = x.shape[0]
    a = _per_sample(alpha, b, "brightness alpha")
    if strict:
        _check_range(a, *ALPHA_RANGES["brightness"], "brightness alpha", _STRICT_HINT)
    shifted = x + a.to(device=x.device, dtype=x.dtype).view(b, 1, 1, 1)
    return shifted, torch.ones(b, 1, *x.shape[-2:], dtype=x.dtype, device=x.device)


#: Edit name (the official ``--transform`` names, plus ``brightness``) -> ``f(x, alpha, strict=True)``.
EDITS = {
    "zoom": zoom,
    "shiftx": partial(shift, axis="x"),
    "shifty": partial(shift, axis="y"),
    "rotate2d": rotate,
    "color": color,
    "brightness": brightness,
}


def walk_alpha(edit: str, alpha, size: int | None = None) -> torch.Tensor:
    """The walk's coordinate for an edit's ``alpha``, as the official linear walks are fed
    (``utils/transforms.py``, ``get_train_alpha``): zoom ``log(alpha)`` (official ``log`` of its own
    reciprocal factor: the sign is absorbed by ``w``), shifts ``alpha / (size // 2)``, rotations
    ``alpha / 45``, colour and brightness ``alpha`` itself. Returns a float tensor of ``alpha``'s shape."""
    if edit not in EDITS:
        raise ValueError(f"unknown edit {edit!r}; expected one of {sorted(EDITS)}")
    a = torch.as_tensor(alpha, dtype=torch.float32)
    if not torch.isfinite(a).all():
        raise ValueError(f"alpha must be finite, got {alpha!r}")
    if edit == "zoom":
        if (a <= 0).any():
            raise ValueError(f"zoom alpha must be positive, got {alpha!r}")
        return torch.log(a)
    if edit in ("shiftx", "shifty"):
        return a / alpha_range(edit, size)[1]
    if edit == "rotate2d":
        return a / ALPHA_RANGES["rotate2d"][1]
    return a


def edit_units(edit: str, coordinate, size: int | None = None) -> torch.Tensor:
    """The inverse of :func:`walk_alpha`: a walk coordinate back in the edit's units (zoom
    ``exp``, shifts times ``size // 2``, rotations times 45, colour and brightness as is)."""
    if edit not in EDITS:
        raise ValueError(f"unknown edit {edit!r}; expected one of {sorted(EDITS)}")
    c = torch.as_tensor(coordinate)
    if edit == "zoom":
        return torch.exp(c)
    if edit in ("shiftx", "shifty"):
        return c * alpha_range(edit, size)[1]
    if edit == "rotate2d":
        return c * ALPHA_RANGES["rotate2d"][1]
    return c
