"""Batched RandAugment and the InfoMin view recipe, per-sample random ops, on any device.

RandAugment (Cubuk et al. 2019, "RandAugment: Practical automated data augmentation with a
reduced search space") applies ``n`` ops drawn uniformly from a fixed list. Two definitions
(``RandAugment(policy=...)``) share one batched machinery: the ops and their arguments are
drawn per sample, and each op position costs one warp of the batch per resampling filter for
the geometric ops (``grid_sample``; PIL's bicubic as a gather) and one masked (GPU) or indexed
(CPU) call of each colour op.

- ``policy="torchvision"``: ``torchvision.transforms.v2.RandAugment(num_ops=n, magnitude=m,
  num_magnitude_bins=31)``: 14 ops at one global magnitude bin, random signs, nearest
  interpolation, zero fill (tested op by op against ``torchvision.transforms.v2.functional``).
- ``policy="timm"``: timm's RandAugment as copied into PyContrast (the official InfoMin code,
  HobbitLong/PyContrast ``pycontrast/datasets/RandAugment.py``, built in ``datasets/util.py``
  as ``rand-n2-m10-mstd0.5`` with the ImageNet-mean fill): 15 ops, each applied with
  probability ``prob``, a magnitude ~ N(m, mstd) clipped to [0, 10] per op call, PIL's affine
  warps (bilinear or bicubic at random, hard edge, mean-colour fill) (tested op by op against
  that file's PIL code in tests/data/test_blur_randaugment.py). What still differs: PIL rounds
  every op's output down to uint8, these ops keep floats (at most 1/255 per op, so a later
  threshold op - posterize, solarize, equalize - may put a few pixels on the next level); the
  enhance ops blend with a float grey / mean / smoothed image where PIL's is rounded to uint8
  (about 0.5/255 more); and the draws come from a ``torch.Generator``, not Python's ``random``.

Images are float ``(B, 3, H, W)`` in [0, 1]; the ops that need integer values quantise as
torchvision's ``to_dtype(uint8, scale=True)`` (equalize: PIL's LUT, returned / 255; the timm
posterize: PIL's bit mask on the uint8 level) or compare with thresholds in 1/255 units (timm
solarize, solarize-add); torchvision's posterize is its float path floor(x 2^bits) / 2^bits.

Book: book/04-infomin/04-augmentation.

``infomin_augment`` is InfoMin's recipe (Tian et al. 2020, official PyContrast
``datasets/util.py``, aug 'D'); ``augmentation_ladder`` orders recipes from weak to strong.
"""
from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .augment import (ColorJitter, Compose, Normalize, RandomGrayscale, RandomResizedCrop,
                      _bernoulli, _check_batch, _uniform, adjust_brightness, adjust_contrast,
                      adjust_saturation)
from .blur import GaussianBlur

Tensor = torch.Tensor

# torchvision's RandAugment._AUGMENTATION_SPACE, in its order
OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
       "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")
SIGNED = frozenset({"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
                    "Color", "Contrast", "Sharpness"})
GEOMETRIC = frozenset({"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"})


def op_magnitudes(magnitude: int, num_bins: int, height: int, width: int) -> dict[str, float]:
    """Unsigned magnitude of each op at bin ``magnitude`` of ``num_bins`` for an image
    ``height`` x ``width``: torchvision's formulas (same float32 ``linspace``)."""
    def lin(lo, hi):
        return float(torch.linspace(lo, hi, num_bins)[magnitude])
    bits = (8 - (torch.arange(num_bins) / ((num_bins - 1) / 4))).round().int()
    return {
        "Identity": 0.0, "ShearX": lin(0.0, 0.3), "ShearY": lin(0.0, 0.3),
        "TranslateX": lin(0.0, 150.0 / 331.0 * width), "TranslateY": lin(0.0, 150.0 / 331.0 * height),
        "Rotate": lin(0.0, 30.0), "Brightness": lin(0.0, 0.9), "Color": lin(0.0, 0.9),
        "Contrast": lin(0.0, 0.9), "Sharpness": lin(0.0, 0.9), "Posterize": float(bits[magnitude]),
        "Solarize": lin(1.0, 0.0), "AutoContrast": 0.0, "Equalize": 0.0,
    }


# PyContrast datasets/RandAugment.py (timm): _RAND_TRANSFORMS, in its order
TIMM_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeTpu", "Solarize", "SolarizeAdd",
            "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel",
            "TranslateYRel")
TIMM_GEOMETRIC = frozenset({"Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"})
TIMM_MAX_LEVEL = 10.0                                                # the file's _MAX_LEVEL
# The file's LEVEL_TO_ARG for these ops: arg = (level / _MAX_LEVEL) * scale + offset, truncated
# by int() for the integer args, and negated by _randomly_negate (with probability 1/2) for the
# signed ones; AutoContrast, Equalize and Invert take no argument.
#   name: (scale, offset, integer, signed)
TIMM_LEVEL_TO_ARG = {
    "AutoContrast": (0.0, 0.0, False, False),
    "Equalize": (0.0, 0.0, False, False),
    "Invert": (0.0, 0.0, False, False),
    "Rotate": (30.0, 0.0, False, True),           # _rotate_level_to_arg: degrees in [-30, 30]
    "PosterizeTpu": (4.0, 0.0, True, False),      # _posterize_tpu_level_to_arg: keep 0..4 bits
    "Solarize": (256.0, 0.0, True, False),        # _solarize_level_to_arg: threshold 0..256
    "SolarizeAdd": (110.0, 0.0, True, False),     # _solarize_add_level_to_arg: add 0..110
    "Color": (1.8, 0.1, False, False),            # _enhance_level_to_arg: factor 0.1..1.9,
    "Contrast": (1.8, 0.1, False, False),         #   never negated
    "Brightness": (1.8, 0.1, False, False),
    "Sharpness": (1.8, 0.1, False, False),
    "ShearX": (0.3, 0.0, False, True),            # _shear_level_to_arg: [-0.3, 0.3]
    "ShearY": (0.3, 0.0, False, True),
    "TranslateXRel": (0.45, 0.0, False, True),    # _translate_rel_level_to_arg: [-0.45, 0.45]
    "TranslateYRel": (0.45, 0.0, False, True),    #   of the width / height
}
# PyContrast datasets/util.py aug 'D': img_mean = round(255 * (0.485, 0.456, 0.406)), in [0, 1]
IMAGENET_FILL = (124 / 255, 116 / 255, 104 / 255)
TIMM_FILL = (128 / 255, 128 / 255, 128 / 255)                         # the file's _FILL default


