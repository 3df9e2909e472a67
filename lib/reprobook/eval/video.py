"""Frame metrics for video prediction: PSNR, SSIM, and both per horizon step.

Experience-embedded Visual Foresight (Lin, Bauza & Isola, CoRL 2019) reports the quality of
predicted push videos by PSNR and SSIM between each predicted frame and the ground-truth frame,
plotted against the prediction step. Images are float tensors ``(..., C, H, W)`` with values in
``[0, max_val]``; every leading dimension (batch, time, ...) is kept by ``reduction="none"``.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["psnr", "ssim", "per_step", "gaussian_window"]

_REDUCTIONS = ("none", "mean")


def _check_images(pred: torch.Tensor, target: torch.Tensor) -> None:
    for name, x in (("pred", pred), ("target", target)):
        if not torch.is_tensor(x):
            raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be floating point (images in [0, max_val]), got {x.dtype}")
        if x.ndim < 3:
            raise ValueError(f"{name} must have shape (..., C, H, W), got {tuple(x.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    if pred.numel() == 0:
        raise ValueError(f"pred and target are empty (shape {tuple(pred.shape)})")


def _positive(value, name: str) -> float:
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value}")
    return v


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return values
    return values.mean()


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def psnr(pred: torch.Tensor, target: torch.Tensor, max_val: float = 1.0,
         reduction: str = "none") -> torch.Tensor:
    r"""Peak signal-to-noise ratio per image, in dB.

    .. math::
        \mathrm{MSE} = \frac{1}{CHW}\sum_{c,h,w} (\hat x_{chw} - x_{chw})^2, \qquad
        \mathrm{PSNR} = 10 \log_{10} \frac{\mathrm{max\_val}^2}{\mathrm{MSE}}

    Args:
        pred, target: ``(..., C, H, W)`` float images of the same shape.
        max_val: the peak value (1.0 for images in [0, 1], 255.0 for [0, 255]).
        reduction: ``"none"`` returns the leading dimensions ``(...)`` (a scalar for a single
            ``(C, H, W)`` image); ``"mean"`` averages over them.

    Identical images have MSE 0 and PSNR ``+inf`` (returned as such, not clamped); a mean that
    includes one is ``+inf`` as well.
    """
    _check_images(pred, target)
    max_val = _positive(max_val, "max_val")
    _check_reduction(reduction)
    mse = (pred - target).pow(2).mean(dim=(-3, -2, -1))
    values = 10.0 * torch.log10(max_val ** 2 / mse)
    return _reduce(values, reduction)


def gaussian_window(window: int, sigma: float, dtype=torch.float64, device=None) -> torch.Tensor:
    r"""The normalised 1-D Gaussian ``g_i \propto exp(-i^2 / (2 sigma^2))``, ``i = -r..r``,
    ``window = 2r + 1`` (scipy.ndimage's kernel; its outer product is the 2-D SSIM window)."""
    r = (window - 1) // 2
    x = torch.arange(-r, r + 1, dtype=dtype, device=device)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor, max_val: float = 1.0, window: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03, reduction: str = "none") -> torch.Tensor:
    r"""Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004) with a Gaussian window.

    With :math:`w` the normalised ``window x window`` Gaussian (std ``sigma``) and :math:`*` a
    *valid* correlation (no padding), per channel:

    .. math::
        \mu_x = w * x, \quad \sigma_x^2 = w * x^2 - \mu_x^2, \quad
        \sigma_{xy} = w * (xy) - \mu_x \mu_y, \quad C_1 = (k_1 L)^2,\ C_2 = (k_2 L)^2,

        \mathrm{SSIM}(x, y) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
                                  {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}

    averaged over the ``(H - window + 1) x (W - window + 1)`` positions and the ``C`` channels,
    with ``L = max_val``. The (co)variances are the window-weighted population moments. With the
    defaults this equals ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=max_val, channel_axis=...)`` (skimage filters
    the whole image and crops ``(window - 1) / 2`` pixels per side, which leaves exactly the valid
    positions).

    Args:
        pred, target: ``(..., C, H, W)`` float images of the same shape, ``H, W >= window``.
        max_val: the dynamic range ``L``.
        window: odd side of the Gaussian window (11 in Wang et al.).
        sigma: its standard deviation (1.5 in Wang et al.).
        k1, k2: the stabilising constants.
        reduction: ``"none"`` keeps the leading dimensions, ``"mean"`` averages over them.

    Returns 1 for identical images; differentiable in both arguments. Computed in the inputs'
    dtype (pass float64 for reference-grade values).
    """
    _check_images(pred, target)
    max_val = _positive(max_val, "max_val")
    sigma = _positive(sigma, "sigma")
    k1 = _positive(k1, "k1")
    k2 = _positive(k2, "k2")
    _check_reduction(reduction)
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd integer, got {window!r}")
    window = int(window)
    *lead, c, h, w = pred.shape
    if h < window or w < window:
        raise ValueError(f"images of size H x W = {h} x {w} are smaller than the {window} x {window} "
                         f"SSIM window; pass a smaller (odd) window")

    dtype = torch.promote_types(pred.dtype, target.dtype)
    x = pred.to(dtype).reshape(-1, c, h, w)
    y = target.to(dtype).reshape(-1, c, h, w)
    g = gaussian_window(window, sigma, dtype=dtype, device=x.device)
    kernel = torch.outer(g, g).expand(c, 1, window, window)

    def filt(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, kernel, groups=c)                  # valid: (N, C, H-win+1, W-win+1)

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x * mu_x
    var_y = filt(y * y) - mu_y * mu_y
    cov_xy = filt(x * y) - mu_x * mu_y
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    smap = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    values = smap.mean(dim=(-3, -2, -1)).reshape(lead)
    return _reduce(values, reduction)


_METRICS = {"psnr": psnr, "ssim": ssim}


def per_step(metric: Callable[..., torch.Tensor] | str, pred: torch.Tensor, target: torch.Tensor,
             **kwargs) -> torch.Tensor:
    """A frame metric per prediction step: ``(T,)`` means over the batch.

    Args:
        metric: :func:`psnr`, :func:`ssim` (or their names), or any callable
            ``metric(pred, target, reduction="none", **kwargs)`` mapping ``(..., C, H, W)`` to ``(...)``.
        pred, target: videos ``(B, T, C, H, W)``.
        **kwargs: passed to the metric (``max_val``, ``window``, ...).

    Returns ``out[t] = mean_b metric(pred[b, t], target[b, t])``, the curve plotted against the
    horizon. A PSNR step in which any frame is predicted exactly is ``+inf``.
    """
    if isinstance(metric, str):
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {tuple(_METRICS)} or a callable, got {metric!r}")
        metric = _METRICS[metric]
    if not callable(metric):
        raise TypeError(f"metric must be callable or a name, got {type(metric).__name__}")
    for name, v in (("pred", pred), ("target", target)):
        if not torch.is_tensor(v) or v.ndim != 5:
            shape = tuple(v.shape) if torch.is_tensor(v) else type(v).__name__
            raise ValueError(f"{name} must be a video batch (B, T, C, H, W), got {shape}")
    values = metric(pred, target, reduction="none", **kwargs)
    b, t = pred.shape[:2]
    if not torch.is_tensor(values) or values.shape != (b, t):
        got = tuple(values.shape) if torch.is_tensor(values) else type(values).__name__
        raise ValueError(f"metric must return per-frame values of shape ({b}, {t}), got {got}")
    return values.mean(dim=0)
