"""Decoding image files (PNG, WebP, JPEG, ...) into uint8 arrays, in parallel processes."""
from __future__ import annotations

import io
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import CorruptDataError

IMAGE_SUFFIXES = (".png", ".webp", ".jpg", ".jpeg", ".bmp")


def decode_bytes(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as e:
        raise CorruptDataError(f"cannot decode image {where}: {e}") from e


def _decode_zip_members(args: tuple[str, list[str]]) -> np.ndarray:
    path, members = args
    with zipfile.ZipFile(path) as z:
        return np.stack([decode_bytes(z.read(m), f"{path}:{m}") for m in members])


def _decode_files(paths: list[str]) -> np.ndarray:
    return np.stack([decode_bytes(Path(p).read_bytes(), p) for p in paths])


def _workers(n_jobs: int) -> int:
    return max(1, min(n_jobs, os.cpu_count() or 1))


def decode_zip_members(jobs: list[tuple[str, list[str]]]) -> list[np.ndarray]:
    """Decode ``[(zip_path, [member, ...]), ...]``; one array ``(n, H, W, 3)`` per job."""
    if len(jobs) == 1 or _workers(len(jobs)) == 1:
        return [_decode_zip_members(j) for j in jobs]
    with ProcessPoolExecutor(_workers(len(jobs))) as pool:
        return list(pool.map(_decode_zip_members, jobs))


def decode_files(paths: list[str], chunk: int = 2000) -> np.ndarray:
    """Decode image files into one array ``(N, H, W, 3)``, preserving order."""
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    if len(chunks) <= 1 or _workers(len(chunks)) == 1:
        return np.concatenate([_decode_files(c) for c in chunks]) if chunks else np.zeros(
            (0, 32, 32, 3), np.uint8)
    with ProcessPoolExecutor(_workers(len(chunks))) as pool:
        return np.concatenate(list(pool.map(_decode_files, chunks)))
