"""Batched RandAugment and the InfoMin view recipe, per-sample random ops, on any device.

RandAugment (Cubuk et al. 2019, "RandAugment: Practical automated data augmentation with a
reduced search space") applies ``n`` ops drawn uniformly from a fixed list, each at one global
magnitude ``m``. The op list, magnitude formulas, sign flips, nearest interpolation and zero
fill are those of ``torchvision.transforms.v2.RandAugment(num_ops=n, magnitude=m,
num_magnitude_bins=31)`` (tested op by op against ``torchvision.transforms.v2.functional`` in
tests/data/test_blur_randaugment.py); the ops and signs are drawn per sample and applied to the
whole batch at once: each op position costs one ``grid_sample`` for the geometric ops and one
masked (GPU) or indexed (CPU) call of each colour op.

Images are float ``(B, 3, H, W)`` in [0, 1]; the ops that need integer values follow
torchvision's float path (posterize: floor(x 2^bits) / 2^bits; equalize: quantised to uint8 as
``to_dtype(uint8, scale=True)``, equalised with PIL's LUT, returned / 255).

``infomin_augment`` is InfoMin's recipe (Tian et al. 2020, official PyContrast
``datasets/util.py``, aug 'D'); ``augmentation_ladder`` orders recipes from weak to strong.
"""
from __future__ import annotations

import math
from collections import OrderedDict
import torch
import torch.nn.functional as F

