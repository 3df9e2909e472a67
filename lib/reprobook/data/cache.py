"""The decoded-array cache, outside the clone so that fresh clones on one machine share it.

Location: ``$REPROBOOK_CACHE`` if set, else ``$XDG_CACHE_HOME/reprobook``, else
``~/.cache/reprobook``. Entries are written atomically (temporary file, then rename), so an
interrupted decode never leaves a half-written array behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    if os.environ.get("REPROBOOK_CACHE"):
        root = Path(os.environ["REPROBOOK_CACHE"])
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reprobook"
    root.mkdir(parents=True, exist_ok=True)
    return root


def load_arrays(key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``key``, or None when absent or unreadable."""
    path = cache_dir() / f"{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except Exception:  # a damaged entry is treated as missing and rewritten
        return None


def save_arrays(key: str, **arrays: np.ndarray) -> Path:
    path = cache_dir() / f"{key}.npz"
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
