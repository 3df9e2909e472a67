"""The CIFAR loaders: every accepted layout, partial and corrupt shards, clear errors, cache."""
import hashlib
import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from PIL import Image

from reprobook.data import CorruptDataError, DataNotFoundError, load_cifar
from reprobook.data import shards as shards_mod


def _png(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _image(k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    return rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty data root and cache; downloads off."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("REPROBOOK_DATA", str(root))
    monkeypatch.setenv("REPROBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPROBOOK_DOWNLOAD", "0")
    monkeypatch.setattr("reprobook.data.cifar.REPO_ROOT", tmp_path / "no-clone")
    return root


def _write_shards(root, per_shard=((("train", "cat", 3), ("train", "dog", 2)), (("train", "airplane", 2),),
                                   (("test", "cat", 1), ("test", "truck", 1)))):
    folder = root / "cifar10"
    folder.mkdir()
    manifest = {"name": "cifar10", "shards": {}}
    counters = {"train": 0, "test": 0}
    k = 0
    expected = {}
    for members in per_shard:
        split = members[0][0]
        name = f"cifar10-{split}-{counters[split]}.zip"
        counters[split] += 1
        with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_STORED) as z:
            for _, cls, n in members:
                for i in range(n):
                    img = _image(k)
                    expected[(split, cls, f"img_{k:03d}")] = img
                    z.writestr(f"{split}/{cls}/img_{k:03d}.png", _png(img))
                    k += 1
        data = (folder / name).read_bytes()
        manifest["shards"][name] = {"split": split, "bytes": len(data), "images": sum(m[2] for m in members),
                                    "classes": {cls: n for _, cls, n in members},
                                    "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "cifar10-manifest.json").write_text(json.dumps(manifest))
    return folder, expected


def test_real_shards_load_with_official_labels(cifar10_test):
    ds = cifar10_test
    assert ds.images.shape == (10000, 32, 32, 3) and ds.images.dtype == np.uint8
    assert set(ds.class_counts().values()) == {1000}
    assert "zip shards" in ds.note
    # sorted by label: the first 1000 are airplanes (label 0), the last trucks (9)
    assert ds.labels[0] == 0 and ds.labels[-1] == 9 and np.all(np.diff(ds.labels) >= 0)


def test_real_cifar100_has_coarse_labels(data_root):
    ds = load_cifar("cifar100", "test")
    assert len(ds) == 10000 and ds.coarse_labels is not None
    assert set(np.bincount(ds.coarse_labels)) == {500}


def test_shard_layout_decodes_exact_pixels_in_a_fixed_order(isolated):
    _, expected = _write_shards(isolated)
    ds = load_cifar("cifar10", "train")
    assert len(ds) == 7
    assert ds.classes[ds.labels[0]] == "airplane"           # label order, not file order
    names = sorted((k for k in expected if k[0] == "train"), key=lambda k: (ds.classes.index(k[1]), k[2]))
    for i, key in enumerate(names):
        assert np.array_equal(ds.images[i], expected[key])


def test_cache_is_used_on_the_second_load(isolated, monkeypatch):
    _write_shards(isolated)
    first = load_cifar("cifar10", "test")
    monkeypatch.setattr(shards_mod, "decode_zip_members", lambda jobs: pytest.fail("decoded twice"))
    second = load_cifar("cifar10", "test")
    assert np.array_equal(first.images, second.images)


def test_partial_shards_load_as_a_subset_and_say_so(isolated):
    folder, _ = _write_shards(isolated)
    (folder / "cifar10-train-1.zip").unlink()
    with pytest.warns(UserWarning, match="subset"):
        ds = load_cifar("cifar10", "train")
    assert len(ds) == 5 and "partial: 1 of 2 train shards (5 of 7 images)" in ds.note


def test_a_partial_set_says_which_classes_it_holds_and_how_to_get_the_rest(isolated):
    folder, _ = _write_shards(isolated)
    (folder / "cifar10-train-1.zip").unlink()
    with pytest.warns(UserWarning):
        ds = load_cifar("cifar10", "train")
    assert "holding only the classes cat, dog" in ds.note
    assert "the classes airplane are in the missing shards cifar10-train-1.zip" in ds.note
    assert "copy them beside" in ds.note and "a full run needs every train shard" in ds.note
    with pytest.raises(ValueError, match="'airplane' has only 0 samples.*copy them beside"):
        ds.subset(classes=["airplane", "cat"], per_class=1)


def test_the_verified_stamp_holds_across_processes(isolated, tmp_path):
    """The sha256 is checked once per shard, not once per process (hash() is salted per process)."""
    import os
    import subprocess
    import sys

    _write_shards(isolated)
    code = ("import sys; from reprobook.data import shards, load_cifar\n"
            "if sys.argv[1] == 'second':\n"
            "    shards.sha256_of = lambda p: (_ for _ in ()).throw(SystemExit('re-hashed ' + str(p)))\n"
            "load_cifar('cifar10', 'test')\n")
    for run, seed in (("first", "1"), ("second", "2")):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code, run], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def test_several_data_folders_fall_back_to_the_next(isolated, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    _write_shards(isolated)
    monkeypatch.setenv("REPROBOOK_DATA", f"{empty}:{isolated}")
    assert len(load_cifar("cifar10", "test")) == 2


def test_corrupt_shard_names_the_file(isolated):
    folder, _ = _write_shards(isolated)
    path = folder / "cifar10-test-0.zip"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF                                       # same size, different bytes
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="cifar10-test-0.zip.*corrupt"):
        load_cifar("cifar10", "test")


def test_truncated_shard_is_reported_by_size(isolated):
    folder, _ = _write_shards(isolated)
    path = folder / "cifar10-test-0.zip"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CorruptDataError, match="truncated"):
        load_cifar("cifar10", "test")


