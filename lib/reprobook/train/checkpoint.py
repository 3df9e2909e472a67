"""Atomic checkpoints: a run killed mid-write leaves the previous checkpoint intact.

Checkpoints hold tensors and plain metadata (dicts, lists, numbers, strings) only, and are
loaded with ``torch.load(..., weights_only=True)``: a checkpoint someone hands a user (a
teacher, a generator, a resumed run) cannot execute code when loaded.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import torch


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class UnsafeCheckpointError(ValueError):
    """A checkpoint holds something other than tensors and plain metadata."""


class CorruptCheckpointError(ValueError):
    """A checkpoint file cannot be read (empty, truncated, not a torch file)."""


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict | None:
    """The saved state, or None when no checkpoint exists at ``path``.

    Refuses (``UnsafeCheckpointError``) a file that holds arbitrary Python objects.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "Unsupported operand" in str(e) or "invalid load key" in str(e):       # not a pickle at all
            raise CorruptCheckpointError(f"cannot read checkpoint {path} ({first}); it is damaged: "
                                         f"delete it to start that training afresh") from None
        raise UnsafeCheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and plain metadata, "
            f"which could run code when loaded ({first})") from None
    except (EOFError, RuntimeError, OSError, KeyError, IndexError, ValueError, UnicodeDecodeError) as e:
        # random bytes can fail anywhere in the unpickler; all of it means "not a checkpoint"
        raise CorruptCheckpointError(f"cannot read checkpoint {path} ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0] if str(e) else 'empty or truncated file'}); "
                                     f"it is damaged: delete it to start that training afresh") from None