@functools.lru_cache(maxsize=None)
def _timm_tables(device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """``TIMM_LEVEL_TO_ARG`` on ``device``: ``(15, 2)`` float64 (scale, offset), ``(15, 2)`` bool
    (integer, signed) and ``(15,)`` bool geometric flags, in ``TIMM_OPS`` order (made once)."""
    numbers = torch.tensor([TIMM_LEVEL_TO_ARG[o][:2] for o in TIMM_OPS], dtype=torch.float64)
    flags = torch.tensor([TIMM_LEVEL_TO_ARG[o][2:] for o in TIMM_OPS])
    geometric = torch.tensor([o in TIMM_GEOMETRIC for o in TIMM_OPS])
    return numbers.to(device), flags.to(device), geometric.to(device)


def timm_op_args(op: Tensor, level: Tensor, negate: Tensor) -> Tensor:
    """The argument PyContrast's ``AutoAugmentOp`` passes to op ``TIMM_OPS[op]`` at ``level``
    (its clipped magnitude): ``op (B,)``, ``level (B,)``, ``negate (B,)`` bool (the outcome of
    ``_randomly_negate``, used by the signed ops only) -> ``(B,)`` float64, computed with the
    file's float64 expressions (so ``int()`` truncates at the same levels)."""
    numbers, flags, _ = _timm_tables(op.device)
    scale, offset = numbers[op].unbind(1)
    integer, signed = flags[op].unbind(1)
    arg = (level.double() / TIMM_MAX_LEVEL) * scale + offset
    arg = torch.where(integer, torch.trunc(arg), arg)
    return torch.where(negate & signed, -arg, arg)


# ---------------------------------------------------------------- geometry (batched torchvision affine)
def inverse_affine_matrix(angle: Tensor, translate: Tensor, shear: Tensor, center: Tensor) -> Tensor:
    """torchvision's ``_get_inverse_affine_matrix`` (scale 1) for a batch, in float64:
    ``angle (B,)`` degrees, ``translate (B, 2)`` pixels, ``shear (B, 2)`` degrees, ``center
    (B, 2)`` pixels from the image centre -> ``(B, 2, 3)`` output-to-input map."""
    rot = angle * (math.pi / 180.0)
    sx, sy = (shear * (math.pi / 180.0)).unbind(1)
    cx, cy = center.unbind(1)
    cxt, cyt = (center + translate).unbind(1)
    cos_sy, tan_sx = torch.cos(sy), torch.tan(sx)
    a = torch.cos(rot - sy) / cos_sy
    b = -(a * tan_sx + torch.sin(rot))
    c = torch.sin(rot - sy) / cos_sy
    d = torch.cos(rot) - c * tan_sx
    m0, m1, m3, m4 = d, -b, -c, a                     # the inverse of [[a, b], [c, d]] (det 1)
    m2 = cx - m0 * cxt - m1 * cyt
    m5 = cy - m3 * cxt - m4 * cyt
    return torch.stack((torch.stack((m0, m1, m2), 1), torch.stack((m3, m4, m5), 1)), 1)


def affine_grid(theta: Tensor, height: int, width: int) -> Tensor:
    """torchvision's ``_affine_grid`` for a batch: ``(B, 2, 3)`` pixel-space matrices ->
    ``(B, H, W, 2)`` normalised sampling grid (pixel centres, ``align_corners=False``)."""
    B, dev, dt = theta.shape[0], theta.device, theta.dtype
    base = torch.empty(1, height, width, 3, dtype=dt, device=dev)
    base[..., 0].copy_(torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, width, device=dev))
    base[..., 1].copy_(torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, height,
                                      device=dev).unsqueeze(-1))
    base[..., 2].fill_(1)
    scale = torch.tensor([0.5 * width, 0.5 * height], dtype=dt, device=dev)
    rescaled = theta.transpose(1, 2) / scale                                    # (B, 3, 2)
    grid = base.view(1, height * width, 3).expand(B, -1, -1).bmm(rescaled)      # (B, H*W, 2)
    return grid.view(B, height, width, 2)


def warp_affine(x: Tensor, matrix: Tensor, interpolation: str = "nearest") -> Tensor:
    """Warp each image by its inverse affine ``matrix (B, 2, 3)`` (pixels, centred), zero fill."""
    B, _, H, W = x.shape
    grid = affine_grid(matrix.to(x.dtype), H, W)
    return F.grid_sample(x, grid, mode=interpolation, padding_mode="zeros", align_corners=False)


