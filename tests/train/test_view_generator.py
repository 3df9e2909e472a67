"""InfoMin's adversarial view learning: the reversed gradient, two optimisers stepped as one, resume."""
import pytest
import torch
import torch.nn.functional as F

from reprobook.losses import CrossViewInfoNCE
from reprobook.models import MultiviewEncoder
from reprobook.models.flow import PixelFlow
from reprobook.train import fit_view_generator, reverse_gradient
from reprobook.train.recipes import Optimizers


def test_reverse_gradient_flips_and_scales_the_gradient():
    x = torch.randn(5, requires_grad=True)
    (reverse_gradient(x, 0.5) * torch.arange(5.0)).sum().backward()
    assert torch.equal(x.grad, -0.5 * torch.arange(5.0))


def test_optimizers_step_together_and_round_trip():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = Optimizers(torch.optim.SGD([a], lr=0.1, momentum=0.9), torch.optim.Adam([b], lr=0.1))
    (a.sum() + b.sum()).backward()
    opt.step()
    assert (a < 1).all() and (b < 1).all()
    state = opt.state_dict()
    other = Optimizers(torch.optim.SGD([a], lr=0.1, momentum=0.9), torch.optim.Adam([b], lr=0.1))
    other.load_state_dict(state)
    assert other.state_dict()["optimizers"][1]["state"][0]["step"] == 1
    with pytest.raises(ValueError, match="holds 2 optimisers, this has 1"):
        Optimizers(torch.optim.SGD([a], lr=0.1)).load_state_dict(state)
    with pytest.raises(ValueError, match="at least one"):
        Optimizers()


def _game(tmp_path, epochs, checkpoint=None):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.arange(20) % 4
    flow = PixelFlow(hidden=4)
    encoders = MultiviewEncoder({"name": "small", "width": 4, "stem_stride": 2}, [1, 2], out_dim=8)
    result = fit_view_generator(flow, encoders, CrossViewInfoNCE(2, 0.5), lambda x: x.float() / 255 - 0.5,
                                images, labels, augment=lambda x, g: x, epochs=epochs, batch_size=5, lr=0.05,
                                lr_milestones=[100], generator=torch.Generator().manual_seed(2),
                                checkpoint=checkpoint, progress=False)
    return flow, result


def test_the_flow_plays_against_the_encoders_and_resumes_exactly(tmp_path):
    flow, result = _game(tmp_path, 2)
    assert any(p.abs().sum() > 0 for n, p in flow.named_parameters() if "generator" in n)   # the flow moved
    assert [h["epoch"] for h in result.history] == [1, 2] and "i_nce 0-1" in result.history[0]
    ckpt = tmp_path / "game.pt"
    _game(tmp_path, 1, ckpt)
    resumed, _ = _game(tmp_path, 2, ckpt)                               # the second epoch from the checkpoint
    for a, b in zip(flow.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