from .augment import (ColorJitter, Compose, Normalize, RandomGrayscale, RandomResizedCrop,
                      _check_batch, _uniform, adjust_brightness, adjust_contrast,
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


# ---------------------------------------------------------------- the transform
class RandAugment:
    """torchvision ``RandAugment(num_ops=n, magnitude=m, num_magnitude_bins=31)``, per sample.

    For each of ``n`` positions every sample draws an op uniformly from ``OPS`` (14 ops) and,
    for the signed ops, a sign (+/- with probability 1/2 each); the magnitudes are torchvision's
    at bin ``m`` of ``num_magnitude_bins`` (m = 10 of 31: shear 0.1, rotate 10 degrees,
    translate 0.15 of the side, enhance factors 1 +/- 0.3, posterize 7 bits, solarize at 2/3).
    Geometric ops use ``interpolation`` ("nearest", torchvision's default, or "bilinear") and
    fill 0.

    Note: PyContrast's InfoMin RandAugment is timm's ``rand-n2-m10-mstd0.5``: 15 ops (with
    Invert and SolarizeAdd, without Identity), each applied with p = 0.5, m = 10 on a 0..10
    scale plus N(0, 0.5) noise, random bilinear/bicubic resampling and a mean-colour fill. Here
    the torchvision definition is used, where m = 10 of 31 bins is milder: ``RandAugment(2, 30)``
    reaches timm's full-scale shear (0.3), rotation (30 degrees), translation (0.45 of the side),
    posterize (4 bits) and enhance range (0.1..1.9), while solarize runs the other way
    (torchvision's threshold falls to 0 with m, timm's rises to 256, a no-op at m = 10).
    """

    def __init__(self, n: int = 2, m: int = 10, num_magnitude_bins: int = 31,
                 interpolation: str = "nearest"):
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n (ops per image) must be a non-negative integer, got {n!r}")
        if not isinstance(num_magnitude_bins, int) or num_magnitude_bins < 2:
            raise ValueError(f"num_magnitude_bins must be an integer >= 2, got {num_magnitude_bins!r}")
        if not isinstance(m, int) or not 0 <= m < num_magnitude_bins:
            raise ValueError(f"m (magnitude) must be an integer in [0, {num_magnitude_bins - 1}], got {m!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        self.n, self.m, self.num_magnitude_bins, self.interpolation = n, m, num_magnitude_bins, interpolation
        self._colour = _colour_fns()
        self._tables: dict = {}

    # ---- parameters
    def sample_params(self, batch: int, g=None, device="cpu") -> tuple[Tensor, Tensor]:
        """``ops (batch, n)`` op indices into ``OPS``, ``negate (batch, n)`` sign flips."""
        k = len(OPS)
        u = _uniform(g, batch * self.n, 0.0, 1.0, device).view(batch, self.n)
        ops = torch.floor(u * k).long().clamp_(max=k - 1)
        negate = _uniform(g, batch * self.n, 0.0, 1.0, device).view(batch, self.n) <= 0.5
        return ops, negate

    def _table(self, height: int, width: int, device) -> tuple[Tensor, Tensor]:
        """``(len(OPS),)`` float64 magnitudes and signed-op flags, cached per size and device."""
        key = (height, width, device)
        if key not in self._tables:
            mags = op_magnitudes(self.m, self.num_magnitude_bins, height, width)
            self._tables[key] = (torch.tensor([mags[o] for o in OPS], dtype=torch.float64, device=device),
                                 torch.tensor([o in SIGNED for o in OPS], device=device))
        return self._tables[key]

    def signed_magnitudes(self, op: Tensor, negate: Tensor, height: int, width: int) -> Tensor:
        """``(B,)`` float64 magnitude of each sample's op, negated where drawn (signed ops)."""
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
        ops, negate = self.sample_params(x.shape[0], g, x.device)
        return self.apply(x, ops, negate)

    def apply(self, x: Tensor, ops: Tensor, negate: Tensor, indexed: bool | None = None) -> Tensor:
        """Apply the drawn ``ops``/``negate`` ``(B, n)`` position by position; ``indexed``
        (default: on CPU) runs each op on its samples only, else masked full-batch ops."""
        indexed = x.device.type == "cpu" if indexed is None else indexed
        step = self._apply_indexed if indexed else self._apply_masked
        for pos in range(ops.shape[1]):
            mag = self.signed_magnitudes(ops[:, pos], negate[:, pos], x.shape[-2], x.shape[-1])
            x = step(x, ops[:, pos], mag)
        return x

    def _is_geometric(self, op: Tensor) -> Tensor:
        geo = torch.zeros(len(OPS), dtype=torch.bool, device=op.device)
        geo[[OPS.index(o) for o in GEOMETRIC]] = True
        return geo[op]

    def _apply_indexed(self, x: Tensor, op: Tensor, mag: Tensor) -> Tensor:
        """One op position; each op runs on the samples that drew it (CPU)."""
        out = x.clone()
        idx = torch.nonzero(self._is_geometric(op)).squeeze(1)
        if idx.numel():
            out[idx] = geometric_ops(x[idx], op[idx], mag[idx], self.interpolation)
        for name, fn in self._colour.items():
            idx = torch.nonzero(op == OPS.index(name)).squeeze(1)
            if idx.numel():
                out[idx] = fn(x[idx], mag[idx].to(x.dtype))
        return out

    def _apply_masked(self, x: Tensor, op: Tensor, mag: Tensor) -> Tensor:
        """One op position with full-batch ops selected by masks: no host sync (accelerators)."""
        geo = self._is_geometric(op).view(-1, 1, 1, 1)
        out = torch.where(geo, geometric_ops(x, op, mag, self.interpolation), x)
        for name, fn in self._colour.items():
            chosen = (op == OPS.index(name)).view(-1, 1, 1, 1)
            out = torch.where(chosen, fn(x, mag.to(x.dtype)), out)
        return out

    def __repr__(self):
        return (f"RandAugment(n={self.n}, m={self.m}, num_magnitude_bins={self.num_magnitude_bins}, "
                f"interpolation={self.interpolation!r})")


# ---------------------------------------------------------------- recipes
# PyContrast's "rand-n2-m10" is timm's scale, where 10 is the strongest: torchvision's bin 30 of 31
INFOMIN_RANDAUGMENT = dict(n=2, m=30)


def infomin_augment(size: int = 32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                    channels_last: bool = True) -> Compose:
    """InfoMin's view recipe (Tian et al. 2020, official PyContrast ``datasets/util.py`` aug 'D'):
    RandomResizedCrop(size, (0.2, 1)) + flip, RandomApply(ColorJitter(0.8, 0.8, 0.8, 0.2),
    p=0.8), RandomApply(GaussianBlur(sigma 0.1..2 at 224 px, scaled to the image), p=0.5),
    RandAugment(n2 m10), RandomGrayscale(0.2), Normalize. PyContrast's RandAugment is timm's
    ``rand-n2-m10``, whose m = 10 is its full scale: here torchvision's ops at bin 30 of 31
    (:data:`INFOMIN_RANDAUGMENT`, the same shear, rotation, translation, posterize and enhance
    range; see ``RandAugment`` for what still differs). Input: uint8 or float ``(B, 3, H, W)``."""
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