def _geometry_params(op: Tensor, mag: Tensor, height: int, width: int):
    """Per-sample affine arguments (as torchvision's RandAugment passes them to ``affine`` /
    ``rotate``) for op indices ``op (B,)`` and signed magnitudes ``mag (B,)`` float64."""
    zero = torch.zeros_like(mag)
    is_op = {name: op == OPS.index(name) for name in GEOMETRIC}
    # rotate(angle): angle % 360, then the inverse matrix of -angle about the centre
    angle = torch.where(is_op["Rotate"], -torch.remainder(mag, 360.0), zero)
    # translate by int(magnitude) pixels (truncation toward zero)
    tx = torch.where(is_op["TranslateX"], torch.trunc(mag), zero)
    ty = torch.where(is_op["TranslateY"], torch.trunc(mag), zero)
    # shear by degrees(atan(magnitude)) about the top-left corner (center=[0, 0])
    shear_deg = torch.atan(mag) * (180.0 / math.pi)
    shx = torch.where(is_op["ShearX"], shear_deg, zero)
    shy = torch.where(is_op["ShearY"], shear_deg, zero)
    corner = is_op["ShearX"] | is_op["ShearY"]
    cx = torch.where(corner, torch.full_like(mag, -0.5 * width), zero)
    cy = torch.where(corner, torch.full_like(mag, -0.5 * height), zero)
    return angle, torch.stack((tx, ty), 1), torch.stack((shx, shy), 1), torch.stack((cx, cy), 1)


def geometric_ops(x: Tensor, op: Tensor, mag: Tensor, interpolation: str = "nearest") -> Tensor:
    """Shear / translate / rotate each sample by its own op and signed magnitude in one
    ``grid_sample`` (samples with another op get the identity map)."""
    _, _, H, W = x.shape
    matrix = inverse_affine_matrix(*_geometry_params(op, mag.double(), H, W))   # (B, 2, 3)
    # torchvision's rotate copies the image for angle % 360 == 0 (no resampling)
    unmoved = (op == OPS.index("Rotate")) & (torch.remainder(mag, 360.0) == 0)
    return torch.where(unmoved.view(-1, 1, 1, 1), x, warp_affine(x, matrix, interpolation))


# ---------------------------------------------------------------- geometry (batched PIL affine, timm)
def pil_affine_matrices(op: Tensor, arg: Tensor, height: int, width: int) -> Tensor:
    """PIL ``AFFINE`` data ``(a, b, c, d, e, f)`` of PyContrast's geometric ops (RandAugment.py
    ``shear_x``, ``shear_y``, ``translate_x_rel``, ``translate_y_rel``, ``rotate`` = PIL's
    ``Image.rotate`` about (W/2, H/2)) for op indices ``op (B,)`` into ``TIMM_OPS`` and their
    arguments ``arg (B,)`` -> ``(B, 2, 3)`` float64, mapping an output pixel centre (x + 1/2,
    y + 1/2) to input coordinates (pixel k spans [k, k + 1]); other ops get the identity."""
    arg = arg.double()
    is_op = {name: op == TIMM_OPS.index(name) for name in TIMM_GEOMETRIC}
    zero, one = torch.zeros_like(arg), torch.ones_like(arg)
    # Image.rotate(degrees): angle = -radians(degrees), matrix (cos, sin, c, -sin, cos, f)
    rad = -arg * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    rot = is_op["Rotate"]
    a = torch.where(rot, cos, one)
    b = torch.where(rot, sin, torch.where(is_op["ShearX"], arg, zero))       # (1, f, 0, 0, 1, 0)
    d = torch.where(rot, -sin, torch.where(is_op["ShearY"], arg, zero))      # (1, 0, 0, f, 1, 0)
    e = torch.where(rot, cos, one)
    # translate: (1, 0, pct * W, 0, 1, 0) / (1, 0, 0, 0, 1, pct * H); rotate keeps the centre fixed
    cx, cy = width / 2.0, height / 2.0
    c = torch.where(rot, cx - a * cx - b * cy, torch.where(is_op["TranslateXRel"], arg * width, zero))
    f = torch.where(rot, cy - d * cx - e * cy, torch.where(is_op["TranslateYRel"], arg * height, zero))
    return torch.stack((torch.stack((a, b, c), 1), torch.stack((d, e, f), 1)), 1)


def _cubic_weights(t: Tensor) -> Tensor:
    """Weights of taps -1, 0, 1, 2 at fraction ``t`` for PIL's transform ``BICUBIC`` macro
    (cubic convolution with a = -1, not resize's -0.5 nor grid_sample's -0.75): ``(...) -> (..., 4)``."""
    t2, t3 = t * t, t * t * t
    return torch.stack((-t + 2 * t2 - t3, 1 - 2 * t2 + t3, t + t2 - t3, t3 - t2), dim=-1)


