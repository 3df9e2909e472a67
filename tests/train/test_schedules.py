import math

import pytest

import torch

from reprobook.train import multistep, warmup_cosine


def _lrs(sched, opt, n):
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    lrs = _lrs(warmup_cosine(opt, total_steps=12, warmup_steps=2), opt, 12)
    assert lrs[0] == 0.5 and lrs[1] == 1.0
    assert lrs[2] == 1.0 and math.isclose(lrs[7], 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))


def test_multistep():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    lrs = _lrs(multistep(opt, [2, 4]), opt, 6)
    assert [round(v, 6) for v in lrs] == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]


def test_recipes_take_a_step_schedule_in_epochs():
    """The official hypersphere recipe: lr x0.1 at epochs 155, 170, 185 (MultiStepLR per epoch)."""
    from reprobook.train.recipes import _setup

    model = torch.nn.Linear(3, 2)
    x, y = torch.zeros(40, 3), torch.zeros(40, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    batches, opt, sched = _setup(model, x, y, 10, 6, 1.0, 0.0, 0.9, 0, g, lr_milestones=[2, 4], lr_decay=0.1)
    lrs = []
    for _ in range(6 * len(batches)):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    per_epoch = lrs[:: len(batches)]
    assert per_epoch == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    with pytest.raises(ValueError, match="no warm-up"):
        _setup(model, x, y, 10, 6, 1.0, 0.0, 0.9, 1, g, lr_milestones=[2])
