"""Omnipush (Bauza et al., IROS 2019, arXiv 1910.00618): object ids, the meta-learning split, push files.

Omnipush has 250 objects, each a centre piece with four attachable sides. An object id is 8
characters, four ``(shape, weight)`` pairs, one per side in order around the object, e.g.
``"1a1a3a2a"``: the shape is a digit in :data:`OBJECT_SHAPES`, the weight a letter in
:data:`OBJECT_WEIGHTS`. Two ids denote the same physical object when one is a cyclic rotation
of the other by whole sides (a shift by 2 characters); a reflection (the sides in reverse
order) is *not* the same object. :func:`canonical_id` picks one spelling per object.

The meta-learning benchmark stores, per object, in one folder:

- ``<id>_X_3_not_norm.npy``: float ``(n, 3)``, the push parameters (``n`` is 250 in the real data),
- ``<id>_y_3_not_norm.npy``: float ``(n, 3)``, the object's displacement: Δx, Δy (metres), Δθ (radians),

and a ``split.json`` with ``train_keys`` / ``test_keys`` (lists of ids) and ``X_mean``,
``X_std``, ``y_mean``, ``y_std`` (lists of 3 floats). The split files are found as
``omnipush/<name>.json`` in the first data root (:func:`reprobook.data.cifar.data_roots`) that
has one: ``split`` (200 train / 50 test objects) and ``plywood_split`` (all 250 objects to
train on, 10 test objects pushed on plywood, 9 of which are also train objects: read it with
``allow_overlap=True``).

As in the official loader (MIT-Omnipush/omnipush-metalearning-baselines, ``preprocess.py``,
``check_in_list`` and ``omnipush``): a file's id (its first 8 characters) matches a split key
when ``any(st[2*p:]+st[:2*p] in L for p in range(4))``; the train list is tried first; a file in
neither list is an error unless all objects are asked for; and the data is normalised as
``(X - X_mean) / X_std``, ``(y - y_mean) / y_std``. Unlike it (which stacks float32 tensors in
``os.listdir`` order), this module returns float64 numpy arrays in a dict keyed by split key.
"""
from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cifar import data_roots
from .errors import CorruptDataError, DataNotFoundError

#: side shapes, the digit of each (shape, weight) pair
OBJECT_SHAPES = ("1", "2", "3", "4")
#: side weights seen in the data; what each letter means is not documented in the data files
OBJECT_WEIGHTS = ("a", "b", "c", "B", "C")
#: pushes per object in the real benchmark files (not enforced: the official loader only warns)
PUSHES_PER_OBJECT = 250
#: the roles an object can have in a split; ``read_benchmark`` also accepts ``"all"``
ROLES = ("train", "test")
BENCHMARK_ROLES = ROLES + ("all",)
#: the six keys of a split file, in the order the official files hold them
SPLIT_KEYS = ("train_keys", "test_keys", "X_mean", "y_mean", "X_std", "y_std")
X_SUFFIX = "_X_3_not_norm.npy"
Y_SUFFIX = "_y_3_not_norm.npy"

_ID_HELP = (f"an object id is 8 characters, four (shape, weight) pairs with shape in "
            f"{', '.join(OBJECT_SHAPES)} and weight in {', '.join(OBJECT_WEIGHTS)}, e.g. '1a1a3a2a'")


# --------------------------------------------------------------------------------------- ids
def parse_object_id(obj_id: str) -> tuple[tuple[str, str], ...]:
    """The four ``(shape, weight)`` sides of an id: ``"1a1a3a2a"`` -> ``(("1","a"), ("1","a"), ("3","a"), ("2","a"))``.

    Raises :class:`ValueError` naming the id and what is valid for anything malformed.
    """
    if not isinstance(obj_id, str):
        raise ValueError(f"malformed Omnipush object id {obj_id!r} (a {type(obj_id).__name__}, not a str); "
                         f"{_ID_HELP}")
    if len(obj_id) != 8:
        raise ValueError(f"malformed Omnipush object id {obj_id!r}: {len(obj_id)} characters; {_ID_HELP}")
    for i, ch in enumerate(obj_id):
        valid = OBJECT_SHAPES if i % 2 == 0 else OBJECT_WEIGHTS
        if ch not in valid:
            what = "shape" if i % 2 == 0 else "weight"
            raise ValueError(f"malformed Omnipush object id {obj_id!r}: {what} {ch!r} at position {i} "
                             f"(valid: {', '.join(valid)}); {_ID_HELP}")
    return tuple((obj_id[2 * k], obj_id[2 * k + 1]) for k in range(4))