def _bicubic_sample(x: Tensor, grid: Tensor) -> Tensor:
    """PIL's affine bicubic filter at the normalised ``grid (B, H', W', 2)``: 4 x 4 taps
    clamped to the image, each row interpolated along x then the four rows along y (a = -1),
    clipped to [0, 1]; one ``gather`` of 4 taps per row -> ``(B, C, H', W')``."""
    B, C, H, W = x.shape
    Ho, Wo = grid.shape[1:3]
    px = (grid[..., 0] + 1.0) * (0.5 * W) - 0.5                                 # (B, H', W') pixel index
    py = (grid[..., 1] + 1.0) * (0.5 * H) - 0.5
    x0, y0 = px.floor(), py.floor()
    wx = _cubic_weights(px - x0).view(B, 1, Ho * Wo, 4)
    wy = _cubic_weights(py - y0).view(B, 1, Ho * Wo, 4)
    taps = torch.arange(-1, 3, device=x.device)
    cols = (x0.long().view(B, 1, Ho * Wo, 1) + taps).clamp_(0, W - 1)          # (B, 1, H'W', 4)
    rows = (y0.long().view(B, 1, Ho * Wo, 1) + taps).clamp_(0, H - 1) * W
    flat = x.reshape(B, C, H * W)
    out = torch.zeros(B, C, Ho * Wo, dtype=x.dtype, device=x.device)
    for j in range(4):
        idx = (rows[..., j:j + 1] + cols).view(B, 1, Ho * Wo * 4).expand(B, C, -1)
        row = (flat.gather(2, idx).view(B, C, Ho * Wo, 4) * wx).sum(dim=-1)    # (B, C, H'W')
        out += wy[..., j] * row
    return out.view(B, C, Ho, Wo).clamp_(0.0, 1.0)


def pil_affine(x: Tensor, matrix: Tensor, fill, interpolation: str = "bilinear") -> Tensor:
    """PIL ``img.transform(img.size, Image.AFFINE, data, resample, fillcolor=fill)`` per sample:
    ``x (B, C, H, W)``, ``matrix (B, 2, 3)`` PIL data (output pixel centre -> input point), ``fill``
    a float or C floats. A point inside the image is interpolated with the taps clamped to the
    image ("bilinear": ``grid_sample`` with border padding; "bicubic": PIL's a = -1 kernel), a
    point outside gets ``fill`` (a hard edge, as PIL; no blending with the fill)."""
    B, C, H, W = x.shape
    # PIL maps p_out -> L p_out + t in top-left pixel units; affine_grid takes the same map in
    # centred units p - h, h = (W/2, H/2): p_in - h = L (p_out - h) + (L h + t - h)
    a, b, c = matrix[:, 0].double().unbind(1)
    d, e, f = matrix[:, 1].double().unbind(1)
    hx, hy = 0.5 * W, 0.5 * H
    theta = torch.stack((torch.stack((a, b, a * hx + b * hy + c - hx), 1),
                         torch.stack((d, e, d * hx + e * hy + f - hy), 1)), 1).to(x.dtype)   # (B, 2, 3)
    grid = affine_grid(theta, H, W)                                              # (B, H, W, 2)
    inside = ((grid >= -1.0) & (grid < 1.0)).all(dim=-1).unsqueeze(1)          # 0 <= x_in < W, ...
    if interpolation == "bilinear":
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    elif interpolation == "bicubic":
        out = _bicubic_sample(x, grid)
    else:
        raise ValueError(f"interpolation must be 'bilinear' or 'bicubic', got {interpolation!r}")
    fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)   # (1, C, 1, 1)
    return torch.where(inside, out, fill)


# ---------------------------------------------------------------- colour ops (float, per sample)
def adjust_sharpness(x: Tensor, factor: Tensor) -> Tensor:
    """torchvision ``adjust_sharpness``: blend the interior with a 3x3 smoothing (1s around a
    5, / 13) by ``factor (B,)``; the one-pixel border is kept."""
    B, C, H, W = x.shape
    if H <= 2 or W <= 2:
        return x.clone()
    a, b = 1.0 / 13.0, 5.0 / 13.0
    kernel = torch.tensor([[a, a, a], [a, b, a], [a, a, a]], dtype=x.dtype, device=x.device)
    smooth = F.conv2d(x, kernel.expand(C, 1, 3, 3), groups=C)                 # (B, C, H-2, W-2)
    out = x.clone()
    inner = out[..., 1:-1, 1:-1]
    inner.add_((1.0 - factor).view(-1, 1, 1, 1) * (smooth - inner))
    return out.clamp_(0.0, 1.0)


def posterize(x: Tensor, bits: Tensor) -> Tensor:
    """torchvision float ``posterize``: floor(x 2^bits) / 2^bits, ``bits (B,)``."""
    levels = torch.pow(2.0, bits.to(x.dtype)).view(-1, 1, 1, 1)
    return (x * levels).floor_().clamp_(min=torch.zeros_like(levels), max=levels - 1) * (1.0 / levels)


def solarize(x: Tensor, threshold: Tensor) -> Tensor:
    """Invert the pixels at or above ``threshold (B,)``."""
    return torch.where(x >= threshold.to(x.dtype).view(-1, 1, 1, 1), 1.0 - x, x)


