"""Shared fixtures. The real CIFAR data is required: missing data fails, it is never skipped."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = os.environ.get("REPROBOOK_DATA")
    if not root:
        pytest.fail("REPROBOOK_DATA is not set: point it at the offline data (e.g. ../shared/data); "
                    "`make test` does this when ../shared/data exists")
    return Path(root)


@pytest.fixture(scope="session")
def cifar10_test(data_root):
    from reprobook.data import load_cifar

    return load_cifar("cifar10", "test")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """Hundreds of tiny steps: one thread is much faster than two when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
