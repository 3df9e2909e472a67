"""CIFAR-10-C-style common corruptions, generated here (the released CIFAR-10-C cannot be
downloaded on an offline machine).

Each corruption follows ``make_cifar_c.py`` of hendrycks/robustness (Hendrycks & Dietterich,
ICLR 2019) with its five CIFAR severities, re-implemented on batched tensors: the noises draw
from a ``torch.Generator`` (so a corrupted test set is reproducible), the blurs are convolutions,
brightness and saturation work in HSV as the original, and JPEG and pixelate use Pillow exactly
as the original does. Like the original, results are truncated to uint8.

    x_c = corrupt(x_uint8, "gaussian_noise", severity=3, generator=g)     # (N, 3, 32, 32) uint8
"""
from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .augment import _hsv_to_rgb, _rgb_to_hsv

Tensor = torch.Tensor

#: the five CIFAR severities of each corruption (make_cifar_c.py)
SEVERITIES = {
    "gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    "gaussian_blur": [0.4, 0.6, 0.7, 0.8, 1.0],
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "jpeg_compression": [80, 65, 58, 50, 40],
}
CORRUPTIONS = tuple(SEVERITIES)


def _rand(g, shape, device, kind="uniform", **kw):
    gen_device = g.device if g is not None else "cpu"
    if kind == "normal":
        out = torch.randn(shape, generator=g, device=gen_device, dtype=torch.float64)
    else:
        out = torch.rand(shape, generator=g, device=gen_device, dtype=torch.float64)
    return out.to(device)


def gaussian_noise(x: Tensor, c: float, g=None) -> Tensor:
    return x + c * _rand(g, x.shape, x.device, "normal").to(x.dtype)


def shot_noise(x: Tensor, c: float, g=None) -> Tensor:
    rate = (x.double() * c).to("cpu" if g is None else g.device)
    return (torch.poisson(rate, generator=g) / c).to(x.device, x.dtype)


def impulse_noise(x: Tensor, c: float, g=None) -> Tensor:
    """Salt and pepper on a fraction ``c`` of the values (each channel independently, as
    ``skimage.util.random_noise(mode='s&p', amount=c)``), half salt, half pepper."""
    flipped = _rand(g, x.shape, x.device) < c
    salted = _rand(g, x.shape, x.device) < 0.5
    return torch.where(flipped, salted.to(x.dtype), x)


def _gaussian_kernel1d(sigma: float, radius: int, dtype, device) -> Tensor:
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def gaussian_blur(x: Tensor, sigma: float, g=None) -> Tensor:
    """``skimage.filters.gaussian(sigma)``: separable kernel truncated at 4 sigma, edges replicated."""
    radius = int(4 * sigma + 0.5)
    k = _gaussian_kernel1d(sigma, radius, x.dtype, x.device)
    C = x.shape[1]
    x = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)
    x = F.pad(x, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)


def disk_kernel(radius: float, alias_blur: float, dtype=torch.float64) -> Tensor:
    """The anti-aliased disk of make_cifar_c.py: a 17x17 indicator of the disk of ``radius``,
    normalised, then smoothed by a 3x3 Gaussian of ``alias_blur`` (reflect-101 edges, as OpenCV)."""
    L = torch.arange(-8, 9, dtype=dtype)
    X, Y = torch.meshgrid(L, L, indexing="xy")
    disk = ((X ** 2 + Y ** 2) <= radius ** 2).to(dtype)
    disk = disk / disk.sum()
    k = _gaussian_kernel1d(alias_blur, 1, dtype, "cpu")
    d = F.pad(disk[None, None], (1, 1, 1, 1), mode="reflect")
    d = F.conv2d(d, k.view(1, 1, 1, 3))
    return F.conv2d(d, k.view(1, 1, 3, 1))[0, 0]


def defocus_blur(x: Tensor, c, g=None) -> Tensor:
    radius, alias = c
    k = disk_kernel(radius, alias, x.dtype).to(x.device)
    C, r = x.shape[1], k.shape[0] // 2
    xp = F.pad(x, (r, r, r, r), mode="reflect")                     # OpenCV's BORDER_REFLECT_101
    return F.conv2d(xp, k[None, None].expand(C, 1, -1, -1), groups=C)   # correlation, as filter2D


def contrast(x: Tensor, c: float, g=None) -> Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)                           # per image and channel
    return (x - mean) * c + mean


def brightness(x: Tensor, c: float, g=None) -> Tensor:
    hsv = _rgb_to_hsv(x.clamp(0, 1))
    hsv = torch.stack((hsv[:, 0], hsv[:, 1], (hsv[:, 2] + c).clamp(0, 1)), dim=1)
    return _hsv_to_rgb(hsv)


def saturate(x: Tensor, c, g=None) -> Tensor:
    hsv = _rgb_to_hsv(x.clamp(0, 1))
    hsv = torch.stack((hsv[:, 0], (hsv[:, 1] * c[0] + c[1]).clamp(0, 1), hsv[:, 2]), dim=1)
    return _hsv_to_rgb(hsv)


def _per_image_pil(x_uint8: Tensor, fn) -> Tensor:
    arr = x_uint8.permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([np.asarray(fn(Image.fromarray(a)).convert("RGB"), np.uint8) for a in arr])
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(x_uint8.device)


def pixelate(x_uint8: Tensor, c: float) -> Tensor:
    H, W = x_uint8.shape[-2:]
    return _per_image_pil(x_uint8, lambda im: im.resize((int(W * c), int(H * c)), Image.BOX)
                          .resize((W, H), Image.BOX))


def jpeg_compression(x_uint8: Tensor, quality: int) -> Tensor:
    def fn(im):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        buf.seek(0)
        return Image.open(buf)
    return _per_image_pil(x_uint8, fn)


_FLOAT_OPS = {"gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
              "defocus_blur": defocus_blur, "gaussian_blur": gaussian_blur, "contrast": contrast,
              "brightness": brightness, "saturate": saturate}
_UINT8_OPS = {"pixelate": pixelate, "jpeg_compression": jpeg_compression}


def corrupt(x: Tensor, name: str, severity: int, generator: torch.Generator | None = None,
            batch_size: int = 2048) -> Tensor:
    """Corrupt uint8 images ``(N, 3, H, W)`` with ``name`` at ``severity`` (1-5); uint8 out."""
    if name not in SEVERITIES:
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1..5, got {severity}")
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected uint8 images (N, 3, H, W), got {x.dtype} {tuple(x.shape)}")
    c = SEVERITIES[name][severity - 1]
    if name in _UINT8_OPS:
        return _UINT8_OPS[name](x, c)
    out = []
    for k in range(0, len(x), batch_size):
        xf = x[k:k + batch_size].double() / 255.0
        y = _FLOAT_OPS[name](xf, c, generator)
        out.append(torch.floor(y.clamp(0, 1) * 255).to(torch.uint8))   # np.uint8() truncates
    return torch.cat(out)