def test_missing_data_lists_where_it_looked_and_how_to_fix(isolated):
    with pytest.raises(DataNotFoundError) as e:
        load_cifar("cifar10", "train")
    msg = str(e.value)
    assert "cifar10-manifest.json" in msg and "cifar-10-batches-py" in msg and "REPROBOOK_DATA" in msg


def test_unknown_dataset_or_split():
    with pytest.raises(ValueError, match="valid: cifar10, cifar100"):
        load_cifar("mnist")
    with pytest.raises(ValueError, match="valid: train, test"):
        load_cifar("cifar10", "val")


def test_torchvision_layout(isolated):
    folder = isolated / "cifar-100-python"
    folder.mkdir()
    imgs = np.stack([_image(k) for k in range(4)])
    for split in ("train", "test"):
        batch = {b"data": imgs.transpose(0, 3, 1, 2).reshape(4, -1), b"fine_labels": [3, 1, 4, 1]}
        (folder / split).write_bytes(pickle.dumps(batch))
    ds = load_cifar("cifar100", "train")
    assert np.array_equal(ds.images, imgs) and list(ds.labels) == [3, 1, 4, 1]
    assert "torchvision" in ds.note and ds.coarse_labels is not None


def test_image_folder_layout(isolated):
    for k, cls in enumerate(["dog", "cat", "dog"]):
        d = isolated / "cifar10" / "test" / cls
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_image(k)).save(d / f"{k}.png")
    ds = load_cifar("cifar10", "test")
    assert list(ds.labels) == [3, 5, 5]                     # cat, dog, dog
    assert np.array_equal(ds.images[0], _image(1))


def test_subset_is_deterministic_and_balanced(cifar10_test):
    a = cifar10_test.subset(per_class=20, seed=3)
    b = cifar10_test.subset(per_class=20, seed=3)
    c = cifar10_test.subset(per_class=20, seed=4)
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    assert set(a.class_counts().values()) == {20}
    few = cifar10_test.subset(classes=["cat", "dog"], per_class=5, relabel=True)
    assert few.classes == ("cat", "dog") and sorted(set(few.labels)) == [0, 1]
    with pytest.raises(ValueError, match="unknown class 'wolf'"):
        cifar10_test.subset(classes=["wolf"])
    with pytest.raises(ValueError, match="has only 1000"):
        cifar10_test.subset(per_class=5000)


def test_tensors_are_uint8_nchw(cifar10_test):
    x, y = cifar10_test.subset(per_class=2).tensors()
    assert x.shape == (20, 3, 32, 32) and str(x.dtype) == "torch.uint8" and y.shape == (20,)


def test_a_run_on_the_whole_split_refuses_a_partial_set(isolated):
    from reprobook.chapters.common import cifar_data

    folder, _ = _write_shards(isolated)
    (folder / "cifar10-train-1.zip").unlink()
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="needs every shard.*copy them beside"):
        cifar_data("cifar10", None, None, device="cpu")
