"""Push records: the .npz round trip, atomic writes, clear errors naming the file, and the benchmark's (X, y)."""
import dataclasses
import os
import struct
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from reprobook.data.errors import CorruptDataError, DataNotFoundError
from reprobook.data.push_records import (FORMAT_VERSION, RECORD_KEYS, PushRecord, push_to_benchmark,
                                         read_push_records, records_file, records_to_benchmark, wrap_angle,
                                         write_push_records)

OBJ = "1a2b3c4B"


def trajectory(T, seed, t0=0.0):
    rng = np.random.default_rng(seed)
    t = t0 + np.cumsum(rng.uniform(0.0, 0.01, size=T))
    t[1] = t[0]                                            # equal times are allowed
    xy = rng.normal(scale=0.05, size=(T, 2)).cumsum(axis=0)
    yaw = rng.uniform(-np.pi, np.pi, size=T)
    return np.column_stack([t, xy, yaw])


def records(lengths=((5, 3), (2, 2), (17, 9), (4, 11))):
    return [PushRecord(trajectory(a, 2 * i), trajectory(b, 2 * i + 1)) for i, (a, b) in enumerate(lengths)]


def write_raw(path, **changes):
    """A records file for records() with some arrays replaced (None: dropped)."""
    recs = records()
    arrays = dict(
        object_pose=np.concatenate([r.object_pose for r in recs]),
        object_offsets=np.array([0, 5, 7, 24, 28], np.int64),
        tip_pose=np.concatenate([r.tip_pose for r in recs]),
        tip_offsets=np.array([0, 3, 5, 14, 25], np.int64),
        surface=np.array("abs"), format_version=np.array(FORMAT_VERSION))
    arrays.update(changes)
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


# ------------------------------------------------------------------------------------- records
def test_record_is_a_frozen_read_only_float64_copy():
    obj = trajectory(4, 0).astype(np.float32)
    tip = np.arange(12).reshape(3, 4)                      # integers are real numbers too
    r = PushRecord(obj, tip)
    assert r.object_pose.dtype == r.tip_pose.dtype == np.float64
    assert np.array_equal(r.object_pose, obj) and np.array_equal(r.tip_pose, tip)
    with pytest.raises(ValueError):
        r.object_pose[0, 0] = 1.0
    obj[0, 1] = 99.0                                       # the caller's array stays its own
    assert r.object_pose[0, 1] != 99.0 and tip.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.tip_pose = tip


@pytest.mark.parametrize("obj, message", [
    (np.zeros((3, 3)), r"object_pose must have shape \(T, 4\)"),
    (np.zeros(4), r"object_pose must have shape \(T, 4\)"),
    (np.zeros((1, 4)), r"T >= 2"),
    (np.array([[0, 0, 0, 0], [1, 0, np.nan, 0]], float), "object_pose has 1 non-finite"),
    (np.array([[0, 0, 0, 0], [1, 0, 0, np.inf]], float), "object_pose has 1 non-finite"),
    (np.array([[1.0, 0, 0, 0], [0.5, 0, 0, 0]]), "times must be non-decreasing.*row 1"),
    (np.array([["a"] * 4] * 2), "must hold real numbers"),
])
def test_record_checks(obj, message):
    with pytest.raises(ValueError, match=message):
        PushRecord(obj, trajectory(3, 0))


# --------------------------------------------------------------------------------------- files
def test_round_trip_is_byte_identical(tmp_path):
    recs = records()
    path = write_push_records(tmp_path / "new" / "dir", OBJ, recs, surface="plywood")
    assert path == records_file(tmp_path / "new" / "dir", OBJ) == tmp_path / "new" / "dir" / f"{OBJ}_pushes.npz"
    for got, (back, surface) in ((path, read_push_records(path)),
                                 (path, read_push_records(tmp_path / "new" / "dir", OBJ)),
                                 (path, read_push_records(tmp_path / "new" / "dir", "3c4B1a2b"))):  # a rotation
        assert surface == "plywood" and len(back) == len(recs)
        for a, b in zip(back, recs):
            for name in ("object_pose", "tip_pose"):
                x, y = getattr(a, name), getattr(b, name)
                assert x.dtype == np.float64 and x.shape == y.shape and x.tobytes() == y.tobytes()
                assert not x.flags.writeable
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == set(RECORD_KEYS)
        assert npz["object_offsets"].dtype == npz["tip_offsets"].dtype == np.int64
        assert npz["object_offsets"].tolist() == [0, 5, 7, 24, 28] and npz["tip_offsets"].tolist() == [0, 3, 5, 14, 25]
        assert npz["surface"].shape == () and npz["surface"].dtype.kind == "U"
        assert npz["format_version"].shape == () and int(npz["format_version"]) == 1


