"""Raw Omnipush-style push records: one ``.npz`` file per object, and the benchmark's ``(X, y)`` from them.

A push record is what one push leaves behind (Omnipush, Bauza et al. 2019, and the simulator
:class:`reprobook.sim.pushing.PushResult` alike): two trajectories of rows ``[t, x, y, yaw]``
(seconds, metres, metres, radians, world frame):

- ``object_pose`` ``(T, 4)``: the object's frame origin and orientation over the push,
- ``tip_pose`` ``(T', 4)``: the pusher tip's centre, its yaw being the push direction.

File format (version 1). The pushes of one object are stored in ``<folder>/<id>_pushes.npz``
(``<id>`` an Omnipush object id, see :func:`reprobook.data.omnipush.parse_object_id`), a
compressed numpy archive (``np.savez_compressed``, no pickled objects) holding:

- ``object_pose``: float64 ``(sum of T_i, 4)``, the object trajectories of all ``n`` pushes, one after the other;
- ``object_offsets``: int64 ``(n + 1,)``, push ``i``'s rows are ``object_pose[object_offsets[i]:object_offsets[i+1]]``;
  it starts at 0, never decreases and ends at the row count of ``object_pose``;
- ``tip_pose``, ``tip_offsets``: the same for the pusher (the two may have different lengths per push);
- ``surface``: a 0-d unicode array, the support surface's name (``"abs"``, ``"plywood"`` ...);
- ``format_version``: a 0-d integer array, ``1``.

Every trajectory has at least 2 rows, finite values and non-decreasing times. Other keys are
ignored. To convert another source, build these arrays (e.g. ``offsets = np.concatenate([[0],
np.cumsum(lengths)])``) and save them with ``np.savez_compressed``, or pass objects with
``object_pose`` / ``tip_pose`` attributes to :func:`write_push_records`.

:func:`push_to_benchmark` / :func:`records_to_benchmark` turn records into the meta-learning
benchmark's per-push input ``X = (x0, y0, alpha)`` and output ``y = (dx, dy, dtheta)`` (see
:mod:`reprobook.data.omnipush`), expressed in the object's initial frame.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import CorruptDataError, DataNotFoundError
from .omnipush import parse_object_id, rotations

__all__ = ["FORMAT_VERSION", "RECORDS_SUFFIX", "RECORD_KEYS", "PushRecord", "records_file",
           "write_push_records", "read_push_records", "wrap_angle", "relative_pose", "push_to_benchmark",
           "records_to_benchmark"]

#: the version of the ``.npz`` layout this module writes and reads
FORMAT_VERSION = 1
RECORDS_SUFFIX = "_pushes.npz"
#: the arrays a records file must hold
RECORD_KEYS = ("object_pose", "object_offsets", "tip_pose", "tip_offsets", "surface", "format_version")


# ------------------------------------------------------------------------------------ records
def _trajectory(value, name: str) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[1] != 4 or a.shape[0] < 2:
        raise ValueError(f"{name} must have shape (T, 4) with T >= 2 rows [t, x, y, yaw], got {a.shape}")
    a = np.array(a, dtype=np.float64)       # a copy: the caller's array stays writable and unchanged
    bad = ~np.isfinite(a)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(f"{name} has {int(bad.sum())} non-finite value(s) (rows {rows[:5].tolist()}"
                         f"{' ...' if len(rows) > 5 else ''})")
    back = np.flatnonzero(np.diff(a[:, 0]) < 0)
    if back.size:
        i = int(back[0])
        raise ValueError(f"{name} times must be non-decreasing, but row {i + 1} (t={a[i + 1, 0]!r}) comes "
                         f"before row {i} (t={a[i, 0]!r})")
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class PushRecord:
    """One push: ``object_pose`` ``(T, 4)`` and ``tip_pose`` ``(T', 4)``, rows ``[t, x, y, yaw]``.

    Units: seconds, metres, radians; world frame; the tip's yaw is the push direction. The arrays
    are stored as read-only float64 copies. Constructing one checks each array (real, 2-d, 4
    columns, at least 2 rows, finite, times non-decreasing) and raises :class:`ValueError`
    naming the array otherwise. Records compare by identity (``eq=False``).
    """

    object_pose: np.ndarray
    tip_pose: np.ndarray

    def __post_init__(self):
        for name in ("object_pose", "tip_pose"):
            object.__setattr__(self, name, _trajectory(getattr(self, name), name))


def _as_record(item, i: int) -> PushRecord:
    if isinstance(item, PushRecord):
        return item
    if not (hasattr(item, "object_pose") and hasattr(item, "tip_pose")):
        raise ValueError(f"record {i}: expected a PushRecord or an object with object_pose and tip_pose "
                         f"attributes, got a {type(item).__name__}")
    try:
        return PushRecord(item.object_pose, item.tip_pose)
    except ValueError as e:
        raise ValueError(f"record {i}: {e}") from None


# -------------------------------------------------------------------------------------- files
def records_file(folder: str | Path, obj_id: str) -> Path:
    """``<folder>/<obj_id>_pushes.npz``; a malformed ``obj_id`` raises :class:`ValueError`."""
    parse_object_id(obj_id)
    return Path(folder) / (obj_id + RECORDS_SUFFIX)


def write_push_records(folder: str | Path, obj_id: str, records: Iterable, surface: str = "abs") -> Path:
    """Write the pushes of one object to :func:`records_file` (``folder``, ``obj_id``); returns its path.

    ``records`` are :class:`PushRecord` s or any objects with ``object_pose`` / ``tip_pose``
    attributes (e.g. :class:`reprobook.sim.pushing.PushResult`), checked as by
    :class:`PushRecord`. An empty list, a bad record, a ``surface`` that is not a non-empty
    str, or a folder already holding the object under another rotation of its id raise
    :class:`ValueError`. The folder is created. The file is written to a temporary file in
    the same folder and then renamed over the final name, so an interrupted write never leaves
    a partial file under that name (an existing file is replaced whole).
    """
    path = records_file(folder, obj_id)
    if isinstance(records, (PushRecord, np.ndarray)) or hasattr(records, "object_pose"):
        raise ValueError("records must be a list of pushes, got a single record")
    recs = [_as_record(r, i) for i, r in enumerate(records)]
    if not recs:
        raise ValueError(f"no records to write for object {obj_id!r}: a records file holds at least one push")
    if not isinstance(surface, str) or not surface:
        raise ValueError(f"surface must be a non-empty str such as 'abs' or 'plywood', got {surface!r}")
    folder = path.parent
    for other in rotations(obj_id)[1:]:
        if other != obj_id and (folder / (other + RECORDS_SUFFIX)).exists():
            raise ValueError(f"{folder} already holds object {obj_id!r} as {other!r} ({other + RECORDS_SUFFIX})")

    def offsets(arrays):
        return np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)

    arrays = {
        "object_pose": np.concatenate([r.object_pose for r in recs]),
        "object_offsets": offsets([r.object_pose for r in recs]),
        "tip_pose": np.concatenate([r.tip_pose for r in recs]),
        "tip_offsets": offsets([r.tip_pose for r in recs]),
        "surface": np.array(surface, dtype=np.str_),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
    }
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _find(folder: Path, obj_id: str) -> Path:
    names = list(dict.fromkeys(rotations(obj_id)))     # a symmetric id has fewer distinct spellings
    for name in names:
        path = folder / (name + RECORDS_SUFFIX)
        if path.exists():
            return path
    raise DataNotFoundError(f"object {obj_id!r} has no push records in {folder}; looked for "
                            f"{', '.join(str(folder / (n + RECORDS_SUFFIX)) for n in names)}")


def _pose_array(path: Path, data: dict, name: str) -> np.ndarray:
    a = data[name]
    if a.dtype != np.float64 or a.ndim != 2 or a.shape[1] != 4:
        raise CorruptDataError(f"{path}: {name} must be a float64 array of shape (rows, 4), got "
                               f"dtype {a.dtype}, shape {a.shape}")
    return a


def _offsets_array(path: Path, data: dict, name: str, rows: int) -> np.ndarray:
    o = data[name]
    if o.dtype != np.int64 or o.ndim != 1 or o.shape[0] < 2:
        raise CorruptDataError(f"{path}: {name} must be an int64 array of shape (n + 1,) with n >= 1 pushes, "
                               f"got dtype {o.dtype}, shape {o.shape}")
    if o[0] != 0:
        raise CorruptDataError(f"{path}: {name} must start at 0, got {int(o[0])}")
    if (np.diff(o) < 0).any():
        i = int(np.flatnonzero(np.diff(o) < 0)[0])
        raise CorruptDataError(f"{path}: {name} must be non-decreasing, but entry {i + 1} ({int(o[i + 1])}) "
                               f"is less than entry {i} ({int(o[i])})")
    if o[-1] != rows:
        pose = name.replace("offsets", "pose")
        raise CorruptDataError(f"{path}: {name} must end at the row count of {pose} ({rows}), got {int(o[-1])}")
    return o


def read_push_records(folder_or_file: str | Path, obj_id: str | None = None) -> tuple[list[PushRecord], str]:
    """The pushes of one object and the surface name: ``(records, surface)``.

    With ``obj_id``, ``folder_or_file`` is a folder and the file is :func:`records_file`
    (``folder``, ``obj_id``), or the file of another rotation of the id; without, it is the
    file itself. A missing file raises :class:`DataNotFoundError` naming the path(s); a file
    that does not load (truncated, not an npz, pickled objects), lacks a key, has an array of
    the wrong dtype or shape, bad offsets, an unknown ``format_version`` or an invalid
    trajectory raises :class:`CorruptDataError` naming the file and what is wrong.
    """
    if obj_id is not None:
        parse_object_id(obj_id)
        path = _find(Path(folder_or_file), obj_id)
    else:
        path = Path(folder_or_file)
        if path.is_dir():
            raise ValueError(f"{path} is a folder: pass obj_id to read an object's records from it")
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError as e:
        raise DataNotFoundError(f"the push records file {path} does not exist") from e
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CorruptDataError(f"cannot read {path} as an .npz archive of push records: "
                               f"{type(e).__name__}: {e}") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise CorruptDataError(f"{path} holds a single .npy array, not an .npz archive of push records")
    with npz:
        missing = [k for k in RECORD_KEYS if k not in npz.files]
        if missing:
            raise CorruptDataError(f"{path} lacks the array(s) {', '.join(missing)}; a push records file "
                                   f"holds {', '.join(RECORD_KEYS)}")
        try:
            data = {k: npz[k] for k in RECORD_KEYS}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
            raise CorruptDataError(f"cannot read the arrays of {path}: {type(e).__name__}: {e}") from e

    version = data["format_version"]
    if version.ndim != 0 or version.dtype.kind not in "iu":
        raise CorruptDataError(f"{path}: format_version must be a 0-d integer array, got dtype "
                               f"{version.dtype}, shape {version.shape}")
    if int(version) != FORMAT_VERSION:
        raise CorruptDataError(f"{path}: unknown format_version {int(version)} (this reader knows "
                               f"{FORMAT_VERSION})")
    surface = data["surface"]
    if surface.ndim != 0 or surface.dtype.kind != "U":
        raise CorruptDataError(f"{path}: surface must be a 0-d unicode array, got dtype {surface.dtype}, "
                               f"shape {surface.shape}")
    obj = _pose_array(path, data, "object_pose")
    tip = _pose_array(path, data, "tip_pose")
    o_off = _offsets_array(path, data, "object_offsets", obj.shape[0])
    t_off = _offsets_array(path, data, "tip_offsets", tip.shape[0])
    if o_off.shape != t_off.shape:
        raise CorruptDataError(f"{path}: object_offsets says {o_off.shape[0] - 1} pushes but tip_offsets "
                               f"{t_off.shape[0] - 1}")
    records = []
    for i in range(o_off.shape[0] - 1):
        try:
            records.append(PushRecord(obj[o_off[i]:o_off[i + 1]], tip[t_off[i]:t_off[i + 1]]))
        except ValueError as e:
            raise CorruptDataError(f"{path}: push {i}: {e}") from None
    return records, str(surface)


# ---------------------------------------------------------------------------------- benchmark
def wrap_angle(a):
    """Angles wrapped to ``[-pi, pi)`` as ``(a + pi) % (2 pi) - pi`` (float64).

    Rounding can make that formula give ``+pi`` for an angle a hair below ``-pi``; such results
    are mapped to ``-pi`` so the range is always half-open.
    """
    w = np.remainder(np.asarray(a, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi
    return np.where(w >= np.pi, w - 2 * np.pi, w)


def push_to_benchmark(object_pose, tip_pose) -> tuple[np.ndarray, np.ndarray]:
    """One push's benchmark input ``X`` and output ``y`` (float64 ``(3,)`` each), in the object's initial frame.

    Convention (ours, for the simulated benchmark): the frame has its origin at the object's
    initial position ``p0 = object_pose[0, 1:3]`` and its axes rotated by the initial yaw
    ``th0 = object_pose[0, 3]``; a world vector ``v`` is expressed in it as ``R(-th0) v``.

    - ``X = (x0, y0, alpha)``: the pusher's start ``R(-th0) (tip_pose[0, 1:3] - p0)`` (m) and the
      push direction relative to the object, ``wrap(tip_pose[0, 3] - th0)`` (rad);
    - ``y = (dx, dy, dtheta)``: the displacement ``R(-th0) (object_pose[-1, 1:3] - p0)`` (m) and
      the rotation ``wrap(object_pose[-1, 3] - th0)`` (rad),

    with ``wrap`` = :func:`wrap_angle` into ``[-pi, pi)`` (so ``|dtheta|`` is taken below half a
    turn). Only the first and last rows of ``object_pose`` and the first row of ``tip_pose`` are
    used; both arrays are checked as by :class:`PushRecord` (:class:`ValueError`).

    The real Omnipush benchmark files do not document their X: it is 3-d, with statistics
    consistent with a start position within about 8 cm of the object and a uniformly distributed
    direction, which this convention matches in kind but has not been shown to equal.
    """
    rec = PushRecord(object_pose, tip_pose)
    obj, tip = rec.object_pose, rec.tip_pose
    return relative_pose(obj[0], tip[0]), relative_pose(obj[0], obj[-1])


def relative_pose(origin, pose) -> np.ndarray:
    """Pose rows ``[t, x, y, yaw]`` ``(..., 4)`` expressed in the frame of ``origin`` rows (same
    shape, or broadcastable): ``(R(-th0) (p - p0), wrap(yaw - th0))``, float64 ``(..., 3)``."""
    origin, pose = np.asarray(origin, dtype=np.float64), np.asarray(pose, dtype=np.float64)
    if origin.shape[-1:] != (4,) or pose.shape[-1:] != (4,):
        raise ValueError(f"origin and pose must be [t, x, y, yaw] rows (..., 4), got {origin.shape} and {pose.shape}")
    th0 = origin[..., 3]
    c, s = np.cos(th0), np.sin(th0)
    to_local = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)          # R(-th0) (..., 2, 2)
    xy = (to_local @ (pose[..., 1:3] - origin[..., 1:3])[..., None])[..., 0]       # (..., 2)
    return np.concatenate([xy, wrap_angle(pose[..., 3] - th0)[..., None]], axis=-1)


def records_to_benchmark(records: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """:func:`push_to_benchmark` of every record: float64 ``X`` and ``y`` of shape ``(n, 3)``, in order.

    ``records`` are :class:`PushRecord` s or objects with ``object_pose`` / ``tip_pose``; an
    empty list raises :class:`ValueError` (the benchmark holds at least one push per object).
    """
    pairs = []
    for i, r in enumerate(records):
        rec = _as_record(r, i)
        pairs.append(push_to_benchmark(rec.object_pose, rec.tip_pose))
    if not pairs:
        raise ValueError("no records: the benchmark needs at least one push")
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
