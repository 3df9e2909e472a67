"""InfoMin's view generator: a pixel-wise, invertible, volume-preserving flow."""
import pytest
import torch

from reprobook.models.flow import AdditiveCoupling, OrthogonalMixing, PixelFlow


def randomised(flow: PixelFlow, seed: int = 0) -> PixelFlow:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.7)
    return flow


def test_flow_starts_as_the_identity():
    x = torch.randn(2, 3, 5, 5)
    assert torch.equal(PixelFlow()(x), x)


def test_flow_is_invertible_to_numerical_precision():
    flow = randomised(PixelFlow(blocks=3).double())
    x = torch.randn(4, 3, 6, 7, dtype=torch.float64)
    y = flow(x)
    assert not torch.allclose(y, x)
    assert torch.allclose(flow.inverse(y), x, atol=1e-12)
    assert torch.allclose(flow(flow.inverse(x)), x, atol=1e-12)


def test_every_layer_and_the_flow_preserve_volume():
    flow = randomised(PixelFlow(blocks=2).double(), seed=1)
    g = torch.Generator().manual_seed(2)
    for _ in range(5):
        pixel = torch.randn(3, generator=g, dtype=torch.float64)
        for f in (flow, *flow.layers):
            J = torch.autograd.functional.jacobian(lambda v: f(v.view(1, 3, 1, 1)).view(3), pixel)
            assert torch.linalg.det(J).item() == pytest.approx(1.0, abs=1e-10)
    assert torch.equal(flow.log_det(torch.randn(2, 3, 4, 4, dtype=torch.float64)), torch.zeros(2, dtype=torch.float64))


def test_flow_acts_on_each_pixel_alone_and_splits_one_against_two_channels():
    flow = randomised(PixelFlow().double(), seed=3)
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    x2 = x.clone()
    x2[..., 0, 0] += 1.0                                          # change one pixel
    changed = (flow(x2) - flow(x)).abs().sum(1)[0] > 0
    assert changed[0, 0] and changed.sum() == 1
    v1, v2 = flow.views(x)
    assert v1.shape == (1, 1, 4, 4) and v2.shape == (1, 2, 4, 4)


def test_mixing_is_a_rotation_and_couplings_are_bounded():
    mix = randomised(OrthogonalMixing().double())
    W = mix.weight()
    assert torch.allclose(W @ W.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    coupling = randomised(AdditiveCoupling([0], bound=0.5).double())
    x = torch.randn(2, 3, 3, 3, dtype=torch.float64) * 100
    assert (coupling(x) - x).abs().max() <= 0.5


def test_flow_bad_inputs():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        PixelFlow()(torch.zeros(1, 4, 2, 2))
    with pytest.raises(ValueError, match="first"):
        PixelFlow(first=3)
    with pytest.raises(ValueError, match="condition"):
        AdditiveCoupling([0, 1, 2])


def test_coupling_refuses_bad_conditions_and_inputs():
    for bad in ([0, 0], [5], [-1], []):
        with pytest.raises(ValueError, match="condition"):
            AdditiveCoupling(bad)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        AdditiveCoupling([0])(torch.zeros(1, 4, 2, 2))