def test_accepts_objects_with_the_two_attributes(tmp_path):
    recs = records(((3, 4), (6, 2)))
    # stand-ins for the simulator's PushResult (it has more fields)
    results = [SimpleNamespace(object_pose=r.object_pose.tolist(), tip_pose=r.tip_pose, delta=np.zeros(3),
                               max_lift=0.0) for r in recs]
    path = write_push_records(tmp_path, OBJ, results)
    back, surface = read_push_records(path)
    assert surface == "abs"
    assert all(np.array_equal(a.object_pose, b.object_pose) and np.array_equal(a.tip_pose, b.tip_pose)
               for a, b in zip(back, recs))
    X1, y1 = records_to_benchmark(results)
    X2, y2 = records_to_benchmark(back)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2) and X1.shape == y1.shape == (2, 3)
    with pytest.raises(ValueError, match="record 1: expected a PushRecord"):
        write_push_records(tmp_path, OBJ, [recs[0], SimpleNamespace(object_pose=recs[0].object_pose)])


def test_atomic_write_leaves_no_temporary_files(tmp_path, monkeypatch):
    write_push_records(tmp_path, OBJ, records())
    write_push_records(tmp_path, OBJ, records(((2, 2),)))          # replaces the file whole
    assert sorted(os.listdir(tmp_path)) == [f"{OBJ}_pushes.npz"]
    assert len(read_push_records(tmp_path, OBJ)[0]) == 1

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("interrupted mid-write")
    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(KeyboardInterrupt):
        write_push_records(tmp_path, OBJ, records())
    with pytest.raises(KeyboardInterrupt):
        write_push_records(tmp_path, "1a1a1a1a", records())
    assert sorted(os.listdir(tmp_path)) == [f"{OBJ}_pushes.npz"]    # old file intact, no half / temp file
    assert len(read_push_records(tmp_path, OBJ)[0]) == 1


def test_write_checks(tmp_path):
    with pytest.raises(ValueError, match="no records"):
        write_push_records(tmp_path, OBJ, [])
    with pytest.raises(ValueError, match="'1a2b3c4x'"):
        write_push_records(tmp_path, "1a2b3c4x", records())
    with pytest.raises(ValueError, match="'1a2'"):
        records_file(tmp_path, "1a2")
    bad = SimpleNamespace(object_pose=np.array([[0, 0, 0, 0], [1, np.nan, 0, 0]]), tip_pose=trajectory(2, 0))
    with pytest.raises(ValueError, match="record 1: object_pose has 1 non-finite"):
        write_push_records(tmp_path, OBJ, [records()[0], bad])
    with pytest.raises(ValueError, match="surface must be a non-empty str"):
        write_push_records(tmp_path, OBJ, records(), surface="")
    with pytest.raises(ValueError, match="single record"):
        write_push_records(tmp_path, OBJ, records()[0])
    write_push_records(tmp_path, OBJ, records())
    with pytest.raises(ValueError, match=f"already holds object '3c4B1a2b' as '{OBJ}'"):
        write_push_records(tmp_path, "3c4B1a2b", records())
    assert os.listdir(tmp_path) == [f"{OBJ}_pushes.npz"]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataNotFoundError, match="gone_pushes.npz"):
        read_push_records(tmp_path / "gone_pushes.npz")
    with pytest.raises(DataNotFoundError) as e:
        read_push_records(tmp_path, OBJ)
    assert str(tmp_path / f"{OBJ}_pushes.npz") in str(e.value)
    with pytest.raises(ValueError, match="'1a2b3c4x'"):
        read_push_records(tmp_path, "1a2b3c4x")
    with pytest.raises(ValueError, match="pass obj_id"):
        read_push_records(tmp_path)