def autocontrast(x: Tensor) -> Tensor:
    """Stretch each channel to [0, 1] (constant channels are left as they are)."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    flat = hi == lo
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    span = torch.where(flat, torch.ones_like(hi), hi - lo)
    return ((x - lo) / span).clamp_(0.0, 1.0)


def _to_uint8_levels(x: Tensor) -> Tensor:
    """torchvision ``to_dtype(uint8, scale=True)`` of a float image, as int64 levels."""
    return x.clamp(0.0, 1.0).mul_(255.0 + 1.0 - 1e-3).to(torch.uint8).long()


def equalize(x: Tensor) -> Tensor:
    """torchvision ``equalize`` per image and channel: a 256-bin histogram per channel (one
    ``scatter_add`` over the batch), PIL's LUT ``(cdf[k-1] + step // 2) // step``,
    step = (pixels not of the top level) // 255; an image with step 0 is only quantised."""
    B, C, H, W = x.shape
    q = _to_uint8_levels(x).view(B * C, H * W)                                   # (BC, HW)
    hist = torch.zeros(B * C, 256, dtype=torch.int32, device=x.device)
    hist.scatter_add_(1, q, torch.ones_like(q, dtype=torch.int32))
    cdf = hist.cumsum(dim=1)                                                      # (BC, 256)
    top = cdf.argmax(dim=1, keepdim=True)                                         # last used level
    step = torch.div(H * W - hist.gather(1, top), 255, rounding_mode="floor")     # (BC, 1)
    lut = torch.div(cdf[:, :-1] + step // 2, step.clamp(min=1), rounding_mode="floor").clamp_(0, 255)
    lut = torch.cat((torch.zeros_like(lut[:, :1]), lut), dim=1)                   # (BC, 256)
    out = torch.where(step != 0, lut.gather(1, q), q)
    return out.view(B, C, H, W).to(x.dtype) * (1.0 / 255.0)


def invert(x: Tensor) -> Tensor:
    """PIL ``ImageOps.invert``: 1 - x."""
    return 1.0 - x


def posterize_msb(x: Tensor, bits: Tensor) -> Tensor:
    """PIL ``ImageOps.posterize`` (PyContrast's ``posterize``): keep the top ``bits (B,)`` (0..8)
    bits of each uint8 level (quantised as ``to_dtype(uint8, scale=True)``), / 255."""
    # (clamped: the masked path also runs this on samples whose argument belongs to another op)
    step = torch.pow(2.0, 8.0 - bits.double().clamp(0.0, 8.0)).long().view(-1, 1, 1, 1)   # 2^(8 - bits)
    q = torch.div(_to_uint8_levels(x), step, rounding_mode="floor") * step
    return q.to(x.dtype) * (1.0 / 255.0)


def solarize_add(x: Tensor, add: Tensor, threshold: float = 128.0) -> Tensor:
    """PyContrast's ``solarize_add``: levels below ``threshold`` (of 255) get ``add (B,)`` (of
    255) added, clipped at 1; the rest are kept."""
    below = x < x.new_full((), threshold) / 255.0                   # the same rounding as k / 255
    added = (x + add.to(x.dtype).view(-1, 1, 1, 1) / 255.0).clamp_(max=1.0)
    return torch.where(below, added, x)


def _timm_colour_fns():
    """TIMM_OPS name -> ``fn(x, arg (B,)) -> x`` for the non-geometric ops of PyContrast's
    RandAugment.py; the enhance ops are PIL's ``ImageEnhance`` blends, as torchvision's."""
    return {
        "AutoContrast": lambda x, a: autocontrast(x),
        "Equalize": lambda x, a: equalize(x),
        "Invert": lambda x, a: invert(x),
        "PosterizeTpu": lambda x, a: posterize_msb(x, a),
        # ImageOps.solarize(img, thresh): invert the levels >= thresh (thresh 256: none)
        "Solarize": lambda x, a: solarize(x, a / 255.0),
        "SolarizeAdd": lambda x, a: solarize_add(x, a),
        "Color": lambda x, a: adjust_saturation(x, a),
        "Contrast": lambda x, a: adjust_contrast(x, a),
        "Brightness": lambda x, a: adjust_brightness(x, a),
        "Sharpness": lambda x, a: adjust_sharpness(x, a),
    }


def _colour_fns():
    """op name -> ``fn(x, signed_magnitude (B,)) -> x`` for the non-geometric ops."""
    return {
        "Brightness": lambda x, m: adjust_brightness(x, 1.0 + m),
        "Color": lambda x, m: adjust_saturation(x, 1.0 + m),
        "Contrast": lambda x, m: adjust_contrast(x, 1.0 + m),
        "Sharpness": lambda x, m: adjust_sharpness(x, 1.0 + m),
        "Posterize": lambda x, m: posterize(x, m),
        "Solarize": lambda x, m: solarize(x, m),
        "AutoContrast": lambda x, m: autocontrast(x),
        "Equalize": lambda x, m: equalize(x),
    }


# ---------------------------------------------------------------- per-sample dispatch
def _run_groups(x: Tensor, groups, indexed: bool) -> Tensor:
    """Apply per-sample ops: ``groups`` is a list of ``(chosen (B,) bool, fn)`` with disjoint
    masks, ``fn(x_sel, sel)`` transforming the samples ``sel`` (it indexes the per-sample
    arguments: an index tensor, or ``slice(None)`` for the whole batch); samples in no group are
    kept. ``indexed`` (CPU): each ``fn`` runs on its own samples only; else every ``fn`` runs on
    the whole batch and ``torch.where`` keeps its samples (no host synchronisation)."""
    if indexed:
        out = x.clone()
        for chosen, fn in groups:
            idx = torch.nonzero(chosen).squeeze(1)
            if idx.numel():
                out[idx] = fn(x[idx], idx)
        return out
    out = x
    for chosen, fn in groups:
        out = torch.where(chosen.view(-1, 1, 1, 1), fn(x, slice(None)), out)
    return out


# ---------------------------------------------------------------- the transform
POLICIES = ("torchvision", "timm")
TIMM_INTERPOLATIONS = ("random", "bilinear", "bicubic")


class TimmParams(NamedTuple):
    """Per-sample draws of ``RandAugment(policy="timm")``, each ``(B, n)``."""
    ops: Tensor       # op indices into TIMM_OPS (np.random.choice(ops, n), with replacement)
    negate: Tensor    # bool: _randomly_negate's outcome (used by the signed ops only)
    applied: Tensor   # bool: the op runs (AutoAugmentOp: skipped if random() > prob)
    level: Tensor     # float64: the magnitude, clip(N(m, magnitude_std), 0, 10)
    bicubic: Tensor   # bool: bicubic, else bilinear resampling (geometric ops)


def _check_fill(fill) -> tuple[float, float, float]:
    values = (fill,) * 3 if isinstance(fill, (int, float)) else tuple(fill)
    if len(values) != 3 or not all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"fill must be a float or 3 floats in [0, 1], got {fill!r}")
    return tuple(float(v) for v in values)


