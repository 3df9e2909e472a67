"""Omnipush: object ids up to rotation, the real split files, push files, and clear errors naming the file."""
import dataclasses
import json

import numpy as np
import pytest

from reprobook.data.errors import CorruptDataError, DataNotFoundError
from reprobook.data.omnipush import (OBJECT_SHAPES, OBJECT_WEIGHTS, OmnipushSplit, canonical_id, find_split,
                                     load_split, object_files, parse_object_id, read_benchmark, read_object,
                                     read_split, rotations, same_object, write_object, write_split)

STATS = dict(X_mean=[0.1, -0.2, 0.3], X_std=[0.5, 2.0, 1.5], y_mean=[0.01, 0.02, -0.03], y_std=[0.1, 0.2, 0.25])


def make_split(train=("1a2a3a4a", "1a1a1a1a"), test=("2b3c4B1C",), **stats):
    return OmnipushSplit(train_keys=tuple(train), test_keys=tuple(test), **{**STATS, **stats})


def pushes(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.normal(scale=0.01, size=(n, 3))


def split_json(**changes):
    data = {"train_keys": ["1a2a3a4a", "1a1a1a1a"], "test_keys": ["2b3c4B1C"], **STATS}
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None})


@pytest.fixture(scope="module")
def real(data_root):
    return {name: data_root / "omnipush" / f"{name}.json" for name in ("split", "plywood_split")}


# ----------------------------------------------------------------------------------------- ids
def test_parse_object_id():
    assert OBJECT_SHAPES == ("1", "2", "3", "4") and OBJECT_WEIGHTS == ("a", "b", "c", "B", "C")
    assert parse_object_id("1a1a3a2a") == (("1", "a"), ("1", "a"), ("3", "a"), ("2", "a"))
    assert parse_object_id("4C3B2c1b") == (("4", "C"), ("3", "B"), ("2", "c"), ("1", "b"))


def test_rotations_are_the_same_object_and_reflections_are_not():
    assert rotations("1a2b3c4B") == ("1a2b3c4B", "2b3c4B1a", "3c4B1a2b", "4B1a2b3c")
    for r in rotations("3a1b4a2c"):
        assert canonical_id(r) == "1b4a2c3a" == min(rotations("3a1b4a2c"))
        assert same_object(r, "3a1b4a2c")
    assert canonical_id("1a1a1a1a") == "1a1a1a1a"
    # the mirror image lists the sides in reverse order: a different object
    assert not same_object("1a2a3a4a", "4a3a2a1a") and not same_object("1a2a3a4a", "1a4a3a2a")
    assert not same_object("1a1a1a1a", "1b1a1a1a")          # the weights matter
    assert not same_object("1a1a1a2a", "1a1a2a2a")


@pytest.mark.parametrize("bad", ["", "1a1a1a1", "1a1a1a1a1a", "5a1a1a1a", "1d1a1a1a", "1A1a1a1a", "a1a1a1a1",
                                 "1a1a1a1 ", None, 11111111])
def test_malformed_ids_raise_naming_the_id_and_what_is_valid(bad):
    for f in (parse_object_id, canonical_id, rotations, lambda i: same_object(i, "1a1a1a1a")):
        with pytest.raises(ValueError) as e:
            f(bad)
        assert repr(bad) in str(e.value) and "1, 2, 3, 4" in str(e.value) and "a, b, c, B, C" in str(e.value)


# ------------------------------------------------------------------------------ real split files
def test_real_split_ids_parse_and_lists_are_disjoint(real):
    split = read_split(real["split"])
    assert (len(split.train_keys), len(split.test_keys)) == (200, 50)
    for key in split.train_keys + split.test_keys:
        parse_object_id(key)
    canon = [canonical_id(k) for k in split.train_keys + split.test_keys]
    assert len(set(canon)) == 250 and split.overlap == ()
    assert all(split.role(k) == "train" for k in split.train_keys)
    assert all(split.role(k) == "test" for k in split.test_keys)
    for stat in (split.X_mean, split.X_std, split.y_mean, split.y_std):
        assert stat.dtype == np.float64 and stat.shape == (3,)
    assert (split.X_std > 0).all() and (split.y_std > 0).all()


def test_real_plywood_split_tests_training_objects(real):
    with pytest.raises(CorruptDataError, match="plywood_split.json.*9 test object"):
        read_split(real["plywood_split"])
    ply = read_split(real["plywood_split"], allow_overlap=True)
    assert (len(ply.train_keys), len(ply.test_keys)) == (250, 10)
    for key in ply.train_keys + ply.test_keys:
        parse_object_id(key)
    assert len({canonical_id(k) for k in ply.train_keys}) == 250 and len(ply.overlap) == 9
    split = read_split(real["split"])
    # the plywood split trains on the 250 objects of split.json
    assert {canonical_id(k) for k in ply.train_keys} == {canonical_id(k) for k in split.train_keys + split.test_keys}