def rotations(obj_id: str) -> tuple[str, ...]:
    """The four spellings of the same object, ``obj_id[2*p:] + obj_id[:2*p]`` for ``p`` = 0..3."""
    parse_object_id(obj_id)
    return tuple(obj_id[2 * p:] + obj_id[:2 * p] for p in range(4))


def canonical_id(obj_id: str) -> str:
    """The lexicographically smallest of the id's four rotations (one spelling per object)."""
    return min(rotations(obj_id))


def same_object(a: str, b: str) -> bool:
    """Whether two ids denote the same object (equal up to a rotation by whole sides; not reflections)."""
    return canonical_id(a) == canonical_id(b)


def _index(keys: tuple[str, ...], what: str) -> dict[str, str]:
    """canonical id -> key as spelled in the list; ValueError on malformed or repeated objects."""
    index: dict[str, str] = {}
    for key in keys:
        try:
            canon = canonical_id(key)
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None
        if canon in index:
            raise ValueError(f"{what} lists the same object twice (up to rotation): "
                             f"{index[canon]!r} and {key!r}")
        index[canon] = key
    return index


def _stat(value, name: str, positive: bool = False) -> np.ndarray:
    if isinstance(value, np.ndarray):
        items = value.tolist() if value.ndim == 1 else None
    else:
        items = list(value) if isinstance(value, (list, tuple)) else None
    if items is None or len(items) != 3:
        raise ValueError(f"{name} must be a list of 3 numbers, got {value!r}")
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) for v in items):
        raise ValueError(f"{name} must be a list of 3 numbers, got {value!r}")
    arr = np.asarray(items, np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    if positive and (arr <= 0).any():
        raise ValueError(f"{name} must be > 0 (it divides the data), got {arr.tolist()}")
    arr.flags.writeable = False
    return arr


# ------------------------------------------------------------------------------------- split
@dataclass(frozen=True)
class OmnipushSplit:
    """A meta-learning split: train / test object ids and the normalisation statistics.

    ``X_mean``, ``X_std``, ``y_mean``, ``y_std`` are read-only float64 arrays of shape ``(3,)``.
    Constructing one checks the ids (well formed, no object twice in a list up to rotation) and
    the statistics (3 finite numbers, stds > 0) and raises :class:`ValueError` otherwise. An
    object may be in both lists (see :attr:`overlap`); :func:`read_split` refuses that unless told.
    """

    train_keys: tuple[str, ...]
    test_keys: tuple[str, ...]
    X_mean: np.ndarray
    X_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray

    def __post_init__(self):
        for name in ("train_keys", "test_keys"):
            keys = getattr(self, name)
            if isinstance(keys, str) or not isinstance(keys, (list, tuple)):
                raise ValueError(f"{name} must be a list of object ids, got {type(keys).__name__}")
            object.__setattr__(self, name, tuple(keys))
        for name in ("X_mean", "y_mean", "X_std", "y_std"):
            object.__setattr__(self, name, _stat(getattr(self, name), name, positive=name.endswith("std")))
        # canonical id -> key as the split spells it (not fields: kept out of repr and equality)
        object.__setattr__(self, "_train_index", _index(self.train_keys, "train_keys"))
        object.__setattr__(self, "_test_index", _index(self.test_keys, "test_keys"))

    def __eq__(self, other) -> bool:
        if not isinstance(other, OmnipushSplit):
            return NotImplemented
        return (self.train_keys == other.train_keys and self.test_keys == other.test_keys
                and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in SPLIT_KEYS[2:]))

    def __hash__(self) -> int:
        return hash((self.train_keys, self.test_keys) + tuple(tuple(getattr(self, n).tolist())
                                                              for n in SPLIT_KEYS[2:]))

    @property
    def overlap(self) -> tuple[str, ...]:
        """Test keys that are also train keys up to rotation (empty for a proper split)."""
        return tuple(k for k in self.test_keys if canonical_id(k) in self._train_index)

    def keys(self, role: str) -> tuple[str, ...]:
        """``train_keys`` or ``test_keys``."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; valid: {', '.join(ROLES)}")
        return self.train_keys if role == "train" else self.test_keys

    def key_of(self, obj_id: str, role: str | None = None) -> str | None:
        """The split key (as spelled in the split) of the object ``obj_id`` names, up to rotation.

        With ``role=None`` the train list is tried first, as in the official loader; ``None``
        when the object is in neither (or not in ``role``'s) list.
        """
        canon = canonical_id(obj_id)
        if role is not None:
            self.keys(role)     # validates role
            return (self._train_index if role == "train" else self._test_index).get(canon)
        return self._train_index.get(canon, self._test_index.get(canon))

    def role(self, obj_id: str) -> str | None:
        """``"train"``, ``"test"`` or ``None`` for an id, matched up to rotation, train first (official)."""
        canon = canonical_id(obj_id)
        if canon in self._train_index:
            return "train"
        return "test" if canon in self._test_index else None

    def normalize(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """New float64 arrays ``(X - X_mean) / X_std`` and ``(y - y_mean) / y_std``; shapes ``(..., 3)``."""
        X, y = _last3(X, "X"), _last3(y, "y")
        return (X - self.X_mean) / self.X_std, (y - self.y_mean) / self.y_std

    def denormalize(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """The inverse of :meth:`normalize`: new float64 arrays ``X * X_std + X_mean``, ``y * y_std + y_mean``."""
        X, y = _last3(X, "X"), _last3(y, "y")
        return X * self.X_std + self.X_mean, y * self.y_std + self.y_mean


def _last3(a, name: str) -> np.ndarray:
    a = np.array(a, dtype=np.float64)       # a copy: callers' arrays are never changed
    if a.ndim == 0 or a.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., 3), got {a.shape}")
    return a


def read_split(path: str | Path, allow_overlap: bool = False) -> OmnipushSplit:
    """Read and check a ``split.json``.

    It must be a JSON object with the keys ``train_keys``, ``test_keys`` (lists of well-formed
    ids, no object twice in a list), ``X_mean``, ``X_std``, ``y_mean``, ``y_std`` (3 finite
    numbers each, stds > 0); other keys are ignored. No object may be in both lists up to
    rotation unless ``allow_overlap`` (``plywood_split.json`` trains on all 250 objects and tests
    on 10 of them pushed on plywood). Raises :class:`DataNotFoundError` for a missing file and
    :class:`CorruptDataError` naming the file for anything else.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as e:
        raise DataNotFoundError(f"the Omnipush split file {path} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise CorruptDataError(f"cannot read the Omnipush split file {path}: {e}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise CorruptDataError(f"{path} is not valid JSON ({e}); expected an object with the keys "
                               f"{', '.join(SPLIT_KEYS)}") from e
    if not isinstance(data, dict):
        raise CorruptDataError(f"{path} must hold a JSON object with the keys {', '.join(SPLIT_KEYS)}, "
                               f"got a {type(data).__name__}")
    missing = [k for k in SPLIT_KEYS if k not in data]
    if missing:
        raise CorruptDataError(f"{path} lacks the key(s) {', '.join(missing)}; a split file holds "
                               f"{', '.join(SPLIT_KEYS)}")
    for name in ("train_keys", "test_keys"):
        if not isinstance(data[name], list):
            raise CorruptDataError(f"{path}: {name} must be a list of object ids, got "
                                   f"{type(data[name]).__name__}")
    try:
        split = OmnipushSplit(**{k: data[k] for k in SPLIT_KEYS})
    except ValueError as e:
        raise CorruptDataError(f"{path}: {e}") from e
    if split.overlap and not allow_overlap:
        raise CorruptDataError(f"{path}: {len(split.overlap)} test object(s) are also train objects "
                               f"(up to rotation): {', '.join(split.overlap)}; pass allow_overlap=True "
                               f"for a split that tests the training objects under other conditions")
    return split


def write_split(path: str | Path, split: OmnipushSplit) -> Path:
    """Write ``split`` as JSON laid out like the official ``split.json`` (one key a line).

    :func:`read_split` gives back an equal split: floats are written with Python's exact repr.
    """
    path = Path(path)
    data = {"train_keys": list(split.train_keys), "test_keys": list(split.test_keys)}
    data.update({k: getattr(split, k).tolist() for k in SPLIT_KEYS[2:]})
    text = "{" + ",\n    ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()) + "}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def find_split(name: str = "split") -> Path:
    """``omnipush/<name>.json`` in the first data root having it (``name``: ``split``, ``plywood_split`` ...).

    Raises :class:`DataNotFoundError` naming every path looked at.
    """
    name = str(name).removesuffix(".json")
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"a split name is a file stem such as 'split' or 'plywood_split', got {name!r}")
    looked = []
    for root in data_roots():
        path = root / "omnipush" / f"{name}.json"
        if path.is_file():
            return path
        looked.append(str(path))
    raise DataNotFoundError(f"the Omnipush split {name!r} was not found; looked for: {'; '.join(looked)}. "
                            f"Set REPROBOOK_DATA to a folder holding omnipush/{name}.json "
                            f"(e.g. ../shared/data).")