@pytest.mark.parametrize("changes, message", [
    (dict(tip_pose=None), "lacks the array.*tip_pose"),
    (dict(format_version=None, surface=None), "lacks the array.*surface, format_version"),
    (dict(format_version=np.array(2)), "unknown format_version 2"),
    (dict(format_version=np.array([1])), "format_version must be a 0-d integer"),
    (dict(surface=np.array(["abs"])), "surface must be a 0-d unicode"),
    (dict(object_pose=np.zeros((28, 3))), r"object_pose must be a float64 array of shape \(rows, 4\)"),
    (dict(tip_pose=np.zeros((25, 4), np.float32)), "tip_pose must be a float64 array"),
    (dict(object_offsets=np.array([0, 5, 7, 24, 28], np.int32)), "object_offsets must be an int64 array"),
    (dict(object_offsets=np.array([0], np.int64)), "n >= 1 pushes"),
    (dict(object_offsets=np.array([1, 5, 7, 24, 28], np.int64)), "object_offsets must start at 0"),
    (dict(tip_offsets=np.array([0, 3, 2, 14, 25], np.int64)), "tip_offsets must be non-decreasing.*entry 2"),
    (dict(tip_offsets=np.array([0, 3, 5, 14, 24], np.int64)), r"tip_offsets must end at the row count.*\(25\)"),
    (dict(tip_offsets=np.array([0, 3, 5, 25], np.int64)), "object_offsets says 4 pushes but tip_offsets 3"),
    (dict(object_offsets=np.array([0, 5, 6, 24, 28], np.int64)), "push 1: object_pose must have shape.*T >= 2"),
    (dict(object_pose=np.full((28, 4), np.nan)), "push 0: object_pose has 20 non-finite"),
    (dict(object_pose=np.array([np.arange(28.0)[::-1]] * 4).T.copy()), "push 0: object_pose times must be"),
    (dict(surface=np.array(b"abs")), "surface must be a 0-d unicode"),
])
def test_malformed_files_name_the_file(tmp_path, changes, message):
    path = write_raw(tmp_path / f"{OBJ}_pushes.npz", **changes)
    with pytest.raises(CorruptDataError, match=message) as e:
        read_push_records(path)
    assert str(path) in str(e.value)


def test_well_formed_raw_file_reads(tmp_path):
    back, surface = read_push_records(write_raw(tmp_path / "raw.npz", extra=np.zeros(3)))   # other keys ignored
    assert surface == "abs" and [len(r.object_pose) for r in back] == [5, 2, 17, 4]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "npy", "pickle", "flip"])