def test_find_and_load_split(real, tmp_path, monkeypatch):
    assert find_split() == real["split"] and find_split("plywood_split.json") == real["plywood_split"]
    assert load_split() == read_split(real["split"])
    monkeypatch.setenv("REPROBOOK_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError) as e:
        find_split("nosuch")
    assert str(tmp_path / "omnipush" / "nosuch.json") in str(e.value)
    (tmp_path / "omnipush").mkdir()
    write_split(tmp_path / "omnipush" / "mine.json", make_split())
    assert load_split("mine") == make_split()
    with pytest.raises(ValueError, match="file stem"):
        find_split("../split")


def test_real_split_round_trips_byte_for_byte(real, tmp_path):
    split = read_split(real["split"])
    out = write_split(tmp_path / "split.json", split)
    assert out.read_bytes() == real["split"].read_bytes()
    ply = read_split(real["plywood_split"], allow_overlap=True)
    again = read_split(write_split(tmp_path / "ply.json", ply), allow_overlap=True)
    assert again == ply and again.train_keys == ply.train_keys and again.test_keys == ply.test_keys


# ---------------------------------------------------------------------------------- the split
def test_split_round_trips_and_is_frozen(tmp_path):
    split = make_split(X_mean=[0.1 + 1e-17, 1 / 3, -2e-300])
    again = read_split(write_split(tmp_path / "a" / "s.json", split))
    assert again == split and hash(again) == hash(split)
    for name in ("X_mean", "X_std", "y_mean", "y_std"):
        assert np.array_equal(getattr(again, name), getattr(split, name))
    assert again != make_split(test=("2b3c4B2C",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.train_keys = ()
    with pytest.raises(ValueError):
        split.X_std[0] = 0.0                                # read-only arrays


def test_normalize_and_denormalize_invert_each_other():
    split = make_split()
    X, y = pushes(11)
    X0, y0 = X.copy(), y.copy()
    Xn, yn = split.normalize(X, y)
    np.testing.assert_allclose(Xn, (X - np.array(STATS["X_mean"])) / np.array(STATS["X_std"]), rtol=1e-15)
    np.testing.assert_allclose(yn, (y - np.array(STATS["y_mean"])) / np.array(STATS["y_std"]), rtol=1e-15)
    Xb, yb = split.denormalize(Xn, yn)
    np.testing.assert_allclose(Xb, X, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(yb, y, rtol=1e-12, atol=1e-15)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)  # inputs untouched
    batch = split.normalize(np.stack([X, X]), np.stack([y, y]).astype(np.float32))[1]
    assert batch.shape == (2, 11, 3) and batch.dtype == np.float64
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        split.normalize(X[:, :2], y)


def test_role_matches_up_to_rotation():
    split = make_split()
    assert split.role("1a2a3a4a") == "train" and split.role("3a4a1a2a") == "train"
    assert split.role("1C2b3c4B") == "test" and split.key_of("4B1C2b3c") == "2b3c4B1C"
    assert split.role("4a3a2a1a") is None and split.role("2a2a2a2a") is None   # a reflection, an unknown
    assert split.key_of("3a4a1a2a", "test") is None
    with pytest.raises(ValueError, match="valid: train, test"):
        split.keys("val")


@pytest.mark.parametrize("kwargs, message", [
    (dict(X_std=[1.0, 0.0, 1.0]), "X_std must be > 0"),
    (dict(y_mean=[0.0, 1.0]), "y_mean must be a list of 3"),
    (dict(y_std=[1.0, float("nan"), 1.0]), "y_std must be finite"),
    (dict(train=("1a2a3a4a", "3a4a1a2a")), "same object twice"),
    (dict(test=("1a2a3a4e",)), "'1a2a3a4e'"),
])
def test_split_constructor_checks(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_split(**kwargs)


@pytest.mark.parametrize("text, message", [
    (split_json()[:-9], "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    (split_json(X_std=None), "lacks the key.*X_std"),
    (split_json(y_std=[0.1, 0.0, 0.2]), "y_std must be > 0"),
    (split_json(X_mean=[0.1, 0.2]), "X_mean must be a list of 3"),
    (split_json(X_mean=[0.1, "0.2", 0.3]), "X_mean must be a list of 3"),
    (split_json(train_keys="1a2a3a4a"), "train_keys must be a list"),
    (split_json(test_keys=["1a2a3a4x"]), "'1a2a3a4x'"),
    (split_json(test_keys=["2b3c4B1C", "4B1C2b3c"]), "test_keys lists the same object twice"),
    (split_json(test_keys=["3a4a1a2a"]), "also train objects.*3a4a1a2a"),
])
def test_malformed_split_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "broken_split.json"
    path.write_text(text)
    with pytest.raises(CorruptDataError, match=message) as e:
        read_split(path)
    assert "broken_split.json" in str(e.value)


def test_missing_split_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="gone.json"):
        read_split(tmp_path / "gone.json")


# ------------------------------------------------------------------------------------ objects
def test_objects_round_trip(tmp_path):
    X, y = pushes(5)
    paths = write_object(tmp_path / "objs", "1a2a3a4a", X.astype(np.float32), y)
    assert [p.name for p in paths] == ["1a2a3a4a_X_3_not_norm.npy", "1a2a3a4a_y_3_not_norm.npy"]
    write_object(tmp_path / "objs", "2b3c4B1C", *pushes(3, seed=1))
    (tmp_path / "objs" / "notes.txt").write_text("ignored")
    (tmp_path / "objs" / "1a2a3a4a_X_3_norm.npy").write_bytes(b"ignored too")
    assert object_files(tmp_path / "objs") == {
        "1a2a3a4a": paths, "2b3c4B1C": (tmp_path / "objs" / "2b3c4B1C_X_3_not_norm.npy",
                                        tmp_path / "objs" / "2b3c4B1C_y_3_not_norm.npy")}
    Xr, yr = read_object(tmp_path / "objs", "1a2a3a4a")
    assert Xr.dtype == yr.dtype == np.float64 and Xr.shape == yr.shape == (5, 3)
    assert np.array_equal(Xr, X.astype(np.float32)) and np.array_equal(yr, y)
    Xr2, _ = read_object(tmp_path / "objs", "3a4a1a2a")      # any rotation names the same files
    assert np.array_equal(Xr2, Xr)
    with pytest.raises(DataNotFoundError, match="1a1a1a1a_X_3_not_norm.npy"):
        read_object(tmp_path / "objs", "1a1a1a1a")


def test_benchmark_reads_by_role_up_to_rotation(tmp_path):
    split = make_split()
    data = {"3a4a1a2a": pushes(4, 0), "1a1a1a1a": pushes(4, 1), "4B1C2b3c": pushes(4, 2)}
    for obj_id, (X, y) in data.items():
        write_object(tmp_path, obj_id, X, y)
    train = read_benchmark(tmp_path, split, "train")
    assert list(train) == ["1a2a3a4a", "1a1a1a1a"]        # split keys, in the split's order
    assert np.array_equal(train["1a2a3a4a"][0], data["3a4a1a2a"][0])
    test = read_benchmark(tmp_path, split, "test", normalize=True)
    assert list(test) == ["2b3c4B1C"]
    expect = split.normalize(*data["4B1C2b3c"])
    assert all(np.array_equal(a, b) for a, b in zip(test["2b3c4B1C"], expect))
    assert list(read_benchmark(tmp_path, split, "all", require_all=True)) == ["1a2a3a4a", "1a1a1a1a", "2b3c4B1C"]
    with pytest.raises(ValueError, match="valid: train, test, all"):
        read_benchmark(tmp_path, split, "val")
    # an object in neither list: an error (the official assert) unless role="all"
    write_object(tmp_path, "2a2a2a2a", *pushes(4, 3))
    with pytest.raises(CorruptDataError, match="2a2a2a2a_X_3_not_norm.npy.*neither"):
        read_benchmark(tmp_path, split, "train")
    assert list(read_benchmark(tmp_path, split, "all")) == ["1a2a3a4a", "1a1a1a1a", "2b3c4B1C", "2a2a2a2a"]
    # a split key without files: skipped, unless every object is required
    for name in ("1a1a1a1a", "2a2a2a2a"):
        for kind in "Xy":
            (tmp_path / f"{name}_{kind}_3_not_norm.npy").unlink()
    assert list(read_benchmark(tmp_path, split, "train")) == ["1a2a3a4a"]
    with pytest.raises(DataNotFoundError, match="1 train object.*1a1a1a1a"):
        read_benchmark(tmp_path, split, "train", require_all=True)


def _save(path, array):
    with open(path, "wb") as fh:                  # np.save(path) would append .npy to odd names
        np.save(fh, array)


GOOD = np.zeros((4, 3))


@pytest.mark.parametrize("X, y, message, culprit", [
    (np.zeros((4, 2)), GOOD, r"shape \(n, 3\).*\(4, 2\)", "X"),
    (GOOD, np.zeros(12), r"shape \(n, 3\).*\(12,\)", "y"),
    (np.zeros((0, 3)), np.zeros((0, 3)), "n >= 1", "X"),
    (GOOD, np.where(np.eye(4, 3) > 0, np.nan, 0.0), "3 non-finite value", "y"),
    (np.full((4, 3), np.inf), GOOD, "12 non-finite value", "X"),
    (GOOD, np.zeros((5, 3)), "4 pushes but.*has 5", "X"),
    (np.array([["a", "b", "c"]] * 4), GOOD, "dtype <U1", "X"),
])
def test_bad_object_files_name_the_file(tmp_path, X, y, message, culprit):
    _save(tmp_path / "1a2a3a4a_X_3_not_norm.npy", X)
    _save(tmp_path / "1a2a3a4a_y_3_not_norm.npy", y)
    with pytest.raises(CorruptDataError, match=message) as e:
        read_object(tmp_path, "1a2a3a4a")
    assert f"1a2a3a4a_{culprit}_3_not_norm.npy" in str(e.value)
    with pytest.raises(CorruptDataError, match=message):
        read_benchmark(tmp_path, make_split(), "train")


def test_unreadable_object_file(tmp_path):
    _save(tmp_path / "1a2a3a4a_X_3_not_norm.npy", GOOD)
    (tmp_path / "1a2a3a4a_y_3_not_norm.npy").write_bytes(b"\x93NUMPY truncated")
    with pytest.raises(CorruptDataError, match="cannot read .*1a2a3a4a_y_3_not_norm.npy"):
        read_object(tmp_path, "1a2a3a4a")


@pytest.mark.parametrize("names, message", [
    (["1a2a3a4a_X_3_not_norm.npy"],
     r"1a2a3a4a_X_3_not_norm.npy has no y partner: expected .*1a2a3a4a_y_3_not_norm.npy"),
    (["1a2a3a4a_y_3_not_norm.npy"], r"1a2a3a4a_y_3_not_norm.npy has no X partner"),
    (["1a2a3a9a_X_3_not_norm.npy", "1a2a3a9a_y_3_not_norm.npy"], r"1a2a3a9a_X_3_not_norm.npy.*'1a2a3a9a'"),
    (["1a2a3a4a_X_3_not_norm.npy", "1a2a3a4a_y_3_not_norm.npy", "3a4a1a2a_X_3_not_norm.npy",
      "3a4a1a2a_y_3_not_norm.npy"], r"3a4a1a2a_X_3_not_norm.npy and .*1a2a3a4a_X_3_not_norm.npy are the same"),
])
def test_bad_folders_name_the_file(tmp_path, names, message):
    for name in names:
        _save(tmp_path / name, GOOD)
    with pytest.raises(CorruptDataError, match=message):
        object_files(tmp_path)
    with pytest.raises(CorruptDataError, match=message):
        read_benchmark(tmp_path, make_split(), "all")


def test_half_an_object_or_no_folder(tmp_path):
    _save(tmp_path / "3a4a1a2a_y_3_not_norm.npy", GOOD)
    with pytest.raises(DataNotFoundError, match="3a4a1a2a_X_3_not_norm.npy is missing"):
        read_object(tmp_path, "1a2a3a4a")
    with pytest.raises(DataNotFoundError, match="nowhere"):
        object_files(tmp_path / "nowhere")


@pytest.mark.parametrize("obj_id, X, y, message", [
    ("1a2a3a4a", np.zeros((4, 2)), GOOD, r"X must have shape \(n, 3\)"),
    ("1a2a3a4a", GOOD, np.zeros((3, 3)), "as many rows"),
    ("1a2a3a4a", np.zeros((0, 3)), np.zeros((0, 3)), "n >= 1"),
    ("1a2a3a4a", GOOD, np.full((4, 3), np.nan), "y has 12 non-finite"),
    ("1a2a3a4", GOOD, GOOD, "'1a2a3a4'"),
    ("2a3a4a1a", GOOD, GOOD, "already holds object '2a3a4a1a' as '1a2a3a4a'"),
])
def test_write_object_refuses_bad_data(tmp_path, obj_id, X, y, message):
    write_object(tmp_path, "1a2a3a4a", GOOD, GOOD)
    with pytest.raises(ValueError, match=message):
        write_object(tmp_path, obj_id, X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1a2a3a4a_X_3_not_norm.npy", "1a2a3a4a_y_3_not_norm.npy"]
