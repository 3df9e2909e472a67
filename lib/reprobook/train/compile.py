"""``torch.compile`` as an option that falls back cleanly where it cannot work."""
from __future__ import annotations

import warnings

import torch
from torch import nn


class CompiledOrEager(nn.Module):
    """Calls the compiled module; if compilation fails on the first call (no compiler toolchain,
    an unsupported op or platform), warns once and runs the eager module from then on. The two
    share parameters, so optimisers and checkpoints see one model."""

    def __init__(self, module: nn.Module, **compile_kwargs):
        super().__init__()
        self.module = module
        # kept out of the submodule registry: state_dict holds the parameters once, as module.*
        self.__dict__["_compiled"] = torch.compile(module, **compile_kwargs)
        self._eager = False
        self._checked = False

    def forward(self, *args, **kwargs):
        if self._eager:
            return self.module(*args, **kwargs)
        if self._checked:
            return self._compiled(*args, **kwargs)
        try:
            out = self._compiled(*args, **kwargs)
        except Exception as e:   # compilation happens lazily, on the first call
            warnings.warn(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); running eagerly")
            self._eager = True
            return self.module(*args, **kwargs)
        self._checked = True
        return out


def maybe_compile(module: nn.Module, enabled: bool = True, **kwargs) -> nn.Module:
    """A :class:`CompiledOrEager` wrapper when enabled and the module is on CUDA, else ``module``.

    On CPU compilation is skipped: it costs minutes for smoke runs that take seconds.
    """
    if not enabled:
        return module
    device = next(module.parameters()).device
    if device.type != "cuda":
        return module
    try:
        return CompiledOrEager(module, **kwargs)
    except Exception as e:
        warnings.warn(f"torch.compile unavailable ({type(e).__name__}: {e}); running eagerly")
        return module