def load_split(name: str = "split", allow_overlap: bool = False) -> OmnipushSplit:
    """:func:`read_split` of :func:`find_split` (``name``)."""
    return read_split(find_split(name), allow_overlap=allow_overlap)


def load_real_poses() -> tuple[np.ndarray, np.ndarray]:
    """The start and end object poses ``(n, 4)`` rows ``[t, x, y, yaw]`` of the real pushes whose
    statistics are available offline (``omnipush/object_pose.npy``: a pickled dict with ``start``
    and ``end``, 11,152 straight pushes, no object id), from the first data root having the file.

    Raises :class:`DataNotFoundError` naming the paths looked at, :class:`CorruptDataError` naming
    the file when it is not such a dict of two equal ``(n, 4)`` finite arrays.
    """
    looked = []
    for root in data_roots():
        path = root / "omnipush" / "object_pose.npy"
        if path.is_file():
            break
        looked.append(str(path))
    else:
        raise DataNotFoundError(f"the real Omnipush poses were not found; looked for: {'; '.join(looked)}. "
                                f"Set REPROBOOK_DATA to a folder holding omnipush/object_pose.npy (e.g. ../shared/data).")
    try:
        data = np.load(path, allow_pickle=True).item()   # the file is a pickled dict (trusted data root)
        start, end = (np.asarray(data[k], dtype=np.float64) for k in ("start", "end"))
    except Exception as e:
        raise CorruptDataError(f"{path} is not a dict with 'start' and 'end' pose arrays "
                               f"({type(e).__name__}: {e})") from None
    if start.ndim != 2 or start.shape[1] != 4 or start.shape != end.shape or not len(start):
        raise CorruptDataError(f"{path}: 'start' and 'end' must be equal (n, 4) arrays, got {start.shape} and {end.shape}")
    if not (np.isfinite(start).all() and np.isfinite(end).all()):
        raise CorruptDataError(f"{path}: the poses hold non-finite values")
    return start, end


