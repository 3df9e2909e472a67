r"""Families of two views with a controllable amount of shared information (InfoMin, Sec. 3).

Book: book/04-infomin/01-method (what each family looks like) and 02-reverse-u (the sweeps).

Tian et al. (2020) vary one parameter of how two views of an image are made and plot the
downstream accuracy against the views' :math:`I_\text{NCE}`: the *reverse-U*. Each family here
is such a parameter:

* :class:`PatchViews` (``distance``): two square patches of one image, the second ``distance``
  pixels away from the first along a random axis; the further apart, the less they share.
* :class:`ColorSplitViews` (``split``): one crop split by colour channels (``"L|ab"``,
  ``"R|GB"``, ...), CMC's views; the colour space decides how much the channels share.
* :class:`BlurViews` (``sigma``): a crop and a low-passed copy of it (Gaussian blur of standard
  deviation ``sigma`` pixels); blurring only removes information, so by the data-processing
  inequality the shared information falls as ``sigma`` grows.

Every family has the same interface: ``channels`` (what each view's encoder reads),
``__call__(x, g)`` -> ``[v1, v2]`` augmented training views of uint8 images ``(B, 3, H, W)``,
and ``whole(x)`` -> ``[v1, v2]`` the deterministic views of whole images that the linear probe
reads. Views are normalised floats.
"""
from __future__ import annotations

import math
import numbers

import torch

from .augment import Normalize, RandomResizedCrop, _bernoulli, _uniform, resized_crop
from .blur import gaussian_blur
from .colorspaces import ColorViews, _as_float01, convert

Tensor = torch.Tensor


def as_images01(x: Tensor) -> Tensor:
    """A non-empty batch ``(B, 3, H, W)`` of uint8 images or floats in [0, 1], as floats in [0, 1]
    (floats outside, e.g. 0-255, are refused: they would silently give views 255 times too bright)."""
    x = _as_float01(x)                                     # checks the shape (B, 3, H, W) and the range
    if len(x) == 0:
        raise ValueError("views of an empty batch: pass at least one image")
    return x


def resize_whole(x: Tensor, size: int) -> Tensor:
    """Whole images ``(B, 3, H, W)`` (uint8 or [0, 1] floats) as floats resized to ``size`` x ``size``."""
    x = as_images01(x)
    if x.shape[-2:] == (size, size):
        return x
    full = torch.tensor([[0, 0, x.shape[-2], x.shape[-1]]], device=x.device).expand(len(x), 4)
    return resized_crop(x, full, size)


class _ViewFamily:
    family: str = ""
    channels: tuple[int, int] = (3, 3)

    @property
    def value(self):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.value!r})"


class PatchViews(_ViewFamily):
    """Two ``patch`` x ``patch`` patches of each image whose top-left corners are ``distance``
    pixels apart along a random axis (right, left, down or up, among those that fit), each
    resized to ``size`` x ``size``; ``distance=0`` gives the same patch twice. The first patch's
    position is uniform over the positions that leave room for the second. ``whole(x)`` is the
    whole image, resized to ``size``, for both encoders."""

    family = "patch distance"

    def __init__(self, distance: int, patch: int = 16, size: int = 32, image_size: int = 32,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
        for name, v in (("distance", distance), ("patch", patch), ("size", size), ("image_size", image_size)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name} must be a whole number of pixels, got {v!r}")
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        if not 0 < patch <= image_size:
            raise ValueError(f"patch must lie in (0, image_size = {image_size}], got {patch}")
        if not 0 <= distance <= image_size - patch:
            raise ValueError(f"distance must lie in [0, image_size - patch] = [0, {image_size - patch}] "
                             f"for {patch}-px patches of {image_size}-px images, got {distance}")
        self.distance, self.patch, self.size, self.image_size = int(distance), int(patch), size, image_size
        self.norm = Normalize(mean, std)

    @property
    def value(self):
        return self.distance

    def boxes(self, n: int, g=None, device="cpu") -> tuple[Tensor, Tensor]:
        """``(n, 4)`` int boxes ``(i, j, h, w)`` of the first and the second patch."""
        p, d, room = self.patch, self.distance, self.image_size - self.patch
        axis = torch.floor(_uniform(g, n, 0, 4, device)).clamp_max(3).long()      # 0 right, 1 left, 2 down, 3 up
        di = torch.tensor([0, 0, d, -d], device=device)[axis]
        dj = torch.tensor([d, -d, 0, 0], device=device)[axis]
        # the first corner in [max(0, -delta), room - max(0, delta)] along each axis
        lo_i, lo_j = (-di).clamp_min(0), (-dj).clamp_min(0)
        span_i, span_j = room - di.abs() + 1, room - dj.abs() + 1
        i = lo_i + torch.floor(_uniform(g, n, 0, 1, device) * span_i).long()
        j = lo_j + torch.floor(_uniform(g, n, 0, 1, device) * span_j).long()
        size = torch.full_like(i, p)
        first = torch.stack((i, j, size, size), 1)
        return first, torch.stack((i + di, j + dj, size, size), 1)

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> list[Tensor]:
        x = as_images01(x)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"PatchViews was set up for {self.image_size}-px images, got {tuple(x.shape[-2:])}")
        first, second = self.boxes(len(x), g, x.device)
        flip = _bernoulli(g, len(x), 0.5, x.device)                              # one flip for the pair
        return [self.norm(resized_crop(x, b, self.size, flip)) for b in (first, second)]

    def whole(self, x: Tensor) -> list[Tensor]:
        v = self.norm(resize_whole(x, self.size))
        return [v, v]