class RandAugment:
    """RandAugment per sample, with the op set and magnitudes of ``policy``.

    ``policy="torchvision"`` (the default): torchvision ``RandAugment(num_ops=n, magnitude=m,
    num_magnitude_bins=31)``. For each of ``n`` positions every sample draws an op uniformly
    from ``OPS`` (14 ops) and, for the signed ops, a sign (+/- with probability 1/2 each); the
    magnitudes are torchvision's at bin ``m`` of ``num_magnitude_bins`` (m = 10 of 31: shear
    0.1, rotate 10 degrees, translate 0.15 of the side, enhance factors 1 +/- 0.3, posterize 7
    bits, solarize at 2/3). Geometric ops use ``interpolation`` ("nearest", torchvision's
    default, or "bilinear") and fill 0.

    ``policy="timm"``: PyContrast's ``pycontrast/datasets/RandAugment.py`` (timm's RandAugment,
    ``rand_augment_transform``): for each of ``n`` positions every sample draws one of the 15
    ``TIMM_OPS`` uniformly (with replacement), applies it with probability ``prob`` (0.5, fixed
    in the file's ``rand_augment_ops``) at a magnitude ``clip(N(m, magnitude_std), 0, 10)``
    drawn per op call, mapped to the op's argument by the file's ``LEVEL_TO_ARG``
    (``timm_op_args``; only rotate, shear and translate get a random sign; the enhance factors
    are (level / 10) 1.8 + 0.1, unsigned). Geometric ops are PIL affine warps
    (``pil_affine``): ``interpolation="random"`` (the file's default) draws bilinear or bicubic
    per sample and op, as ``random.choice((BILINEAR, BICUBIC))``; points that fall outside the
    image get ``fill`` (the file's ``img_mean`` hparam; default its ``_FILL`` grey 128).
    PyContrast's InfoMin uses ``rand-n2-m10-mstd0.5`` with the ImageNet mean fill
    (``INFOMIN_RANDAUGMENT``).

    The two are not interchangeable by magnitude: torchvision's bin 30 of 31 has the same shear,
    rotation and translation ranges as timm's m = 10, but enhance factors 0.1 or 1.9 (signed),
    a solarize threshold of 0 (every pixel inverted) and 4-bit posterize, and it applies every
    drawn op. Timm's m = 10 with mstd 0.5 (level 10 for the half of the draws clipped there,
    else 10 - |N(0, 0.5)|) gives enhance factors 1.45..1.9 (never a reduction), a solarize
    threshold int(25.6 level), 256 (a no-op) at level 10, and 3 or 4 posterize bits, and each
    op runs with probability 1/2.
    """

    def __init__(self, n: int = 2, m: float = 10, num_magnitude_bins: int | None = None,
                 interpolation: str | None = None, policy: str = "torchvision",
                 magnitude_std: float | None = None, prob: float | None = None, fill=None):
        if policy not in POLICIES:
            raise ValueError(f"policy must be 'torchvision' or 'timm', got {policy!r}")
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n (ops per image) must be a non-negative integer, got {n!r}")
        self.policy, self.n = policy, n
        if policy == "torchvision":
            for name, value in (("magnitude_std", magnitude_std), ("prob", prob), ("fill", fill)):
                if value is not None:
                    raise ValueError(f"{name} is an argument of policy='timm' only")
            self._init_torchvision(m, 31 if num_magnitude_bins is None else num_magnitude_bins,
                                   "nearest" if interpolation is None else interpolation)
        else:
            if num_magnitude_bins is not None:
                raise ValueError("num_magnitude_bins is an argument of policy='torchvision' only "
                                 "(timm's magnitude is a number in [0, 10])")
            self._init_timm(m, 0.0 if magnitude_std is None else magnitude_std,
                            0.5 if prob is None else prob,
                            "random" if interpolation is None else interpolation,
                            TIMM_FILL if fill is None else fill)

    def _init_torchvision(self, m, num_magnitude_bins, interpolation):
        if not isinstance(num_magnitude_bins, int) or num_magnitude_bins < 2:
            raise ValueError(f"num_magnitude_bins must be an integer >= 2, got {num_magnitude_bins!r}")
        if not isinstance(m, int) or not 0 <= m < num_magnitude_bins:
            raise ValueError(f"m (magnitude) must be an integer in [0, {num_magnitude_bins - 1}], got {m!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        self.m, self.num_magnitude_bins, self.interpolation = m, num_magnitude_bins, interpolation
        self._colour = _colour_fns()
        self._tables: dict = {}

    def _init_timm(self, m, magnitude_std, prob, interpolation, fill):
        def real(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not real(m) or not 0 <= m <= TIMM_MAX_LEVEL:
            raise ValueError(f"m (magnitude) must be a number in [0, 10] for policy='timm', got {m!r}")
        if not real(magnitude_std) or magnitude_std < 0:
            raise ValueError(f"magnitude_std must be a finite number >= 0, got {magnitude_std!r}")
        if not real(prob) or not 0 <= prob <= 1:
            raise ValueError(f"prob must lie in [0, 1], got {prob!r}")
        if interpolation not in TIMM_INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {TIMM_INTERPOLATIONS} for policy='timm', "
                             f"got {interpolation!r}")
        self.m, self.magnitude_std, self.prob = m, magnitude_std, prob
        self.interpolation, self.fill = interpolation, _check_fill(fill)
        self._colour = _timm_colour_fns()
        self._fills: dict = {}

    # ---- parameters
    def sample_params(self, batch: int, g=None, device="cpu"):
        """Per-sample draws. torchvision: ``ops (batch, n)`` op indices into ``OPS``, ``negate
        (batch, n)`` sign flips. timm: a ``TimmParams`` of ``(batch, n)`` tensors (its first two
        fields are ``ops`` into ``TIMM_OPS`` and ``negate``)."""
        if self.policy == "timm":
            return self._sample_timm(batch, g, device)
        k = len(OPS)
        u = _uniform(g, batch * self.n, 0.0, 1.0, device).view(batch, self.n)
        ops = torch.floor(u * k).long().clamp_(max=k - 1)
        negate = _uniform(g, batch * self.n, 0.0, 1.0, device).view(batch, self.n) <= 0.5
        return ops, negate

    def _sample_timm(self, batch: int, g, device) -> TimmParams:
        """PyContrast's draws for every sample and position (all drawn, used where they apply)."""
        k, shape, count = len(TIMM_OPS), (batch, self.n), batch * self.n
        u = _uniform(g, count, 0.0, 1.0, device).view(shape)
        ops = torch.floor(u * k).long().clamp_(max=k - 1)                       # uniform, with replacement
        applied = _bernoulli(g, count, self.prob, device).view(shape)           # random() <= prob
        gen_device = g.device if g is not None else "cpu"
        z = torch.randn(count, generator=g, device=gen_device, dtype=torch.float64).to(device)
        level = (self.m + self.magnitude_std * z).clamp_(0.0, TIMM_MAX_LEVEL).view(shape)   # gauss, clip
        negate = (_uniform(g, count, 0.0, 1.0, device) > 0.5).view(shape)       # -v if random() > 0.5
        bicubic = _bernoulli(g, count, 0.5, device).view(shape)                 # random.choice of 2 filters
        if self.interpolation != "random":
            bicubic = torch.full_like(bicubic, self.interpolation == "bicubic")
        return TimmParams(ops, negate, applied, level, bicubic)

    def _table(self, height: int, width: int, device) -> tuple[Tensor, Tensor]:
        """``(len(OPS),)`` float64 magnitudes and signed-op flags, cached per size and device."""
        key = (height, width, device)
        if key not in self._tables:
            mags = op_magnitudes(self.m, self.num_magnitude_bins, height, width)
            self._tables[key] = (torch.tensor([mags[o] for o in OPS], dtype=torch.float64, device=device),
                                 torch.tensor([o in SIGNED for o in OPS], device=device))
        return self._tables[key]

    def signed_magnitudes(self, op: Tensor, negate: Tensor, height: int, width: int) -> Tensor:
        """(torchvision) ``(B,)`` float64 magnitude of each sample's op, negated where drawn
        (signed ops)."""
        mags, signed = self._table(height, width, op.device)
        flip = negate & signed[op]
        return torch.where(flip, -mags[op], mags[op])

    # ---- application
    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        elif not x.is_floating_point():
            raise ValueError(f"RandAugment needs float images in [0, 1] (or uint8), got {x.dtype}")
        return self.apply(x, *self.sample_params(x.shape[0], g, x.device))

    def apply(self, x: Tensor, ops: Tensor, negate: Tensor, applied: Tensor | None = None,
              level: Tensor | None = None, bicubic: Tensor | None = None,
              indexed: bool | None = None) -> Tensor:
        """Apply drawn parameters (``sample_params``; all ``(B, n)``) position by position:
        torchvision takes ``ops, negate``; timm also ``applied, level, bicubic`` (``bicubic`` is
        read only with ``interpolation="random"``). ``indexed`` (default: on CPU) runs each op
        on its samples only, else masked full-batch ops."""
        indexed = x.device.type == "cpu" if indexed is None else indexed
        extra = (applied, level, bicubic)
        if self.policy == "torchvision":
            if any(v is not None for v in extra):
                raise ValueError("policy='torchvision' takes only ops and negate")
            for pos in range(ops.shape[1]):
                mag = self.signed_magnitudes(ops[:, pos], negate[:, pos], x.shape[-2], x.shape[-1])
                x = _run_groups(x, self._torchvision_groups(ops[:, pos], mag, x.dtype), indexed)
            return x
        if any(v is None for v in extra):
            raise ValueError("policy='timm' needs ops, negate, applied, level and bicubic (TimmParams)")
        if self.interpolation != "random":
            bicubic = torch.full_like(applied, self.interpolation == "bicubic")
        for pos in range(ops.shape[1]):
            groups = self._timm_groups(ops[:, pos], negate[:, pos], applied[:, pos], level[:, pos],
                                       bicubic[:, pos], x.shape[-2], x.shape[-1], x.dtype)
            x = _run_groups(x, groups, indexed)
        return x

    def _is_geometric(self, op: Tensor) -> Tensor:
        geo = torch.zeros(len(OPS), dtype=torch.bool, device=op.device)
        geo[[OPS.index(o) for o in GEOMETRIC]] = True
        return geo[op]

    def _torchvision_groups(self, op: Tensor, mag: Tensor, dtype):
        """One op position (torchvision): the geometric ops in one ``grid_sample``, then each
        colour op; ``op (B,)``, signed ``mag (B,)``."""
        mag_x = mag.to(dtype)
        groups = [(self._is_geometric(op),
                   lambda xs, s: geometric_ops(xs, op[s], mag[s], self.interpolation))]
        for name, fn in self._colour.items():
            groups.append((op == OPS.index(name), lambda xs, s, fn=fn: fn(xs, mag_x[s])))
        return groups

    def _timm_groups(self, op: Tensor, negate: Tensor, applied: Tensor, level: Tensor,
                     bicubic: Tensor, height: int, width: int, dtype):
        """One op position (timm): the geometric ops in one warp per resampling filter, then
        each colour op; samples whose op is not ``applied`` are left as they are. All ``(B,)``."""
        arg = timm_op_args(op, level, negate)                                     # (B,) float64
        arg_x = arg.to(dtype)
        geo = _timm_tables(op.device)[2][op] & applied
        fill = self._fill_tensor(op.device, dtype)                                # (3,)

        def warp(mode):
            return lambda xs, s: pil_affine(xs, pil_affine_matrices(op[s], arg[s], height, width),
                                            fill, mode)
        groups = [(geo & ~bicubic, warp("bilinear")), (geo & bicubic, warp("bicubic"))]
        if self.interpolation != "random":                # only one filter is ever drawn
            groups = groups[:1] if self.interpolation == "bilinear" else groups[1:]
        for name, fn in self._colour.items():
            chosen = (op == TIMM_OPS.index(name)) & applied
            groups.append((chosen, lambda xs, s, fn=fn: fn(xs, arg_x[s])))
        return groups

    def _fill_tensor(self, device, dtype) -> Tensor:
        key = (device, dtype)
        if key not in self._fills:
            self._fills[key] = torch.tensor(self.fill, dtype=dtype, device=device)
        return self._fills[key]

    def __repr__(self):
        if self.policy == "timm":
            fill = ", ".join(f"{v:.4f}" for v in self.fill)
            return (f"RandAugment(policy='timm', n={self.n}, m={self.m}, magnitude_std={self.magnitude_std}, "
                    f"prob={self.prob}, interpolation={self.interpolation!r}, fill=({fill}))")
        return (f"RandAugment(n={self.n}, m={self.m}, num_magnitude_bins={self.num_magnitude_bins}, "
                f"interpolation={self.interpolation!r})")


# ---------------------------------------------------------------- recipes
# PyContrast datasets/util.py aug 'D': rand_augment_transform('rand-n2-m10-mstd0.5', ra_params)
# with ra_params img_mean = the ImageNet mean (translate_const is unused: only TranslateX/YRel)
INFOMIN_RANDAUGMENT = dict(policy="timm", n=2, m=10, magnitude_std=0.5, prob=0.5,
                           interpolation="random", fill=IMAGENET_FILL)


def infomin_augment(size: int = 32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                    channels_last: bool = True) -> Compose:
    """InfoMin's view recipe (Tian et al. 2020, official PyContrast ``datasets/util.py`` aug 'D'):
    RandomResizedCrop(size, (0.2, 1)) + flip, RandomApply(ColorJitter(0.8, 0.8, 0.8, 0.2),
    p=0.8), RandomApply(GaussianBlur(sigma 0.1..2 at 224 px, scaled to the image), p=0.5),
    RandAugment ``rand-n2-m10-mstd0.5``, RandomGrayscale(0.2), Normalize. The RandAugment is
    PyContrast's own (timm's, ``datasets/RandAugment.py``): ``RandAugment(policy="timm")`` with
    :data:`INFOMIN_RANDAUGMENT`: two of 15 ops, each applied with p = 0.5 at a magnitude
    clip(N(10, 0.5), 0, 10), random bilinear / bicubic warps filled with the ImageNet mean
    (124, 116, 104) / 255. Input: uint8 or float ``(B, 3, H, W)``."""
    return Compose([RandomResizedCrop(size, (0.2, 1.0), flip_p=0.5),
                    ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8),
                    GaussianBlur(p=0.5),
                    RandAugment(**INFOMIN_RANDAUGMENT),
                    RandomGrayscale(0.2),
                    Normalize(mean, std)], channels_last=channels_last)