# ------------------------------------------------------------------------------------ objects
def _check_pushes(X, y) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    for name, a in (("X", X), ("y", y)):
        if a.dtype.kind not in "fiu":
            raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
        if a.ndim != 2 or a.shape[1] != 3 or a.shape[0] < 1:
            raise ValueError(f"{name} must have shape (n, 3) with n >= 1, got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has {int((~np.isfinite(a)).sum())} non-finite value(s)")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have as many rows (pushes), got {X.shape[0]} and {y.shape[0]}")
    return X.astype(np.float64), y.astype(np.float64)


def object_files(folder: str | Path) -> dict[str, tuple[Path, Path]]:
    """The objects in a benchmark folder: id (as the file names spell it) -> ``(X_path, y_path)``, sorted.

    Only ``*_X_3_not_norm.npy`` / ``*_y_3_not_norm.npy`` files count. A file whose prefix is not
    a valid id, an X file without its y partner (or the reverse), and two files for the same
    object under different rotations raise :class:`CorruptDataError` naming the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"the Omnipush object folder {folder} does not exist")
    found: dict[str, dict[str, Path]] = {}
    for p in sorted(folder.iterdir()):
        for kind, suffix in (("X", X_SUFFIX), ("y", Y_SUFFIX)):
            if p.name.endswith(suffix):
                obj_id = p.name[: -len(suffix)]
                try:
                    parse_object_id(obj_id)
                except ValueError as e:
                    raise CorruptDataError(f"{p}: the file name does not start with an object id: {e}") from None
                found.setdefault(obj_id, {})[kind] = p
    by_object: dict[str, str] = {}
    result = {}
    for obj_id, files in sorted(found.items()):
        for kind, other in (("X", "y"), ("y", "X")):
            if kind in files and other not in files:
                want = folder / (obj_id + (Y_SUFFIX if other == "y" else X_SUFFIX))
                raise CorruptDataError(f"{files[kind]} has no {other} partner: expected {want}")
        canon = canonical_id(obj_id)
        if canon in by_object:
            raise CorruptDataError(f"{files['X']} and {folder / (by_object[canon] + X_SUFFIX)} are the same "
                                   f"object (ids equal up to rotation); keep one of them")
        by_object[canon] = obj_id
        result[obj_id] = (files["X"], files["y"])
    return result


def _load(path: Path) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError as e:
        raise DataNotFoundError(f"{path} does not exist") from e
    except (OSError, ValueError, EOFError) as e:
        raise CorruptDataError(f"cannot read {path} as a .npy array: {e}") from e
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiu":
        raise CorruptDataError(f"{path} must hold a float array of shape (n, 3), got dtype "
                               f"{getattr(a, 'dtype', type(a).__name__)}")
    if a.ndim != 2 or a.shape[1] != 3 or a.shape[0] < 1:
        raise CorruptDataError(f"{path} must hold a float array of shape (n, 3) with n >= 1, got {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise CorruptDataError(f"{path} has {int(bad.sum())} non-finite value(s) (rows {rows[:5].tolist()}"
                               f"{' ...' if len(rows) > 5 else ''}); expected finite values")
    return a.astype(np.float64)


def _read_pair(x_path: Path, y_path: Path) -> tuple[np.ndarray, np.ndarray]:
    X, y = _load(x_path), _load(y_path)
    if X.shape[0] != y.shape[0]:
        raise CorruptDataError(f"{x_path} has {X.shape[0]} pushes but {y_path} has {y.shape[0]}; "
                               f"expected one row per push in both")
    return X, y


def read_object(folder: str | Path, obj_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The pushes of one object: ``X`` (push parameters) and ``y`` (Δx, Δy m, Δθ rad), float64 ``(n, 3)``.

    The files may be named by any rotation of ``obj_id``. Missing files raise
    :class:`DataNotFoundError`; unreadable, wrong-shaped, non-finite or mismatched ones
    :class:`CorruptDataError`, each naming the file.
    """
    folder = Path(folder)
    names = rotations(obj_id)
    for name in names:
        x_path, y_path = folder / (name + X_SUFFIX), folder / (name + Y_SUFFIX)
        if x_path.exists() or y_path.exists():
            if not x_path.exists():
                raise DataNotFoundError(f"{x_path} is missing (its y file {y_path} exists)")
            if not y_path.exists():
                raise DataNotFoundError(f"{y_path} is missing (its X file {x_path} exists)")
            return _read_pair(x_path, y_path)
    raise DataNotFoundError(f"object {obj_id!r} has no files in {folder}; looked for "
                            f"{', '.join(n + X_SUFFIX for n in names)}")