class _CropThenSplit(_ViewFamily):
    """One random resized crop (scale ``crop_scale``-1, flip) of each image, then split."""

    def __init__(self, size: int = 32, crop_scale: float = 0.5):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"size must be a whole number of pixels >= 1, got {size!r}")
        if not 0 < crop_scale <= 1:
            raise ValueError(f"crop_scale must lie in (0, 1], got {crop_scale}")
        self.crop = RandomResizedCrop(size, (crop_scale, 1.0), flip_p=0.5)
        self.size = size

    def split(self, x01: Tensor) -> list[Tensor]:             # floats in [0, 1] -> the two views
        raise NotImplementedError

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> list[Tensor]:
        return self.split(self.crop(as_images01(x), g))

    def whole(self, x: Tensor) -> list[Tensor]:
        return self.split(resize_whole(x, self.size))


class ColorSplitViews(_CropThenSplit):
    """One crop split into colour channels, ``split`` as :meth:`ColorViews.parse` reads it
    (``"L|ab"``, ``"Y|CbCr"``, ``"R|GB"``, ...); exactly two views."""

    family = "colour split"

    def __init__(self, split: str, size: int = 32, crop_scale: float = 0.5):
        super().__init__(size, crop_scale)
        if not isinstance(split, str):
            raise TypeError(f"split must name the views' channels, such as 'L|ab', got {split!r}")
        self.views = ColorViews.parse(split)
        if len(self.views) != 2:
            raise ValueError(f"a colour split of two views is needed, such as 'L|ab', got {split!r}")
        self.channels = tuple(self.views.channels)
        self._split = split

    @property
    def value(self):
        return self._split

    def split(self, x01: Tensor) -> list[Tensor]:
        return self.views(x01)


class BlurViews(_CropThenSplit):
    """One crop (first view) and its Gaussian low-pass of standard deviation ``sigma`` pixels
    (second view), both normalised with ``mean`` / ``std``; ``sigma=0`` gives the crop twice."""

    family = "blur sigma"

    def __init__(self, sigma: float, size: int = 32, crop_scale: float = 0.5, mean=(0.5, 0.5, 0.5),
                 std=(0.5, 0.5, 0.5)):
        super().__init__(size, crop_scale)
        if isinstance(sigma, bool) or not (isinstance(sigma, numbers.Real) and math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"sigma must be a finite number >= 0 (pixels), got {sigma!r}")
        self.sigma = float(sigma)
        self.norm = Normalize(mean, std)

    @property
    def value(self):
        return self.sigma

    def split(self, x01: Tensor) -> list[Tensor]:
        low = gaussian_blur(x01, self.sigma) if self.sigma > 0 else x01
        return [self.norm(x01), self.norm(low)]


class FlowViews(_CropThenSplit):
    """InfoMin's learned views: one crop converted to ``space`` (normalised), mapped by a frozen
    :class:`reprobook.models.flow.PixelFlow` and split by it (1 | 2 channels)."""

    family = "learned (flow)"

    def __init__(self, flow, space: str = "rgb", size: int = 32, crop_scale: float = 0.5, label: str = "flow"):
        super().__init__(size, crop_scale)
        self.flow, self.space, self.label = flow, space, label
        self.channels = (flow.first, flow.channels - flow.first)

    @property
    def value(self):
        return self.label

    @torch.no_grad()
    def split(self, x01: Tensor) -> list[Tensor]:
        return self.flow.views(convert(x01, self.space))


FAMILIES = {"patch": PatchViews, "color": ColorSplitViews, "blur": BlurViews}


def view_family(kind: str, value, **kwargs) -> _ViewFamily:
    """``view_family("patch", 8)``, ``view_family("color", "L|ab")``, ``view_family("blur", 1.5)``."""
    if kind not in FAMILIES:
        raise ValueError(f"unknown view family {kind!r}; valid: {', '.join(FAMILIES)}")
    return FAMILIES[kind](value, **kwargs)