def augmentation_ladder(size: int = 32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                        channels_last: bool = True) -> "OrderedDict[str, Compose]":
    """Recipes from weak to strong, for "stronger augmentation lowers the information the two
    views share" (InfoMin, Tian et al. 2020; PyContrast ``datasets/util.py`` recipes):

    - "crop": RandomResizedCrop(size, (0.2, 1)) + flip + Normalize;
    - "crop+jitter": adds ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8) + RandomGrayscale(0.2)
      (the SimCLR / MoCo v2 colour recipe, PyContrast aug 'B' without blur);
    - "crop+jitter+blur": adds GaussianBlur(p=0.5) (PyContrast aug 'B');
    - "infomin": ``infomin_augment`` (PyContrast aug 'D').
    """
    def crop():
        return RandomResizedCrop(size, (0.2, 1.0), flip_p=0.5)

    def colour():
        return [ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), RandomGrayscale(0.2)]

    def norm():
        return Normalize(mean, std)

    return OrderedDict([
        ("crop", Compose([crop(), norm()], channels_last=channels_last)),
        ("crop+jitter", Compose([crop(), *colour(), norm()], channels_last=channels_last)),
        ("crop+jitter+blur", Compose([crop(), *colour(), GaussianBlur(p=0.5), norm()],
                                     channels_last=channels_last)),
        ("infomin", infomin_augment(size, mean, std, channels_last=channels_last)),
    ])