def write_object(folder: str | Path, obj_id: str, X, y) -> tuple[Path, Path]:
    """Write ``<obj_id>_X_3_not_norm.npy`` and ``<obj_id>_y_3_not_norm.npy``; returns their paths.

    ``X`` and ``y`` must be real ``(n, 3)`` arrays with the same ``n >= 1`` and finite values
    (else :class:`ValueError`). They are stored as float64: the dtype of the real files is not
    known here, and float64 holds float32 data exactly. Refuses (ValueError) to write an object
    the folder already holds under another rotation of its id.
    """
    parse_object_id(obj_id)
    X, y = _check_pushes(X, y)
    folder = Path(folder)
    for other in rotations(obj_id)[1:]:
        if other != obj_id and ((folder / (other + X_SUFFIX)).exists() or (folder / (other + Y_SUFFIX)).exists()):
            raise ValueError(f"{folder} already holds object {obj_id!r} as {other!r} ({other + X_SUFFIX})")
    folder.mkdir(parents=True, exist_ok=True)
    x_path, y_path = folder / (obj_id + X_SUFFIX), folder / (obj_id + Y_SUFFIX)
    for path, array in ((y_path, y), (x_path, X)):   # atomically, X last: a reader never sees half a file
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    return x_path, y_path


def read_benchmark(folder: str | Path, split: OmnipushSplit, role: str = "train", normalize: bool = False,
                   require_all: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every object of ``role`` (``train``, ``test`` or ``all``) in ``folder``: split key -> ``(X, y)``.

    File ids are matched to split keys up to rotation and the result is keyed by the key as the
    split spells it (an object in neither list, read only with ``role="all"``, by its file id),
    in the split's order, unlisted objects last. An object in neither list is a
    :class:`CorruptDataError` unless ``role="all"`` (the official loader's assert). With
    ``normalize`` the arrays are :meth:`OmnipushSplit.normalize` d; with ``require_all`` a split
    key of ``role`` without files raises :class:`DataNotFoundError` listing them.

    For a split whose lists overlap (``allow_overlap``), an object in both is read for either
    role here, where the official loader would count it as train only.
    """
    if role not in BENCHMARK_ROLES:
        raise ValueError(f"unknown role {role!r}; valid: {', '.join(BENCHMARK_ROLES)}")
    folder = Path(folder)
    files = object_files(folder)
    chosen: dict[str, tuple[Path, Path]] = {}
    unlisted: dict[str, tuple[Path, Path]] = {}
    for obj_id, paths in files.items():
        key = split.key_of(obj_id)
        if key is None:
            if role != "all":
                raise CorruptDataError(f"{paths[0]}: object {obj_id!r} is in neither train_keys nor test_keys "
                                       f"of the split (up to rotation); pass role='all' to read it anyway")
            unlisted[obj_id] = paths
        elif role == "all":
            chosen[key] = paths
        else:
            key = split.key_of(obj_id, role)
            if key is not None:
                chosen[key] = paths
    wanted = split.train_keys + split.test_keys if role == "all" else split.keys(role)
    if require_all:
        have = {canonical_id(k) for k in chosen}
        missing = [k for k in wanted if canonical_id(k) not in have]
        if missing:
            raise DataNotFoundError(f"{len(missing)} {role} object(s) of the split have no files in {folder}: "
                                    f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}")
    order = list(dict.fromkeys(k for k in wanted if k in chosen)) + sorted(unlisted)
    chosen.update(unlisted)
    out = {}
    for key in order:
        X, y = _read_pair(*chosen[key])
        out[key] = split.normalize(X, y) if normalize else (X, y)
    return out
