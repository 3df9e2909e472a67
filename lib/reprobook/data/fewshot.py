"""Few-shot splits of CIFAR-100: CIFAR-FS and FC100, as used by RFS (Tian et al. 2020).

Both benchmarks split CIFAR-100's classes into disjoint train / val / test class sets and use
**all 600 images of each class** (the official 500 train + 100 test images pooled):

- **CIFAR-FS** (Bertinetto et al. 2019): 64 / 16 / 20 fine classes drawn at random.
- **FC100** (Oreshkin et al. 2018): 12 / 4 / 4 *superclasses*, i.e. 60 / 20 / 20 fine classes,
  so that test classes are semantically far from the training classes.

The class lists are read from ``splits/<name>/<split>.json`` in the first data root
(:func:`reprobook.data.cifar.data_roots`) that has one: CIFAR-FS files hold
``[superclass, class]`` pairs, FC100 files superclass names. The images come from
:func:`reprobook.data.load_cifar` (``cifar100``, train and test).

The official code (WangYueFt/rfs ``dataset/cifar.py``, class ``CIFAR100``) reads the same
splits from pickles and relabels the classes 0..C-1 in order of first appearance; here the
order is that of the split file (for FC100: superclasses in file order, each one's five fine
classes alphabetically). Its normalisation constants (``dataset/transform_cfg.py``,
``transform_D``) are :data:`RFS_CIFAR_MEAN` / :data:`RFS_CIFAR_STD`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .cifar import data_roots, load_cifar
from .classes import CIFAR100_CLASSES, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_TO_COARSE, CIFAR100_SUPERCLASSES
from .dataset import ImageDataset
from .errors import CorruptDataError, DataNotFoundError

FEWSHOT_DATASETS = ("cifar-fs", "fc100")
FEWSHOT_SPLITS = ("train", "val", "test")
#: number of fine classes per split (CIFAR-FS: 64/16/20; FC100: 12/4/4 superclasses x 5)
FEWSHOT_NUM_CLASSES = {"cifar-fs": {"train": 64, "val": 16, "test": 20},
                       "fc100": {"train": 60, "val": 20, "test": 20}}
#: images per class once the CIFAR-100 train (500) and test (100) images are pooled
IMAGES_PER_CLASS = 600

#: the official CIFAR-FS / FC100 normalisation (rfs dataset/transform_cfg.py, transform_D), in [0, 1]
RFS_CIFAR_MEAN = (0.5071, 0.4867, 0.4408)
RFS_CIFAR_STD = (0.2675, 0.2565, 0.2761)

_ALIASES = {"cifar-fs": "cifar-fs", "cifarfs": "cifar-fs", "cifar_fs": "cifar-fs", "fc100": "fc100",
            "fc-100": "fc100"}


def canonical_name(name: str) -> str:
    """``"cifar-fs"`` or ``"fc100"`` for any accepted spelling (``CIFAR-FS``, ``cifar_fs``, ``FC-100`` ...)."""
    key = str(name).lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown few-shot dataset {name!r}; valid: {', '.join(FEWSHOT_DATASETS)}")
    return _ALIASES[key]


def find_split_file(name: str, split: str) -> Path:
    """The ``splits/<name>/<split>.json`` of the first data root that has it.

    Raises :class:`DataNotFoundError` naming every path looked at.
    """
    name = canonical_name(name)
    if split not in FEWSHOT_SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(FEWSHOT_SPLITS)}")
    looked = []
    for root in data_roots():
        path = root / "splits" / name / f"{split}.json"
        if path.is_file():
            return path
        looked.append(str(path))
    raise DataNotFoundError(
        f"the {name} {split} class split was not found; looked for: {'; '.join(looked)}. Set "
        f"REPROBOOK_DATA to a folder holding splits/{name}/{{train,val,test}}.json "
        f"(e.g. ../shared/data).")


def fewshot_classes(name: str, split: str) -> tuple[str, ...]:
    """The fine CIFAR-100 class names of a split, in the split file's order.

    CIFAR-FS: ``[superclass, class]`` pairs; the superclass must be the class's CIFAR-100
    superclass. FC100: superclass names, each expanded to its five fine classes
    (alphabetically, as in :data:`CIFAR100_SUPERCLASSES`). Unknown names, a wrong superclass
    and repeated classes raise :class:`CorruptDataError` naming the file.
    """
    name = canonical_name(name)
    path = find_split_file(name, split)
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CorruptDataError(f"cannot read the class split {path}: {e}") from e
    if not isinstance(entries, list) or not entries:
        raise CorruptDataError(f"{path} must hold a non-empty JSON list, got {type(entries).__name__}")
    classes: list[str] = []
    if name == "cifar-fs":
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(s, str) for s in entry)):
                raise CorruptDataError(f"{path}: each entry must be a [superclass, class] pair, got {entry!r}")
            coarse, fine = entry
            if fine not in CIFAR100_CLASSES:
                raise CorruptDataError(f"{path}: unknown CIFAR-100 class {fine!r}; valid: "
                                       f"{', '.join(CIFAR100_CLASSES)}")
            true_coarse = CIFAR100_COARSE_CLASSES[CIFAR100_FINE_TO_COARSE[CIFAR100_CLASSES.index(fine)]]
            if coarse != true_coarse:
                raise CorruptDataError(f"{path}: class {fine!r} is listed under superclass {coarse!r}, "
                                       f"but CIFAR-100 puts it in {true_coarse!r}")
            classes.append(fine)
    else:
        for coarse in entries:
            if coarse not in CIFAR100_SUPERCLASSES:
                raise CorruptDataError(f"{path}: unknown CIFAR-100 superclass {coarse!r}; valid: "
                                       f"{', '.join(CIFAR100_COARSE_CLASSES)}")
            classes.extend(CIFAR100_SUPERCLASSES[coarse])
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise CorruptDataError(f"{path}: classes listed more than once: {repeated}")
    return tuple(classes)


def load_fewshot(name: str, split: str) -> ImageDataset:
    """One split of CIFAR-FS or FC100 as an :class:`ImageDataset` of uint8 ``(N, 32, 32, 3)`` images.

    ``name`` is ``"cifar-fs"`` or ``"fc100"``, ``split`` one of ``train``/``val``/``test``.
    The CIFAR-100 train and test images of each class are pooled (600 per class, train images
    first), sorted by the new label; labels ``(N,)`` are 0..C-1 in the split file's order and
    ``classes`` the fine class names (CIFAR-FS 64/16/20, FC100 60/20/20). ``coarse_labels``
    keep the CIFAR-100 superclass indices into ``coarse_classes``.

    As in rfs ``dataset/cifar.py`` (``CIFAR100`` / ``MetaCIFAR100``) and ``eval_fewshot.py``
    (``n_cls`` 64 for CIFAR-FS, 60 for FC100).
    """
    name = canonical_name(name)
    classes = fewshot_classes(name, split)
    parts = [load_cifar("cifar100", s) for s in ("train", "test")]
    images = np.concatenate([p.images for p in parts])
    fine = np.concatenate([p.labels for p in parts])
    mapping = np.full(len(CIFAR100_CLASSES), -1, np.int64)
    mapping[[CIFAR100_CLASSES.index(c) for c in classes]] = np.arange(len(classes))
    new = mapping[fine]
    keep = np.flatnonzero(new >= 0)
    keep = keep[np.argsort(new[keep], kind="stable")]
    labels = new[keep]
    counts = np.bincount(labels, minlength=len(classes))
    notes = [p.note for p in parts if "partial" in p.note]     # some shards are missing
    note = (f"CIFAR-100 train+test pooled, {len(classes)} classes of {find_split_file(name, split)}"
            + ("; " + "; ".join(notes) if notes else ""))
    if not notes and (counts != IMAGES_PER_CLASS).any():
        short = {classes[c]: int(counts[c]) for c in np.flatnonzero(counts != IMAGES_PER_CLASS)}
        raise CorruptDataError(f"{name} {split}: expected {IMAGES_PER_CLASS} images per class "
                               f"(CIFAR-100 train + test), found {short}")
    coarse = np.asarray(CIFAR100_FINE_TO_COARSE, np.int64)[fine[keep]]
    return ImageDataset(name, split, images[keep], labels, classes, coarse, CIFAR100_COARSE_CLASSES, note)
