"""Trained models shared between the notebooks of a chapter, keyed by everything that made them.

A chapter whose later notebooks study the models an earlier one trains (CRD: the distilled
students) trains them once: :func:`cached` stores the weights and the training's metadata under
``runs/cache/`` (git-ignored) and hands them back when asked again with the same key. The key
covers the caller's parts (configuration, seed, method), the source of the whole library (any
change retrains) and the numeric environment (thread counts, instruction sets, torch version,
device type): a model trained under other numerics would not be the model this run would train,
and the notebook regression compares exactly that.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from ..paths import RUNS
from .checkpoint import CorruptCheckpointError, load_checkpoint, save_checkpoint
from .loop import NonFiniteLossError

CACHE = RUNS / "cache"
NUMERIC_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")


@lru_cache(maxsize=1)
def library_digest() -> str:
    """A hash of every source file of ``reprobook`` (names and contents)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(device: torch.device | str, **parts) -> str:
    """The key of a model made from ``parts`` (JSON-serialisable) on ``device``."""
    numerics = {k: os.environ.get(k) for k in NUMERIC_ENV}
    numerics.update(torch=torch.__version__, threads=torch.get_num_threads(), device=torch.device(device).type)
    blob = json.dumps({"parts": parts, "numerics": numerics, "library": library_digest()}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cached(module: torch.nn.Module, fit: Callable[[torch.nn.Module, Path], dict], *, folder: Path | None = None,
           **parts) -> tuple[torch.nn.Module, dict, bool]:
    """``module`` trained by ``fit(module, checkpoint)`` (which returns JSON-like metadata, e.g.
    the history, and may checkpoint its epochs at ``checkpoint`` so that an interrupted run
    resumes), or, when the same key was trained before, ``module`` with the stored weights.
    Returns ``(module, metadata, hit)``. ``folder`` defaults to ``CACHE`` (read when called)."""
    device = next(module.parameters()).device
    key = cache_key(device, **parts)
    root = Path(folder if folder is not None else CACHE)
    path, partial = root / f"{key}.pt", root / f"{key}.partial.pt"
    state = load_checkpoint(path, map_location=device)
    if state is not None:
        try:
            module.load_state_dict(state["model"])
            return module, state["info"], True
        except (KeyError, TypeError, RuntimeError) as e:
            raise CorruptCheckpointError(f"cache file {path} does not hold this model ({type(e).__name__}: "
                                         f"{str(e).splitlines()[0]}); delete it to train again") from None
    info = fit(module, partial)
    bad = [n for n, t in module.state_dict().items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        partial.unlink(missing_ok=True)
        raise NonFiniteLossError(f"training ended with non-finite weights ({', '.join(bad[:3])}"
                                 f"{', ...' if len(bad) > 3 else ''}); not cached: try a smaller learning rate")
    save_checkpoint(path, {"model": module.state_dict(), "info": info, "parts": json.dumps(parts, default=str)})
    partial.unlink(missing_ok=True)
    return module, info, False
