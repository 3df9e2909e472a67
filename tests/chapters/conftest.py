import numpy as np
import pytest
import torch

from reprobook.chapters.common import CifarData
from reprobook.data import ImageDataset
from reprobook.data.classes import CIFAR10_CLASSES


def make_tiny_data() -> CifarData:
    """40 train / 20 test random CIFAR-shaped images, 4 per class: enough to run every code path."""
    rng = np.random.default_rng(0)

    def split(n, name):
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        return ImageDataset("cifar10", name, images, np.arange(n) % 10, CIFAR10_CLASSES)

    train, test = split(40, "train"), split(20, "test")
    (tx, ty), (vx, vy) = train.tensors(), test.tensors()
    return CifarData(train, test, tx, ty, vx, vy, torch.device("cpu"))


@pytest.fixture
def tiny_data():
    return make_tiny_data()


@pytest.fixture(scope="module")
def tiny_data_module():
    """The same data shared by a module's tests (read-only use only)."""
    return make_tiny_data()
