"""Input checks shared by the losses: clear errors instead of silent broadcasting."""
from __future__ import annotations

import math
import numbers

import torch


def check_features(x: torch.Tensor, name: str = "x", ndim: int = 2, values: bool = True) -> None:
    """Shape and dtype always; with ``values`` also NaN/inf (a host sync on GPUs, so the
    training hot path passes ``values=False`` and relies on the loop's NaN check)."""
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if x.ndim != ndim:
        shape = "(N, D)" if ndim == 2 else "(B, V, D)"
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}); a loss over no samples is undefined")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype}")
    if values and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")


def check_normalized(x: torch.Tensor, name: str = "x", atol: float = 1e-3) -> None:
    """Raise unless every row of ``x`` has unit L2 norm (within ``atol``)."""
    norms = x.detach().float().norm(dim=-1)
    worst = (norms - 1).abs().max().item() if norms.numel() else 0.0
    if not worst <= atol:                                  # NaN compares False: caught here too
        raise ValueError(
            f"{name} must be L2-normalised features on the unit hypersphere (rows of norm 1); "
            f"found norms in [{norms.min().item():.4g}, {norms.max().item():.4g}]. Apply "
            f"torch.nn.functional.normalize(x, dim=-1) first.")


def check_same_shape(x: torch.Tensor, y: torch.Tensor, names=("x", "y")) -> None:
    if x.shape != y.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")


def check_number(value, name: str, positive: bool = False) -> float:
    """A finite real number (``positive``: also > 0); NaN, inf, bools and tensors with more than
    one element are refused with the parameter's name."""
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and v <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return v


def as_integers(x, name: str, what: str = "integer indices") -> torch.Tensor:
    """``x`` (a tensor, list or array) as an integer tensor; floats, bools and the unconvertible
    are refused with ``name``."""
    if not torch.is_tensor(x):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"{name} must be {what}, got {type(x).__name__}: {e}") from None
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise TypeError(f"{name} must be {what}, got {x.dtype}")
    return x


def as_labels(labels, n: int, device, name: str = "labels") -> torch.Tensor:
    """Integer class labels ``(n,)`` as a tensor on ``device`` (lists and arrays are converted)."""
    labels = as_integers(labels, name, "integer class indices")
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(labels.shape)}")
    return labels.to(device)
