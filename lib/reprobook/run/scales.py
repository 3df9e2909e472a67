"""Named scales: one configuration per scale, the same notebook cells for all.

A chapter module declares ``CONFIGS = {"smoke": {...}, "short": {...}, "paper": {...}}`` and
a notebook calls ``cfg = configure(CONFIGS, scale)``. Unknown scales and keys are clear errors
that list the valid ones.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

SCALES = ("smoke", "short", "paper")


class Config(dict):
    """A read-only dict with attribute access: ``cfg.epochs`` is ``cfg["epochs"]``."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}; keys: {', '.join(sorted(self))}") from None

    def _read_only(self, *args, **kwargs):
        raise TypeError("a Config is read-only; pass overrides to configure()")

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = _read_only
    update = pop = popitem = setdefault = clear = _read_only

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in self.items()) + ")"


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid scales: {', '.join(SCALES)}")
    return scale


def configure(configs: Mapping[str, Mapping[str, Any]], scale: str, **overrides) -> Config:
    """The configuration for ``scale`` with ``overrides`` applied (keys must already exist)."""
    check_scale(scale)
    if scale not in configs:
        raise ValueError(f"scale {scale!r} is not configured here; configured: {', '.join(configs)}")
    cfg = copy.deepcopy(dict(configs[scale]))      # a user's edit of a list never reaches the module's table
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(cfg))}")
    cfg.update(copy.deepcopy(overrides))
    return Config(cfg, scale=scale)


def require_int(name: str, value, minimum: int = 1) -> int:
    """``value`` when it is an int (not a bool) of at least ``minimum``, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = {1: "a positive int", 0: "a non-negative int"}.get(minimum, f"an int of at least {minimum}")
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return value
