"""The zip-shard layout: ``<name>-manifest.json`` plus ``<name>-<split>-<k>.zip`` shards.

Each shard stores lossless images in the ImageFolder layout ``<split>/<class>/<stem>.<ext>``.
A shard's sha256 is verified against the manifest once (when it is first decoded, or when its
size or modification time changed since); decoded arrays are cached, keyed by the checksums of
the shards they came from. A partial set of shards loads as a subset and says so.
"""
from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cache
from .decode import IMAGE_SUFFIXES, decode_zip_members
from .errors import CorruptDataError, DataNotFoundError


@dataclass(frozen=True)
class ShardSet:
    manifest_path: Path
    name: str
    split: str
    present: tuple[str, ...]     # shard file names found beside the manifest
    missing: tuple[str, ...]     # shard file names the manifest lists but that are absent
    manifest: dict


def find_manifest(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name / f"{name}-manifest.json", folder / f"{name}-manifest.json"):
        if candidate.is_file():
            return candidate
    return None


def shard_set(manifest_path: Path, name: str, split: str) -> ShardSet:
    try:
        manifest = json.loads(manifest_path.read_text())
        shards = manifest["shards"]
    except (OSError, ValueError, KeyError) as e:
        raise CorruptDataError(f"cannot read manifest {manifest_path}: {e}") from e
    names = sorted(s for s, meta in shards.items() if meta.get("split") == split)
    if not names:
        raise DataNotFoundError(f"manifest {manifest_path} lists no {split!r} shards")
    folder = manifest_path.parent
    present = tuple(s for s in names if (folder / s).is_file())
    missing = tuple(s for s in names if not (folder / s).is_file())
    if not present:
        raise DataNotFoundError(
            f"none of the {split} shards of {name} listed in {manifest_path} are present "
            f"({', '.join(missing)}); copy them beside the manifest")
    return ShardSet(manifest_path, name, split, present, missing, manifest)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_shard(path: Path, meta: dict) -> None:
    """Check size, then sha256, of one shard against its manifest entry (cached by stat)."""
    st = path.stat()
    if "bytes" in meta and st.st_size != meta["bytes"]:
        raise CorruptDataError(
            f"shard {path} has {st.st_size} bytes, the manifest says {meta['bytes']}: the file is "
            f"truncated or replaced; copy it again from the source of the data")
    stamp_key = f"verified-{meta['sha256']}"
    stamp = cache.load_arrays(stamp_key)
    where = int(hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12], 16)   # stable across processes
    seen = np.array([st.st_size, st.st_mtime_ns, where], np.int64)
    if stamp is not None and np.array_equal(stamp["stat"], seen):
        return
    actual = sha256_of(path)
    if actual != meta["sha256"]:
        raise CorruptDataError(
            f"shard {path} is corrupt: sha256 {actual[:16]}... differs from the manifest's "
            f"{meta['sha256'][:16]}...; copy it again from the source of the data")
    cache.save_arrays(stamp_key, stat=seen)


def load_shards(shards: ShardSet, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, str]:
    """Decode (or read from cache) the present shards: ``images (N,H,W,3)``, ``labels``, note.

    Samples are ordered by (label, member name): the same files always give the same order.
    """
    folder = shards.manifest_path.parent
    metas = shards.manifest["shards"]
    for s in shards.present:
        verify_shard(folder / s, metas[s])
    key = hashlib.sha256("".join(metas[s]["sha256"] for s in shards.present).encode()).hexdigest()
    key = f"{shards.name}-{shards.split}-{key[:24]}"
    cached = cache.load_arrays(key)
    if cached is None:
        jobs, labels = [], []
        for s in shards.present:
            with zipfile.ZipFile(folder / s) as z:
                members = [m for m in z.namelist() if m.lower().endswith(IMAGE_SUFFIXES)]
            keyed = []
            for m in members:
                parts = m.split("/")
                if len(parts) < 2 or parts[-2] not in classes:
                    raise CorruptDataError(f"member {m!r} of {folder / s} is not "
                                           f"<split>/<class>/<file> with a known class")
                keyed.append((classes.index(parts[-2]), m))
            keyed.sort()
            jobs.append((str(folder / s), [m for _, m in keyed]))
            labels.append(np.array([c for c, _ in keyed], np.int64))
        images = np.concatenate(decode_zip_members(jobs))
        labels = np.concatenate(labels)
        order = np.lexsort((np.arange(len(labels)), labels))  # stable by label across shards
        cached = {"images": images[order], "labels": labels[order]}
        cache.save_arrays(key, **cached)
    note = partial_note(shards, len(cached["labels"]), classes)
    if note:
        warnings.warn(f"{shards.name} {shards.split}: loaded a subset, {note}", stacklevel=3)
    return cached["images"], cached["labels"], note


def partial_note(shards: ShardSet, n_loaded: int, classes: tuple[str, ...]) -> str:
    """What a partial set of shards holds and how to get the rest ("" when complete).

    The train shards are split by class (a CIFAR-10 train shard holds 2 of the 10 classes), so
    a partial set is a subset of the classes, not a smaller sample of all of them."""
    if not shards.missing:
        return ""
    metas = shards.manifest["shards"]
    total = sum(metas[s].get("images", 0) for s in shards.present + shards.missing)

    def held(names):
        found = {c for s in names for c in metas[s].get("classes", {})}
        return [c for c in classes if c in found]

    present, absent = held(shards.present), held(shards.missing)
    absent = [c for c in absent if c not in present]
    note = (f"partial: {len(shards.present)} of {len(shards.present) + len(shards.missing)} "
            f"{shards.split} shards ({n_loaded} of {total} images)")
    if present and absent:
        note += (f", holding only the classes {', '.join(present)}; the classes {', '.join(absent)} "
                 f"are in the missing shards")
    return (note + f" {', '.join(shards.missing)}: copy them beside {shards.manifest_path} "
            f"(a full run needs every {shards.split} shard)")
