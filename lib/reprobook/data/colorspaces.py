r"""Colour spaces as views (CMC, InfoMin): batched conversions of RGB images on CPU or GPU.

Contrastive Multiview Coding (Tian et al. 2019) treats the channels of a colour space as views
of one image: L against ab in Lab, Y against CbCr in YCbCr, and single channels for more views.
The conversions follow scikit-image (``skimage.color.rgb2lab`` / ``rgb2ycbcr`` / ``rgb2hsv``),
which the official HobbitLong/CMC code calls per image, and the official normalisation:

* Lab (sRGB, D65, 2° observer): L in [0, 100], a and b about [-86, 98] and [-108, 94];
  normalised with mean ``(50, 6.025, -6.6895)`` and std ``(50, 92.208, 101.1675)``
  (the midpoints and half-ranges of the Lab gamut, CMC's ``train_CMC.py``);
* YCbCr (ITU-R BT.601, studio swing as scikit-image): Y in [16, 235], Cb and Cr in [16, 240];
  normalised with CMC's ``mean (116.151, 121.080, 132.342)``, ``std (109.500, 111.855, 111.964)``;
* HSV: each channel in [0, 1], normalised to mean 0.5, std 0.5 (no official statistics).

    views = ColorViews("lab", groups=[[0], [1, 2]])        # L | ab
    l, ab = views(x_uint8)                                  # (N, 1, H, W), (N, 2, H, W) floats
"""
from __future__ import annotations

from typing import Sequence

import torch

from .augment import _rgb_to_hsv

Tensor = torch.Tensor

# skimage.color: sRGB -> XYZ (D65) and the reference white of the 2 degree observer
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
               (0.212671, 0.715160, 0.072169),
               (0.019334, 0.119193, 0.950227))
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_YCBCR = ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
_YCBCR_OFFSET = (16.0, 128.0, 128.0)

SPACES = ("rgb", "lab", "ycbcr", "hsv")
CHANNELS = {"rgb": ("R", "G", "B"), "lab": ("L", "a", "b"), "ycbcr": ("Y", "Cb", "Cr"), "hsv": ("H", "S", "V")}
#: per-channel normalisation of each space (CMC's for Lab and YCbCr)
NORMALISATION = {
    "rgb": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "lab": (((0 + 100) / 2, (-86.183 + 98.233) / 2, (-107.857 + 94.478) / 2),
            ((100 - 0) / 2, (86.183 + 98.233) / 2, (107.857 + 94.478) / 2)),
    "ycbcr": ((116.151, 121.080, 132.342), (109.500, 111.855, 111.964)),
    "hsv": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def _as_float01(x: Tensor) -> Tensor:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point in [0, 1], got {x.dtype}")
    lo, hi = (float(v) for v in torch.aminmax(x.detach())) if x.numel() else (0.0, 1.0)
    if lo < -1e-3 or hi > 1 + 1e-3:                       # one sync per batch: worth a silent 255x error

        raise ValueError(f"floating-point images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
                         f"(pass uint8 images, or divide by 255)")
    return x


def _mix(x: Tensor, matrix) -> Tensor:
    m = torch.tensor(matrix, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,njhw->nihw", m, x)


def rgb_to_lab(x: Tensor) -> Tensor:
    """sRGB ``(N, 3, H, W)`` (uint8, or floats in [0, 1]) to CIE Lab, as ``skimage.color.rgb2lab``."""
    x = _as_float01(x)
    linear = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = _mix(linear, _RGB_TO_XYZ) / torch.tensor(_WHITE_D65, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(0) ** (1 / 3), 7.787 * xyz + 16 / 116)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], dim=1)


