"""The STL-10 loader on a tiny synthetic copy of the torchvision layout."""
import numpy as np
import pytest

from reprobook.data import CorruptDataError, DataNotFoundError, load_stl10


def write_split(folder, name, images, labels=None):
    # the release stores (N, C, W, H) row-major; torchvision reads it back with transpose(0, 1, 3, 2)
    images.transpose(0, 3, 2, 1).tofile(folder / f"{name}_X.bin")
    if labels is not None:
        (np.asarray(labels, np.uint8) + 1).tofile(folder / f"{name}_y.bin")      # 1-based on disk


@pytest.fixture
def stl10(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    data = {"train": (rng.integers(0, 256, (4, 96, 96, 3), dtype=np.uint8), [0, 3, 9, 3]),
            "test": (rng.integers(0, 256, (3, 96, 96, 3), dtype=np.uint8), [1, 2, 7]),
            "unlabeled": (rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8), None)}
    for name, (x, y) in data.items():
        write_split(folder, name, x, y)
    (folder / "fold_indices.txt").write_text("0 2\n1 3\n")
    monkeypatch.setenv("REPROBOOK_DATA", str(tmp_path))
    monkeypatch.setenv("REPROBOOK_DOWNLOAD", "0")
    return folder, data


def torchvision_read(path):
    """torchvision.datasets.STL10.__loadfile, transcribed: the reference for the pixel order."""
    everything = np.fromfile(path, dtype=np.uint8)
    images = np.reshape(everything, (-1, 3, 96, 96))
    return np.transpose(images, (0, 1, 3, 2))          # (N, C, H, W)


@pytest.mark.parametrize("split", ["train", "test"])
def test_images_and_labels_round_trip(stl10, split):
    folder, data = stl10
    ds = load_stl10(split)
    x, y = data[split]
    assert ds.images.shape == x.shape and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, x)
    np.testing.assert_array_equal(ds.images.transpose(0, 3, 1, 2), torchvision_read(folder / f"{split}_X.bin"))
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.classes[ds.labels[0]] == ("airplane" if split == "train" else "bird")
    t, labels = ds.tensors()
    assert t.shape == (len(x), 3, 96, 96)


def test_unlabeled_and_pretraining_splits(stl10):
    _, data = stl10
    un = load_stl10("unlabeled")
    assert len(un) == 2 and (un.labels == -1).all()
    both = load_stl10("train+unlabeled")
    np.testing.assert_array_equal(both.images[:4], data["train"][0])
    np.testing.assert_array_equal(both.images[4:], data["unlabeled"][0])
    assert list(both.labels) == [0, 3, 9, 3, -1, -1]


def test_official_folds(stl10):
    _, data = stl10
    ds = load_stl10("train", fold=1)
    np.testing.assert_array_equal(ds.images, data["train"][0][[1, 3]])
    assert "fold 1" in ds.note
    with pytest.raises(ValueError, match="fold must be in 0..1"):
        load_stl10("train", fold=2)
    with pytest.raises(ValueError, match="folds index the training images"):
        load_stl10("test", fold=0)
    with pytest.raises(TypeError, match="fold must be an int"):
        load_stl10("train", fold=True)


def test_bad_inputs_are_clear_errors(stl10, tmp_path, monkeypatch):
    folder, _ = stl10
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_stl10("val")
    (folder / "test_y.bin").write_bytes(b"\x01\x02")
    with pytest.raises(CorruptDataError, match="2 labels for 3 images"):
        load_stl10("test")
    (folder / "train_X.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(CorruptDataError, match="not a whole number of 3x96x96 images"):
        load_stl10("train")
    (folder / "unlabeled_X.bin").unlink()
    with pytest.raises(DataNotFoundError, match="unlabeled_X.bin is missing"):
        load_stl10("unlabeled")
    monkeypatch.setenv("REPROBOOK_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(DataNotFoundError, match="STL-10 not found; looked for"):
        load_stl10("train")
