import json

from reprobook.data.classes import (CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR100_COARSE_CLASSES,
                                    CIFAR100_FINE_TO_COARSE)


def test_cifar10_official_order():
    assert CIFAR10_CLASSES[0] == "airplane" and CIFAR10_CLASSES[9] == "truck"
    assert len(set(CIFAR10_CLASSES)) == 10


def test_cifar100_lists():
    assert len(CIFAR100_CLASSES) == 100 and len(set(CIFAR100_CLASSES)) == 100
    assert len(CIFAR100_COARSE_CLASSES) == 20
    # a few official indices (cifar-100-python/meta)
    assert CIFAR100_CLASSES.index("apple") == 0
    assert CIFAR100_CLASSES.index("aquarium_fish") == 1
    assert CIFAR100_CLASSES.index("worm") == 99
    assert CIFAR100_COARSE_CLASSES.index("aquatic_mammals") == 0
    assert CIFAR100_COARSE_CLASSES.index("vehicles_2") == 19


def test_fine_to_coarse_agrees_with_the_cifar_fs_split_files(data_root):
    pairs = []
    for split in ("train", "val", "test"):
        pairs += json.loads((data_root / "splits" / "cifar-fs" / f"{split}.json").read_text())
    assert len(pairs) == 100
    for coarse, fine in pairs:
        assert CIFAR100_COARSE_CLASSES[CIFAR100_FINE_TO_COARSE[CIFAR100_CLASSES.index(fine)]] == coarse
