import pytest
import torch

from reprobook.data import TensorBatches


def test_every_sample_once_per_epoch_in_a_seeded_order():
    x = torch.arange(10).view(10, 1, 1, 1).expand(10, 3, 2, 2)
    y = torch.arange(10)
    b = TensorBatches(x, y, 4, drop_last=False, generator=torch.Generator().manual_seed(0))
    assert len(b) == 3
    seen = torch.cat([idx for _, _, idx in b])
    assert sorted(seen.tolist()) == list(range(10))
    b2 = TensorBatches(x, y, 4, drop_last=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(seen, torch.cat([idx for _, _, idx in b2]))
    for xb, yb, idx in b2:
        assert torch.equal(yb, idx) and torch.equal(xb[:, 0, 0, 0], idx)


def test_drop_last_and_errors():
    x, y = torch.zeros(10, 3, 2, 2), torch.zeros(10)
    assert len(TensorBatches(x, y, 4)) == 2
    with pytest.raises(ValueError, match="labels"):
        TensorBatches(x, y[:5], 4)
    with pytest.raises(ValueError, match="exceeds"):
        TensorBatches(x, y, 11)
