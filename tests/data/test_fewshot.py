"""CIFAR-FS and FC100 (RFS): official class splits, 600 pooled images per class, clear errors."""
import json

import numpy as np
import pytest

from reprobook.data import CIFAR100_CLASSES, CIFAR100_SUPERCLASSES, CorruptDataError, DataNotFoundError, load_cifar
from reprobook.data.fewshot import FEWSHOT_NUM_CLASSES, fewshot_classes, find_split_file, load_fewshot
from reprobook.eval.fewshot import EpisodeSampler

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def splits(data_root):
    """Every split of both benchmarks, decoded once for the module."""
    return {(name, split): load_fewshot(name, split) for name in ("cifar-fs", "fc100") for split in SPLITS}


@pytest.mark.parametrize("name", ["cifar-fs", "fc100"])
def test_class_lists_have_the_official_sizes_and_are_disjoint(splits, name):
    sets = {s: set(splits[name, s].classes) for s in SPLITS}
    assert {s: len(c) for s, c in sets.items()} == FEWSHOT_NUM_CLASSES[name]
    assert {s: len(c) for s, c in sets.items()} == ({"train": 64, "val": 16, "test": 20} if name == "cifar-fs"
                                                   else {"train": 60, "val": 20, "test": 20})
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert sets["train"] | sets["val"] | sets["test"] == set(CIFAR100_CLASSES)


def test_fc100_splits_whole_superclasses(splits, data_root):
    supers = {}
    for s in SPLITS:
        d = splits["fc100", s]
        names = json.loads((data_root / "splits" / "fc100" / f"{s}.json").read_text())
        assert len(names) == {"train": 12, "val": 4, "test": 4}[s]
        assert d.classes == tuple(c for sup in names for c in CIFAR100_SUPERCLASSES[sup])
        supers[s] = {d.coarse_classes[k] for k in np.unique(d.coarse_labels)}
        assert supers[s] == set(names)
    assert not supers["train"] & supers["val"] and not supers["train"] & supers["test"] \
        and not supers["val"] & supers["test"]


def test_cifar_fs_classes_follow_the_split_file_order(splits, data_root):
    for s in SPLITS:
        pairs = json.loads((data_root / "splits" / "cifar-fs" / f"{s}.json").read_text())
        assert splits["cifar-fs", s].classes == tuple(fine for _, fine in pairs)


@pytest.mark.parametrize("name", ["cifar-fs", "fc100"])
def test_600_pooled_images_per_class_labels_0_to_c(splits, name):
    for s in SPLITS:
        d = splits[name, s]
        assert d.images.dtype == np.uint8 and d.images.shape[1:] == (32, 32, 3)
        assert np.array_equal(np.bincount(d.labels), np.full(len(d.classes), 600))
        assert np.all(np.diff(d.labels) >= 0)                      # sorted by the new label
        assert d.split == s and d.name == name


def test_images_are_the_cifar100_train_then_test_images_of_the_class(splits):
    d = splits["cifar-fs", "test"]
    train, test = load_cifar("cifar100", "train"), load_cifar("cifar100", "test")
    for k in (0, len(d.classes) - 1):
        fine = CIFAR100_CLASSES.index(d.classes[k])
        mine = d.images[d.labels == k]
        assert np.array_equal(mine[:500], train.images[train.labels == fine])
        assert np.array_equal(mine[500:], test.images[test.labels == fine])
        assert (d.coarse_labels[d.labels == k] == train.coarse_labels[train.labels == fine][0]).all()


def test_episodes_stay_inside_their_split(splits):
    test = splits["cifar-fs", "test"]
    train_classes = set(splits["cifar-fs", "train"].classes) | set(splits["cifar-fs", "val"].classes)
    ep = EpisodeSampler(test.labels, 5, 5, 15, generator=0).sample_many(50)
    names = np.asarray(test.classes)
    for idx, lab in ((ep.support, ep.support_labels), (ep.query, ep.query_labels)):
        assert set(names[test.labels[idx]].ravel()) <= set(test.classes)
        assert not set(names[test.labels[idx]].ravel()) & train_classes
        assert np.array_equal(test.labels[idx], np.take_along_axis(ep.classes, lab, 1))


# --- errors -------------------------------------------------------------------------------

@pytest.fixture
def split_root(tmp_path, monkeypatch):
    """A data root with only a ``splits/`` folder (and no clone data)."""
    monkeypatch.setenv("REPROBOOK_DATA", str(tmp_path))
    monkeypatch.setattr("reprobook.data.cifar.REPO_ROOT", tmp_path / "no-clone")

    def write(name, split, content):
        path = tmp_path / "splits" / name / f"{split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
        return path
    return write


def test_bad_names_are_value_errors():
    with pytest.raises(ValueError, match="unknown few-shot dataset 'miniImageNet'.*cifar-fs, fc100"):
        load_fewshot("miniImageNet", "train")
    with pytest.raises(ValueError, match="unknown split 'trainval'.*train, val, test"):
        load_fewshot("cifar-fs", "trainval")


def test_missing_split_file_names_where_it_looked(split_root, tmp_path):
    with pytest.raises(DataNotFoundError, match="cifar-fs train class split was not found") as e:
        find_split_file("cifar-fs", "train")
    assert str(tmp_path / "splits" / "cifar-fs" / "train.json") in str(e.value)
    assert "no-clone" in str(e.value) and "REPROBOOK_DATA" in str(e.value)


def test_unknown_or_misplaced_classes_are_refused(split_root):
    split_root("cifar-fs", "train", [["fish", "trout"], ["fish", "unicorn"]])
    with pytest.raises(CorruptDataError, match="unknown CIFAR-100 class 'unicorn'"):
        fewshot_classes("cifar-fs", "train")
    split_root("cifar-fs", "val", [["trees", "trout"]])
    with pytest.raises(CorruptDataError, match="'trout' is listed under superclass 'trees'.*'fish'"):
        fewshot_classes("cifar-fs", "val")
    split_root("cifar-fs", "test", [["fish", "trout"], ["fish", "trout"]])
    with pytest.raises(CorruptDataError, match="more than once.*trout"):
        fewshot_classes("cifar-fs", "test")
    split_root("fc100", "train", ["fish", "dragons"])
    with pytest.raises(CorruptDataError, match="unknown CIFAR-100 superclass 'dragons'"):
        fewshot_classes("fc100", "train")
    split_root("fc100", "val", {"fish": 1})
    with pytest.raises(CorruptDataError, match="non-empty JSON list"):
        fewshot_classes("fc100", "val")
    split_root("fc100", "test", ["fish"])
    assert fewshot_classes("fc100", "test") == CIFAR100_SUPERCLASSES["fish"]
