"""Batched Gaussian blur with a per-sample standard deviation, on any device.

The blur of InfoMin's view recipe (Tian et al. 2020, "What Makes for Good Views for Contrastive
Learning?", official code HobbitLong/PyContrast, ``datasets/util.py``: ``GaussianBlur(22)``
applied with p = 0.5, sigma ~ U(0.1, 2.0), reflect padding, a separable kernel), done for a
whole batch in two grouped convolutions instead of a per-image loop.

``gaussian_blur`` is also the low-pass filter of the chapter's frequency views
(:class:`reprobook.data.views.BlurViews`: a crop against its low-pass of standard deviation sigma).

Book: book/04-infomin/01-method (the frequency views) and 04-augmentation (InfoMin Aug).

Typical use::

    blur = GaussianBlur(p=0.5)                      # sigma scaled to the image side, see below
    y = blur(x, g)                                  # x: (B, 3, H, W) float in [0, 1]
    low = gaussian_blur(x, 1.0); high = x - low     # a frequency split
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from .augment import _bernoulli, _check_batch, _uniform

Tensor = torch.Tensor


# ---------------------------------------------------------------- functional
def _as_sigma_vector(sigma, batch: int, device, dtype) -> Tensor:
    """A float or a 0-d / ``(B,)`` tensor -> a ``(B,)`` tensor; shape errors are ValueErrors."""
    if isinstance(sigma, Tensor):
        if sigma.ndim == 0:
            sigma = sigma.expand(batch)
        elif sigma.shape != (batch,):
            raise ValueError(f"sigma must be a float or a ({batch},) tensor (one per sample), "
                             f"got shape {tuple(sigma.shape)}")
        return sigma.to(device=device, dtype=dtype)
    if not isinstance(sigma, (int, float)):
        raise ValueError(f"sigma must be a float or a tensor, got {type(sigma).__name__}")
    return torch.full((batch,), float(sigma), device=device, dtype=dtype)


def gaussian_kernels(sigma: Tensor, radius: int) -> Tensor:
    """Normalised 1-D Gaussian kernels ``exp(-d^2 / (2 sigma^2))``, d = -radius..radius:
    ``(B,) -> (B, 2 radius + 1)``. A sample with sigma == 0 gets the unit impulse."""
    d = torch.arange(-radius, radius + 1, device=sigma.device, dtype=sigma.dtype)       # (k,)
    zero = sigma == 0
    s = torch.where(zero, torch.ones_like(sigma), sigma)[:, None]                       # (B, 1)
    kern = torch.exp(-(d * d) / (2.0 * s * s))                                          # (B, k)
    kern = kern / kern.sum(dim=1, keepdim=True)
    impulse = (d == 0).to(sigma.dtype).expand_as(kern)
    return torch.where(zero[:, None], impulse, kern)


def _blur(x: Tensor, sigma: Tensor, radius: int) -> Tensor:
    """The separable blur, no argument checks: ``x (B, C, H, W)``, ``sigma (B,)``."""
    B, C, H, W = x.shape
    k = 2 * radius + 1
    kern = gaussian_kernels(sigma, radius).repeat_interleave(C, dim=0)                  # (B*C, k)
    xp = F.pad(x.reshape(1, B * C, H, W), (radius,) * 4, mode="reflect")  # (1, B*C, H+2r, W+2r)
    y = F.conv2d(xp, kern.view(B * C, 1, 1, k), groups=B * C)             # rows:  (1, B*C, H+2r, W)
    y = F.conv2d(y, kern.view(B * C, 1, k, 1), groups=B * C)              # cols:  (1, B*C, H, W)
    y = y.view(B, C, H, W)
    return torch.where((sigma == 0).view(B, 1, 1, 1), x, y)               # exact identity at 0


def gaussian_blur(x: Tensor, sigma, radius: int | None = None) -> Tensor:
    """Blur each image of ``x`` ``(B, C, H, W)`` (float) with its own Gaussian.

    ``sigma``: a float or a ``(B,)`` tensor of standard deviations in pixels (0 leaves that
    sample unchanged). The kernel is separable, truncated at ``radius`` = ceil(3 max sigma)
    pixels (at least 1; pass ``radius`` to fix it, e.g. to avoid reading sigma back from a GPU)
    and renormalised; borders use reflect padding, as torchvision's ``gaussian_blur`` and
    PyContrast's ``GaussianBlur``. For one image and kernel size ``2 radius + 1`` the result
    equals ``torchvision.transforms.v2.functional.gaussian_blur`` to float rounding.

    This is also the low-pass filter of InfoMin's frequency views (low = blur(x), high =
    x - blur(x)). Returns a tensor of the shape and dtype of ``x``.
    """
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"expected a batch of images (B, C, H, W), got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"gaussian_blur needs a float batch, got {x.dtype} (convert uint8 with ToFloat)")
    B, _, H, W = x.shape
    sigma = _as_sigma_vector(sigma, B, x.device, x.dtype)
    if B == 0:
        return x.clone()
    if not bool(torch.isfinite(sigma).all()) or bool((sigma < 0).any()):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma.tolist() if B <= 8 else sigma}")
    if radius is None:
        radius = max(1, math.ceil(3.0 * float(sigma.max())))
    elif not isinstance(radius, int) or radius < 1:
        raise ValueError(f"radius must be an integer >= 1, got {radius!r}")
    if radius >= H or radius >= W:
        raise ValueError(f"kernel radius {radius} (3 x sigma) must be smaller than the image "
                         f"({H} x {W}) for reflect padding; use a smaller sigma")
    return _blur(x, sigma, radius)


# ---------------------------------------------------------------- transform
class GaussianBlur:
    """PyContrast / torchvision ``RandomApply([GaussianBlur(...)], p)``, per sample.

    Each sample is blurred with probability ``p``, with sigma ~ U(``sigma``) drawn per sample
    (the official InfoMin recipe: U(0.1, 2.0) pixels, p = 0.5, PyContrast ``datasets/util.py``).

    The official kernel (``GaussianBlur(22)``: 23 taps) and sigma range are sized for 224-pixel
    ImageNet crops. With ``scale_to_image=True`` (default) the sigma range is multiplied by
    ``H / size_ref`` for an image of side ``H``, so the blur removes the same fraction of the
    image's frequencies (e.g. on 32-pixel CIFAR crops sigma ~ U(0.014, 0.29) pixels); with
    ``scale_to_image=False`` sigma is used in pixels as given. The kernel is truncated at
    ceil(3 x the largest sigma of the range) (at least 1) rather than at 11 pixels: a 3-sigma
    truncation drops under 0.3% of the kernel's mass.
    """

    def __init__(self, sigma: Sequence[float] = (0.1, 2.0), p: float = 0.5, size_ref: int = 224,
                 scale_to_image: bool = True):
        lo, hi = (float(s) for s in sigma)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
            raise ValueError(f"sigma must be a range (lo, hi) with 0 <= lo <= hi, got {tuple(sigma)}")
        if not 0 <= p <= 1:
            raise ValueError(f"p must lie in [0, 1], got {p}")
        if size_ref <= 0:
            raise ValueError(f"size_ref must be positive, got {size_ref}")
        self.sigma, self.p, self.size_ref, self.scale_to_image = (lo, hi), p, size_ref, scale_to_image

    def sigma_range(self, height: int) -> tuple[float, float]:
        """The sigma range in pixels for images of side ``height``."""
        f = height / self.size_ref if self.scale_to_image else 1.0
        return self.sigma[0] * f, self.sigma[1] * f

    def sample_params(self, n: int, height: int, g=None, device="cpu") -> Tensor:
        """``(n,)`` sigmas in pixels, 0 for the samples that are not blurred."""
        lo, hi = self.sigma_range(height)
        sigma = _uniform(g, n, lo, hi, device)
        apply = _bernoulli(g, n, self.p, device)
        return torch.where(apply, sigma, torch.zeros_like(sigma))

    def __call__(self, x: Tensor, g: torch.Generator | None = None) -> Tensor:
        _check_batch(x)
        if not x.is_floating_point():
            raise ValueError(f"GaussianBlur needs a float batch, got {x.dtype} (convert uint8 with ToFloat)")
        B, _, H, W = x.shape
        sigma = self.sample_params(B, H, g, x.device).to(x.dtype)
        radius = max(1, math.ceil(3.0 * self.sigma_range(H)[1]))      # from the range: no sync
        if radius >= H or radius >= W:
            raise ValueError(f"kernel radius {radius} (3 x sigma max {self.sigma_range(H)[1]:.3g}) "
                             f"must be smaller than the image ({H} x {W}) for reflect padding")
        return _blur(x, sigma, radius)

    def __repr__(self):
        return (f"GaussianBlur(sigma={self.sigma}, p={self.p}, size_ref={self.size_ref}, "
                f"scale_to_image={self.scale_to_image})")