def rgb_to_ycbcr(x: Tensor) -> Tensor:
    """sRGB to YCbCr (BT.601, Y in [16, 235]), as ``skimage.color.rgb2ycbcr``."""
    x = _as_float01(x)
    offset = torch.tensor(_YCBCR_OFFSET, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return _mix(x, _YCBCR) + offset


def rgb_to_hsv(x: Tensor) -> Tensor:
    """sRGB to HSV, each channel in [0, 1], as ``skimage.color.rgb2hsv``."""
    return _rgb_to_hsv(_as_float01(x))


CONVERSIONS = {"rgb": _as_float01, "lab": rgb_to_lab, "ycbcr": rgb_to_ycbcr, "hsv": rgb_to_hsv}


def convert(x: Tensor, space: str, normalise: bool = True) -> Tensor:
    """``x`` in ``space`` (one of :data:`SPACES`), normalised per channel unless ``normalise=False``."""
    if space not in CONVERSIONS:
        raise ValueError(f"unknown colour space {space!r}; valid: {', '.join(SPACES)}")
    out = CONVERSIONS[space](x)
    if normalise:
        mean, std = (torch.tensor(v, dtype=out.dtype, device=out.device).view(1, 3, 1, 1)
                     for v in NORMALISATION[space])
        out = (out - mean) / std
    return out


class ColorViews:
    """Split images into views, each a group of channels of one colour space.

    ``ColorViews("lab", [[0], [1, 2]])`` is CMC's L | ab; ``ColorViews.parse("L|ab")`` the same
    by channel names, which may mix spaces across views (``"L|ab|Y"``, ``"L|a|b|S"``): names are
    L, a, b (Lab), Y, Cb, Cr (YCbCr), H, S, V (HSV), R, G, B. Returns a list of
    ``(N, len(group), H, W)`` tensors, normalised; each space is converted once per call.
    """

    def __init__(self, space: str = "lab", groups: Sequence[Sequence[int]] = ((0,), (1, 2))):
        if space not in CONVERSIONS:
            raise ValueError(f"unknown colour space {space!r}; valid: {', '.join(SPACES)}")
        flat = [c for g in groups for c in g]
        if not groups or any(not g for g in groups) or any(c not in (0, 1, 2) for c in flat) \
                or len(flat) != len(set(flat)):
            raise ValueError(f"groups must be non-empty, disjoint lists of channels 0-2, got {groups}")
        self.views = [(space, list(g)) for g in groups]

    @classmethod
    def parse(cls, spec: str) -> "ColorViews":
        """Views by channel names separated by ``|``: ``"L|ab"``, ``"Y|CbCr"``, ``"L|a|b|S"``."""
        names = {n: (space, k) for space, chans in CHANNELS.items() for k, n in enumerate(chans)}
        views = []
        for part in spec.split("|"):
            channels, rest = [], part.strip()
            if not rest:
                raise ValueError(f"{spec!r} has an empty view; write views as channel names between '|', e.g. 'L|ab'")
            while rest:
                match = next((n for n in sorted(names, key=len, reverse=True) if rest.startswith(n)), None)
                if match is None:
                    raise ValueError(f"cannot read view {part!r} of {spec!r}; channel names: {', '.join(names)}")
                channels.append(names[match])
                rest = rest[len(match):]
            spaces = {space for space, _ in channels}
            if not channels or len(spaces) != 1:
                raise ValueError(f"view {part!r} of {spec!r} must take channels of one colour space")
            views.append((spaces.pop(), [k for _, k in channels]))
        if len(set((sp, tuple(ch)) for sp, ch in views)) != len(views):
            raise ValueError(f"{spec!r} repeats a view")
        used = [(sp, c) for sp, ch in views for c in ch]
        if len(set(used)) != len(used):
            raise ValueError(f"{spec!r} uses a channel twice: views must be disjoint")
        out = cls.__new__(cls)
        out.views = views
        return out

    @property
    def names(self) -> list[str]:
        return ["".join(CHANNELS[space][c] for c in g) for space, g in self.views]

    @property
    def channels(self) -> list[int]:
        """The number of channels of each view (what each view's encoder reads)."""
        return [len(g) for _, g in self.views]

    def __len__(self) -> int:
        return len(self.views)

    def __call__(self, x: Tensor) -> list[Tensor]:
        converted = {space: convert(x, space) for space in dict.fromkeys(sp for sp, _ in self.views)}
        return [converted[space][:, g] for space, g in self.views]

    def __repr__(self) -> str:
        return f"ColorViews({' | '.join(self.names)})"
