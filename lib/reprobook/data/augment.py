"""Batched image augmentations with per-sample random parameters, on any device.

Each transform takes a batch ``x`` of shape ``(B, 3, H, W)`` and a ``torch.Generator`` and
returns the transformed batch. Parameters are drawn per sample with the distributions of the
torchvision transform of the same name (tested in tests/data/test_augment.py), but the work is
done in a handful of batched tensor ops instead of a per-image PIL loop, so a whole batch of
views costs a few kernels on a GPU. The functional colour ops match
``torchvision.transforms.v2.functional`` for the same factors.

Typical use::

    aug = simclr_augment(size=32, mean=CIFAR_MEAN["cifar10"], std=CIFAR_STD["cifar10"])
    v1, v2 = aug(x_uint8, g), aug(x_uint8, g)       # two views, (B, 3, 32, 32) float
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


# ---------------------------------------------------------------- random draws
def _uniform(g: torch.Generator | None, n: int, lo: float, hi: float, device) -> Tensor:
    gen_device = g.device if g is not None else "cpu"
    u = torch.rand(n, generator=g, device=gen_device)
    return (lo + (hi - lo) * u).to(device, non_blocking=True)


def _bernoulli(g: torch.Generator | None, n: int, p: float, device) -> Tensor:
    return _uniform(g, n, 0.0, 1.0, device) < p


def _check_batch(x: Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a batch of RGB images (B, 3, H, W), got shape {tuple(x.shape)}")


# ---------------------------------------------------------------- functional colour ops
def rgb_to_grayscale(x: Tensor) -> Tensor:
    """ITU-R 601-2 luma, as torchvision: ``(B, 3, H, W) -> (B, 1, H, W)``."""
    r, g, b = x.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def _blend(x: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    return (factor * x + (1.0 - factor) * other).clamp_(0.0, 1.0)


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    return _blend(x, torch.zeros_like(x), factor.view(-1, 1, 1, 1))


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    mean = rgb_to_grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(x, mean, factor.view(-1, 1, 1, 1))


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    return _blend(x, rgb_to_grayscale(x), factor.view(-1, 1, 1, 1))


def _rgb_to_hsv(x: Tensor) -> Tensor:
    r, g, b = x.unbind(dim=-3)
    maxc, _ = x.max(dim=-3)
    minc = x.min(dim=-3).values
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_divisor = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_divisor, (maxc - g) / cr_divisor, (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), dim=-3)


def _hsv_to_rgb(x: Tensor) -> Tensor:
    """HSV -> RGB via the closed form c_n = v - v s clamp(min(k, 4 - k), 0, 1),
    k = (n + 6h) mod 6 with n = 5, 3, 1 for r, g, b (the piecewise formula, branch-free)."""
    h, s, v = x.unbind(dim=-3)
    n = torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(3, 1, 1)
    k = torch.remainder(n + 6.0 * h.unsqueeze(-3), 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return v.unsqueeze(-3) * (1.0 - s.unsqueeze(-3) * ramp)


def adjust_hue(x: Tensor, factor: Tensor) -> Tensor:
    """Shift the hue by ``factor`` (in [-0.5, 0.5]) per sample."""
    hsv = _rgb_to_hsv(x)
    h = torch.remainder(hsv[:, 0] + factor.view(-1, 1, 1), 1.0)
    return _hsv_to_rgb(torch.stack((h, hsv[:, 1], hsv[:, 2]), dim=1))


# ---------------------------------------------------------------- geometry
def resized_crop(x: Tensor, boxes: Tensor, size: int, flip: Tensor | None = None) -> Tensor:
    """Crop each image to its box ``(i, j, h, w)`` and resize to ``size`` x ``size``
    (bilinear, half-pixel centres as ``interpolate(align_corners=False)``), mirrored where
    ``flip``; one ``grid_sample`` for the whole batch. ``x``: ``(B, 3, H, W)``, uint8 or float."""
    B, _, H, W = x.shape
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x
    i, j, h, w = boxes.to(x.dtype).unbind(1)
    sx, sy = w / W, h / H
    tx, ty = (2 * j + w) / W - 1, (2 * i + h) / H - 1
    if flip is not None:
        sx = torch.where(flip, -sx, sx)
    zero = torch.zeros_like(sx)
    theta = torch.stack((torch.stack((sx, zero, tx), 1), torch.stack((zero, sy, ty), 1)), 1)
    grid = F.affine_grid(theta, [B, 3, size, size], align_corners=False)        # (B, S, S, 2)
    # clamp to the crop's outer pixel centres: border pixels replicate as when resizing the crop
    lo = torch.stack(((2 * j + 1) / W - 1, (2 * i + 1) / H - 1), 1).view(B, 1, 1, 2)
    hi = torch.stack(((2 * (j + w) - 1) / W - 1, (2 * (i + h) - 1) / H - 1), 1).view(B, 1, 1, 2)
    grid = torch.maximum(torch.minimum(grid, hi), lo)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# ---------------------------------------------------------------- transforms
class ToFloat:
    """uint8 ``[0, 255]`` -> float ``[0, 1]`` (a no-op on float input)."""

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x

    def __repr__(self):
        return "ToFloat()"


class RandomResizedCrop:
    """torchvision ``RandomResizedCrop(size, scale, ratio)``, optionally fused with a random
    horizontal flip (``flip_p``), as one bilinear ``grid_sample`` per batch.

    Per sample: up to 10 draws of area fraction ~ U(scale) and log aspect ratio ~ U(log ratio);
    the first draw whose integer box fits is kept, else the central crop (as torchvision).
    """

    def __init__(self, size: int, scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), flip_p: float = 0.0):
        self.size, self.scale, self.ratio, self.flip_p = size, tuple(scale), tuple(ratio), flip_p

    def sample_params(self, n: int, height: int, width: int, g=None, device="cpu") -> Tensor:
        """``(n, 4)`` int boxes ``(i, j, h, w)``: top, left, height, width."""
        area = height * width
        target = area * _uniform(g, n * 10, *self.scale, device).view(n, 10)
        log_r = _uniform(g, n * 10, math.log(self.ratio[0]), math.log(self.ratio[1]), device)
        aspect = torch.exp(log_r).view(n, 10)
        w = torch.round(torch.sqrt(target * aspect))
        h = torch.round(torch.sqrt(target / aspect))
        ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = torch.argmax(ok.int(), dim=1)                  # first fitting draw (0 if none)
        w = w.gather(1, first[:, None])[:, 0]
        h = h.gather(1, first[:, None])[:, 0]
        # central fallback crop, as torchvision
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            fw, fh = width, int(round(width / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            fw, fh = int(round(height * max(self.ratio))), height
        else:
            fw, fh = width, height
        any_ok = ok.any(dim=1)
        w = torch.where(any_ok, w, torch.full_like(w, fw))
        h = torch.where(any_ok, h, torch.full_like(h, fh))
        ui, uj = _uniform(g, n, 0, 1, device), _uniform(g, n, 0, 1, device)
        i = torch.where(any_ok, torch.floor(ui * (height - h + 1)), torch.full_like(h, (height - fh) // 2))
        j = torch.where(any_ok, torch.floor(uj * (width - w + 1)), torch.full_like(w, (width - fw) // 2))
        return torch.stack((i, j, h, w), dim=1).long()

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        B, _, H, W = x.shape
        boxes = self.sample_params(B, H, W, g, x.device)
        flip = _bernoulli(g, B, self.flip_p, x.device) if self.flip_p > 0 else None
        return resized_crop(x, boxes, self.size, flip)

    def __repr__(self):
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio}, flip_p={self.flip_p})"


class RandomCrop:
    """torchvision ``RandomCrop(size, padding)`` with zero padding, per-sample offsets."""

    def __init__(self, size: int, padding: int = 4):
        self.size, self.padding = size, padding

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        B, C, H, W = x.shape
        p, s = self.padding, self.size
        xp = F.pad(x, (p, p, p, p))
        i = torch.floor(_uniform(g, B, 0, 1, x.device) * (H + 2 * p - s + 1)).long()
        j = torch.floor(_uniform(g, B, 0, 1, x.device) * (W + 2 * p - s + 1)).long()
        ar = torch.arange(s, device=x.device)
        rows = (i[:, None] + ar)[:, None, :, None].expand(B, C, s, W + 2 * p)
        xp = xp.gather(2, rows)
        cols = (j[:, None] + ar)[:, None, None, :].expand(B, C, s, s)
        return xp.gather(3, cols)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        flip = _bernoulli(g, x.shape[0], self.p, x.device).view(-1, 1, 1, 1)
        return torch.where(flip, x.flip(-1), x)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class ColorJitter:
    """torchvision ``RandomApply([ColorJitter(b, c, s, h)], p)``, per sample.

    Factors: brightness, contrast, saturation ~ U(max(0, 1 - v), 1 + v), hue ~ U(-h, h); the
    four adjustments are applied in a random order drawn per sample (as torchvision draws one
    per image). ``p`` is the probability that a sample is jittered at all.
    """

    OPS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p: float = 1.0):
        if not 0 <= hue <= 0.5:
            raise ValueError(f"hue must lie in [0, 0.5], got {hue}")
        self.ranges = []
        for v, is_hue in ((brightness, False), (contrast, False), (saturation, False), (hue, True)):
            self.ranges.append(None if v == 0 else ((-v, v) if is_hue else (max(0.0, 1 - v), 1 + v)))
        self.p = p
        self.args = (brightness, contrast, saturation, hue)

    def sample_params(self, n: int, g=None, device="cpu") -> tuple[Tensor, Tensor, Tensor]:
        """``factors (n, 4)``, ``order (n, 4)`` (a permutation of op indices), ``apply (n,)``."""
        factors = torch.stack([_uniform(g, n, *(r or (1.0, 1.0)), device) for r in self.ranges], 1)
        keys = _uniform(g, n * 4, 0, 1, device).view(n, 4)
        order = keys.argsort(dim=1)                       # a uniform random permutation per row
        apply = _bernoulli(g, n, self.p, device)
        return factors, order, apply

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        factors, order, apply = self.sample_params(x.shape[0], g, x.device)
        apply_fn = self.apply_indexed if x.device.type == "cpu" else self.apply_masked
        return apply_fn(x, factors.to(x.dtype), order, apply)

    def _active(self):
        return [(k, op) for k, op in enumerate(self.OPS) if self.ranges[k] is not None]

    def apply_indexed(self, x: Tensor, factors: Tensor, order: Tensor, apply: Tensor) -> Tensor:
        """Each op runs once per sample, on the samples that take it at each position (CPU)."""
        out = x.clone()
        for pos in range(4):
            for k, op in self._active():
                idx = torch.nonzero((order[:, pos] == k) & apply).squeeze(1)
                if idx.numel():
                    out[idx] = op(out[idx], factors[idx, k])
        return out

    def apply_masked(self, x: Tensor, factors: Tensor, order: Tensor, apply: Tensor) -> Tensor:
        """Masked full-batch ops: no host synchronisation (accelerators)."""
        out = x
        for pos in range(4):
            for k, op in self._active():
                chosen = (order[:, pos] == k).view(-1, 1, 1, 1)
                out = torch.where(chosen, op(out, factors[:, k]), out)
        return torch.where(apply.view(-1, 1, 1, 1), out, x)

    def __repr__(self):
        b, c, s, h = self.args
        return f"ColorJitter(brightness={b}, contrast={c}, saturation={s}, hue={h}, p={self.p})"


class RandomGrayscale:
    def __init__(self, p: float = 0.2):
        self.p = p

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        gray = _bernoulli(g, x.shape[0], self.p, x.device).view(-1, 1, 1, 1)
        return torch.where(gray, rgb_to_grayscale(x).expand_as(x), x)

    def __repr__(self):
        return f"RandomGrayscale(p={self.p})"


class Normalize:
    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = tuple(mean), tuple(std)
        self._cache: dict = {}

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        key = (x.device, x.dtype)
        if key not in self._cache:
            self._cache[key] = (torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1),
                                torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1))
        mean, std = self._cache[key]
        return (x - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class Compose:
    """Apply transforms in order; ``channels_last`` returns the batch in that memory format."""

    def __init__(self, transforms: Sequence, channels_last: bool = False):
        self.transforms = list(transforms)
        self.channels_last = channels_last

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        for t in self.transforms:
            x = t(x, g)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __repr__(self):
        inner = ",\n  ".join(repr(t) for t in self.transforms)
        return f"Compose([\n  {inner}\n])"


# ---------------------------------------------------------------- the recipes chapters use
def simclr_augment(size: int = 32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), scale=(0.2, 1.0),
                   jitter=(0.4, 0.4, 0.4, 0.1), jitter_p: float = 0.8, gray_p: float = 0.2,
                   channels_last: bool = True) -> Compose:
    """The contrastive two-crop view of SimCLR / SupCon on CIFAR (official SupContrast recipe):
    RandomResizedCrop(size, scale) + flip, ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8,
    RandomGrayscale(0.2), Normalize."""
    return Compose([RandomResizedCrop(size, scale, flip_p=0.5), ColorJitter(*jitter, p=jitter_p),
                    RandomGrayscale(gray_p), Normalize(mean, std)], channels_last=channels_last)


def standard_augment(size: int = 32, padding: int = 4, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                     channels_last: bool = True) -> Compose:
    """The supervised CIFAR recipe: RandomCrop(size, padding) + horizontal flip + Normalize."""
    return Compose([ToFloat(), RandomCrop(size, padding), RandomHorizontalFlip(0.5),
                    Normalize(mean, std)], channels_last=channels_last)


def fewshot_augment(size: int = 32, padding: int = 4, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                    jitter=(0.4, 0.4, 0.4), channels_last: bool = True) -> Compose:
    """RFS's CIFAR-FS / FC100 training transform (rfs ``dataset/transform_cfg.py``, ``transform_D``;
    also its support augmentation, ``MetaCIFAR100.train_transform``): RandomCrop(size, padding),
    ColorJitter(brightness, contrast, saturation = 0.4, no hue), horizontal flip, Normalize."""
    return Compose([ToFloat(), RandomCrop(size, padding), ColorJitter(*jitter, hue=0.0),
                    RandomHorizontalFlip(0.5), Normalize(mean, std)], channels_last=channels_last)


def eval_transform(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channels_last: bool = True) -> Compose:
    """No augmentation: uint8 -> normalised float."""
    return Compose([ToFloat(), Normalize(mean, std)], channels_last=channels_last)
