"""``torch.compile`` as an option that falls back cleanly where it cannot work."""
from __future__ import annotations

import warnings

import torch


def maybe_compile(module: torch.nn.Module, enabled: bool = True, **kwargs) -> torch.nn.Module:
    """``torch.compile(module)`` when enabled and supported, else ``module`` unchanged.

    Compilation is attempted only on CUDA (on CPU it costs minutes for smoke runs that take
    seconds). Any failure to compile gives a warning and the eager module.
    """
    if not enabled:
        return module
    device = next(module.parameters()).device
    if device.type != "cuda":
        return module
    try:
        return torch.compile(module, **kwargs)
    except Exception as e:  # missing compiler toolchain, unsupported platform, ...
        warnings.warn(f"torch.compile unavailable ({type(e).__name__}: {e}); running eagerly")
        return module