def test_unreadable_files_name_the_file(tmp_path, damage):
    path = write_push_records(tmp_path, OBJ, records())
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip archive at all" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "npy":
        path.unlink()
        with open(path, "wb") as f:
            np.save(f, np.zeros((3, 4)))
    elif damage == "pickle":
        np.savez(path, **{k: np.array([{"a": 1}], dtype=object) for k in RECORD_KEYS})   # pickled objects
    elif damage == "flip":                                  # a corrupted byte inside compressed data
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("object_pose.npy")
        name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
        start = info.header_offset + 30 + name_len + extra_len     # the member's compressed bytes
        b = bytearray(data)
        b[start + info.compress_size // 2] ^= 0xFF
        path.write_bytes(bytes(b))
    with pytest.raises(CorruptDataError) as e:
        read_push_records(path)
    assert str(path) in str(e.value)


# ----------------------------------------------------------------------------------- benchmark
def test_push_to_benchmark_hand_example():
    # object at (1, 2) facing +y (yaw pi/2); the pusher starts 10 cm "below" it in world y, heading +y.
    # R(-pi/2) (x, y) = (y, -x): the world offset (0, -0.1) is (-0.1, 0) in the object's frame,
    # i.e. behind the object, pushing straight ahead (alpha = 0).
    obj = np.array([[0.0, 1.0, 2.0, np.pi / 2],
                    [0.5, 0.95, 2.02, np.pi / 2 + 0.1],
                    [1.0, 0.9, 2.05, np.pi / 2 + 0.3]])
    tip = np.array([[0.0, 1.0, 1.9, np.pi / 2],
                    [1.0, 1.0, 2.0, np.pi / 2]])
    X, y = push_to_benchmark(obj, tip)
    assert X.dtype == y.dtype == np.float64 and X.shape == y.shape == (3,)
    np.testing.assert_allclose(X, [-0.1, 0.0, 0.0], atol=1e-15)
    # world displacement (-0.1, 0.05) -> (0.05, 0.1) in the object's frame; rotation 0.3
    np.testing.assert_allclose(y, [0.05, 0.1, 0.3], atol=1e-15)
    # a second one by hand: yaw 0 frame = world axes shifted; tip heading pi (= -pi after wrap)
    obj2 = np.array([[0.0, -1.0, 0.5, 0.0], [1.0, -1.2, 0.5, -0.25]])
    tip2 = np.array([[0.0, -0.93, 0.52, np.pi], [1.0, -1.1, 0.52, np.pi]])
    X2, y2 = push_to_benchmark(obj2, tip2)
    np.testing.assert_allclose(X2, [0.07, 0.02, -np.pi], atol=1e-15)
    np.testing.assert_allclose(y2, [-0.2, 0.0, -0.25], atol=1e-15)
    # yaw -pi/4: R(pi/4) (1, 0) = (sqrt(1/2), sqrt(1/2))
    obj3 = np.array([[0.0, 0.0, 0.0, -np.pi / 4], [1.0, 1.0, 0.0, -np.pi / 4]])
    X3, y3 = push_to_benchmark(obj3, np.array([[0.0, 0.0, 0.1, np.pi / 4], [1.0, 0.0, 0.2, np.pi / 4]]))
    np.testing.assert_allclose(y3, [np.sqrt(0.5), np.sqrt(0.5), 0.0], atol=1e-15)
    np.testing.assert_allclose(X3, [-0.1 * np.sqrt(0.5), 0.1 * np.sqrt(0.5), np.pi / 2], atol=1e-15)


def test_angles_wrap_near_pi():
    assert wrap_angle(np.pi) == -np.pi and wrap_angle(-np.pi) == -np.pi
    assert wrap_angle(3 * np.pi) == -np.pi and wrap_angle(0.0) == 0.0
    np.testing.assert_allclose(wrap_angle([np.pi - 1e-9, -np.pi + 1e-9, 2 * np.pi + 0.5, -7.0]),
                               [np.pi - 1e-9, -np.pi + 1e-9, 0.5, -7.0 + 2 * np.pi], atol=1e-12)
    w = wrap_angle(np.nextafter(-np.pi, -4.0))             # a hair below -pi: the formula alone gives +pi
    assert -np.pi <= w < np.pi
    # the object turns from just under +pi to just over -pi: a small positive turn, not ~ -2 pi
    obj = np.array([[0.0, 0.0, 0.0, np.pi - 0.1], [1.0, 0.0, 0.0, -np.pi + 0.1]])
    tip = np.array([[0.0, 0.05, 0.0, -np.pi + 0.05], [1.0, 0.05, 0.0, -np.pi + 0.05]])
    X, y = push_to_benchmark(obj, tip)
    assert y[2] == pytest.approx(0.2, abs=1e-12) and X[2] == pytest.approx(0.15, abs=1e-12)
    obj[1, 3] = np.pi - 0.3                                # and a turn the other way
    assert push_to_benchmark(obj, tip)[1][2] == pytest.approx(-0.2, abs=1e-12)


def test_benchmark_is_invariant_to_a_rigid_transform_of_the_world():
    rng = np.random.default_rng(7)
    recs = records(((5, 3), (2, 2), (17, 9), (4, 11), (3, 3)))
    X, y = records_to_benchmark(recs)
    assert X.shape == y.shape == (5, 3)
    for _ in range(20):
        phi, shift = rng.uniform(-np.pi, np.pi), rng.normal(scale=3.0, size=2)
        c, s = np.cos(phi), np.sin(phi)
        R = np.array([[c, -s], [s, c]])

        def move(pose):
            out = pose.copy()
            out[:, 1:3] = pose[:, 1:3] @ R.T + shift
            out[:, 3] = pose[:, 3] + phi
            return out
        moved = [PushRecord(move(r.object_pose), move(r.tip_pose)) for r in recs]
        X2, y2 = records_to_benchmark(moved)
        np.testing.assert_allclose(X2[:, :2], X[:, :2], atol=1e-12)
        np.testing.assert_allclose(y2[:, :2], y[:, :2], atol=1e-12)
        for a, b in ((X2[:, 2], X[:, 2]), (y2[:, 2], y[:, 2])):   # equal as angles (a wrap may flip -pi / pi)
            np.testing.assert_allclose(wrap_angle(a - b + 0.5) - 0.5, 0.0, atol=1e-12)
            assert ((a >= -np.pi) & (a < np.pi)).all()


def test_records_to_benchmark_matches_push_to_benchmark():
    recs = records()
    X, y = records_to_benchmark(recs)
    for i, r in enumerate(recs):
        Xi, yi = push_to_benchmark(r.object_pose, r.tip_pose)
        assert np.array_equal(X[i], Xi) and np.array_equal(y[i], yi)
    with pytest.raises(ValueError, match="no records"):
        records_to_benchmark([])
    with pytest.raises(ValueError, match="tip_pose has 1 non-finite"):
        push_to_benchmark(trajectory(3, 0), np.array([[0, 0, 0, 0], [1, 0, 0, np.inf]]))


def test_missing_records_of_a_symmetric_id_name_each_path_once(tmp_path):
    from reprobook.data.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError) as err:
        read_push_records(tmp_path, "1a1a1a1a")
    assert str(err.value).count("1a1a1a1a_pushes.npz") == 1
