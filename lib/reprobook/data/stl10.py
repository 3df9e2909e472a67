"""STL-10 (Coates et al. 2011) from the torchvision layout, the dataset of CMC's STL-10 results.

The torchvision layout is ``<root>/stl10_binary/`` with ``train_X.bin`` / ``train_y.bin`` (5,000
labelled images), ``test_X.bin`` / ``test_y.bin`` (8,000), ``unlabeled_X.bin`` (100,000) and
``fold_indices.txt`` (ten lines of training indices, the official 1,000-image folds). Each
``*_X.bin`` holds uint8 images ``(N, 3, 96, 96)`` in column-major order (so ``(N, C, W, H)`` read
row-major), each ``*_y.bin`` uint8 labels 1..10. Roots are searched as for CIFAR
(``$REPROBOOK_DATA``, then the clone's ``data/``); when none has it and downloading is allowed
(``download=True`` or ``$REPROBOOK_DOWNLOAD`` not ``0``), torchvision downloads the release
(2.6 GB) into the clone's ``data/``. The images are memory-mapped, not read: the unlabelled split alone
is 2.8 GB.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .cifar import data_roots
from .dataset import ImageDataset
from .errors import CorruptDataError, DataNotFoundError

STL10_CLASSES: tuple[str, ...] = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                                  "truck")
STL10_FOLDER = "stl10_binary"
STL10_SPLITS = ("train", "test", "unlabeled", "train+unlabeled")
_SIDE = 96
_FILES = {"train": ("train_X.bin", "train_y.bin"), "test": ("test_X.bin", "test_y.bin"),
          "unlabeled": ("unlabeled_X.bin", None)}


def _read_images(path: Path) -> np.ndarray:
    per_image = 3 * _SIDE * _SIDE
    size = path.stat().st_size
    if size == 0 or size % per_image:
        raise CorruptDataError(f"{path} has {size} bytes, not a whole number of 3x96x96 images")
    raw = np.memmap(path, dtype=np.uint8, mode="r", shape=(size // per_image, 3, _SIDE, _SIDE))
    return raw.transpose(0, 3, 2, 1)          # stored (N, C, W, H) -> (N, H, W, C), a view of the map


def _read_labels(path: Path, n: int) -> np.ndarray:
    labels = np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1
    if labels.shape != (n,):
        raise CorruptDataError(f"{path} has {len(labels)} labels for {n} images")
    if n and (labels.min() < 0 or labels.max() >= len(STL10_CLASSES)):
        raise CorruptDataError(f"{path} has labels outside 1..{len(STL10_CLASSES)}")
    return labels


def _read_folds(path: Path, n_train: int) -> list[np.ndarray]:
    try:
        folds = [np.array(line.split(), dtype=np.int64) for line in path.read_text().splitlines() if line.strip()]
    except ValueError as e:
        raise CorruptDataError(f"cannot read {path}: {e}") from e
    if any(len(f) and (f.min() < 0 or f.max() >= n_train) for f in folds):
        raise CorruptDataError(f"{path} has indices outside the {n_train} training images")
    return folds


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    x_name, y_name = _FILES[split]
    x_path = folder / x_name
    if not x_path.is_file():
        raise DataNotFoundError(f"{x_path} is missing from the torchvision layout in {folder}")
    images = _read_images(x_path)
    if y_name is None:                            # unlabelled: label -1
        return images, np.full(len(images), -1, np.int64)
    y_path = folder / y_name
    if not y_path.is_file():
        raise DataNotFoundError(f"{y_path} is missing from the torchvision layout in {folder}")
    return images, _read_labels(y_path, len(images))


def _find(download: bool | None) -> Path:
    looked = []
    for root in data_roots():
        folder = root / STL10_FOLDER
        if folder.is_dir():
            return folder
        looked.append(str(folder))
    if download is None:
        download = os.environ.get("REPROBOOK_DOWNLOAD", "1") != "0"
    if not download:
        raise DataNotFoundError(f"STL-10 not found; looked for: {'; '.join(looked)}. Set REPROBOOK_DATA to a folder "
                                f"holding {STL10_FOLDER}/ (the torchvision layout), or allow a download with "
                                f"REPROBOOK_DOWNLOAD=1.")
    import torchvision

    root = data_roots()[-1]
    root.mkdir(parents=True, exist_ok=True)
    try:
        torchvision.datasets.STL10(str(root), split="train+unlabeled", download=True)
    except Exception as e:
        raise DataNotFoundError(f"STL-10 not found (looked for {'; '.join(looked)}) and the download failed "
                                f"({type(e).__name__}: {e}).") from e
    return root / STL10_FOLDER


def load_stl10(split: str = "train", fold: int | None = None, download: bool | None = None) -> ImageDataset:
    """One STL-10 split as an :class:`ImageDataset` of uint8 ``(N, 96, 96, 3)`` images.

    ``split``: ``train``, ``test``, ``unlabeled`` (labels -1) or ``train+unlabeled`` (CMC's
    pre-training set, the labelled images first). ``fold`` (0-9, ``train`` only) keeps one of the
    official 1,000-image training folds. ``train+unlabeled`` is read into memory (2.8 GB).
    """
    if split not in STL10_SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(STL10_SPLITS)}")
    if fold is not None and (isinstance(fold, bool) or not isinstance(fold, int)):
        raise TypeError(f"fold must be an int in 0..9 or None, got {fold!r}")
    if fold is not None and split != "train":
        raise ValueError(f"folds index the training images; split {split!r} has none")
    folder = _find(download)
    if split == "train+unlabeled":
        parts = [_read_split(folder, s) for s in ("train", "unlabeled")]
        images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    else:
        images, labels = _read_split(folder, split)
    note = f"torchvision layout in {folder}"
    if fold is not None:
        folds_path = folder / "fold_indices.txt"
        if not folds_path.is_file():
            raise DataNotFoundError(f"{folds_path} is missing: it lists the official training folds")
        folds = _read_folds(folds_path, len(images))
        if not 0 <= fold < len(folds):
            raise ValueError(f"fold must be in 0..{len(folds) - 1}, got {fold}")
        images, labels = images[folds[fold]], labels[folds[fold]]
        note += f"; training fold {fold} ({len(labels)} images)"
    return ImageDataset("stl10", split, images, labels, STL10_CLASSES, note=note)
