"""CIFAR-10 and CIFAR-100, train and test, from whichever accepted layout is present.

Roots are searched in order: ``$REPROBOOK_DATA``, then the clone's ``data/``. In each root,
the accepted layouts are, in order:

1. zip shards with a manifest (``<root>/<name>/<name>-manifest.json`` or ``<root>/<name>-manifest.json``),
2. the torchvision layout (``cifar-10-batches-py/``, ``cifar-100-python/``),
3. an ImageFolder tree (``<root>/<name>/<split>/<class>/*.png``).

When none is found and downloading is allowed (``download=True``, or ``$REPROBOOK_DOWNLOAD``
not ``0``), torchvision downloads the official release into the clone's ``data/``.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np

from ..paths import REPO_ROOT
from . import cache
from .classes import CIFAR100_COARSE_CLASSES, CIFAR100_FINE_TO_COARSE, CLASSES
from .dataset import ImageDataset
from .decode import IMAGE_SUFFIXES, decode_files
from .errors import CorruptDataError, DataNotFoundError
from .shards import find_manifest, load_shards, shard_set

TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
SPLITS = ("train", "test")


def data_roots() -> list[Path]:
    """The folders searched for datasets, in order."""
    roots = []
    if os.environ.get("REPROBOOK_DATA"):
        roots += [Path(p).expanduser() for p in os.environ["REPROBOOK_DATA"].split(os.pathsep) if p]
    roots.append(REPO_ROOT / "data")
    return roots


def _read_torchvision(folder: Path, name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        key = b"labels"
    else:
        files, key = [split], b"fine_labels"
    images, labels = [], []
    for f in files:
        path = folder / f
        try:
            with open(path, "rb") as fh:
                batch = pickle.load(fh, encoding="bytes")
        except FileNotFoundError as e:
            raise DataNotFoundError(f"{path} is missing from the torchvision layout in {folder}") from e
        except Exception as e:
            raise CorruptDataError(f"cannot read {path}: {e}") from e
        images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[key], np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _read_image_folder(folder: Path, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise CorruptDataError(f"{folder} has class folders not in the official list: {unknown}")
    files, labels = [], []
    for c, name in enumerate(classes):
        for p in sorted((folder / name).glob("*")) if (folder / name).is_dir() else []:
            if p.suffix.lower() in IMAGE_SUFFIXES:
                files.append(str(p))
                labels.append(c)
    if not files:
        raise DataNotFoundError(f"no images found under {folder}")
    key = hashlib.sha256("\n".join(f"{f}:{os.path.getmtime(f)}" for f in files).encode()).hexdigest()
    key = f"imagefolder-{key[:24]}"
    cached = cache.load_arrays(key)
    if cached is None:
        cached = {"images": decode_files(files)}
        cache.save_arrays(key, **cached)
    return cached["images"], np.asarray(labels, np.int64)


def _download(root: Path, name: str) -> Path:
    import torchvision

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        cls(str(root), train=train, download=True)
    return root / TORCHVISION_FOLDERS[name]


def load_cifar(name: str = "cifar10", split: str = "train", download: bool | None = None) -> ImageDataset:
    """Load a whole CIFAR split as an :class:`ImageDataset` (labels in the official order).

    Raises :class:`DataNotFoundError` naming every place looked at when no layout is found,
    and :class:`CorruptDataError` naming the file when one is damaged.
    """
    name = name.lower().replace("-", "")
    if name not in CLASSES:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(CLASSES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    classes = CLASSES[name]
    looked: list[str] = []
    found = None
    for root in data_roots():
        manifest = find_manifest(root, name)
        if manifest is not None:
            images, labels, note = load_shards(shard_set(manifest, name, split), classes)
            found = (images, labels, f"zip shards in {manifest.parent}" + (f"; {note}" if note else ""))
            break
        looked.append(f"{root / name / (name + '-manifest.json')}")
        tv = root / TORCHVISION_FOLDERS[name]
        if tv.is_dir():
            images, labels = _read_torchvision(tv, name, split)
            found = (images, labels, f"torchvision layout in {tv}")
            break
        looked.append(str(tv))
        tree = root / name / split
        if tree.is_dir():
            images, labels = _read_image_folder(tree, classes)
            found = (images, labels, f"image folder {tree}")
            break
        looked.append(str(tree))
    if found is None:
        if download is None:
            download = os.environ.get("REPROBOOK_DOWNLOAD", "1") != "0"
        if download:
            try:
                tv = _download(data_roots()[-1], name)
            except Exception as e:
                raise DataNotFoundError(
                    f"{name} not found (looked for {'; '.join(looked)}) and the download failed "
                    f"({type(e).__name__}: {e}). Set REPROBOOK_DATA to a folder with the zip "
                    f"shards (e.g. ../shared/data) or the torchvision layout.") from e
            images, labels = _read_torchvision(tv, name, split)
            found = (images, labels, f"downloaded to {tv}")
        else:
            raise DataNotFoundError(
                f"{name} {split} not found; looked for: {'; '.join(looked)}. Set REPROBOOK_DATA "
                f"to a folder holding the zip shards and manifest (e.g. ../shared/data), or the "
                f"torchvision layout, or allow a download with REPROBOOK_DOWNLOAD=1.")
    images, labels, note = found
    coarse = coarse_classes = None
    if name == "cifar100":
        coarse = np.asarray(CIFAR100_FINE_TO_COARSE, np.int64)[labels]
        coarse_classes = CIFAR100_COARSE_CLASSES
    return ImageDataset(name, split, images, labels, classes, coarse, coarse_classes, note)
