"""(Attentive) Neural Processes and the pooled MLP baseline of Omnipush."""
import math

import pytest
import torch

from reprobook.models.neural_process import (
    MLPBaseline,
    NeuralProcess,
    attentive_np,
    gaussian_log_likelihood,
    rmse,
)

VARIANTS = {
    "np": dict(attention=False),
    "anp": dict(attention=True),
    "det_only": dict(latent=False),
    "latent_only": dict(deterministic=False),
    "anp_exp_std": dict(attention=True, decoder_std="exp"),
}


def make(name, hidden=16, **kw):
    torch.manual_seed(0)
    return NeuralProcess(hidden=hidden, **VARIANTS[name], **kw)


def batch(B, C, T, dx=3, dy=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, C, dx, generator=g), torch.randn(B, C, dy, generator=g),
            torch.randn(B, T, dx, generator=g), torch.randn(B, T, dy, generator=g))


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("B,C,T", [(1, 1, 1), (2, 5, 7), (4, 10, 3)])
def test_shapes_and_positive_std(name, B, C, T):
    model = make(name)
    cx, cy, tx, ty = batch(B, C, T)
    out = model(cx, cy, tx)
    assert out.mean.shape == out.std.shape == (B, T, 3)
    assert (out.std > 0).all()
    assert out.loss is None and out.nll is None and out.kl is None
    out = model(cx, cy, tx, ty)
    for v in (out.loss, out.nll, out.kl):
        assert v.shape == () and torch.isfinite(v)
    assert torch.allclose(out.loss, out.nll + out.kl)


def test_attentive_np_factory():
    m = attentive_np(hidden=8)
    assert isinstance(m, NeuralProcess) and m.attention and m.latent and m.deterministic
    with pytest.raises(ValueError, match="attention=True"):
        attentive_np(attention=False)


def test_official_sizes():
    m = NeuralProcess()
    assert m.hidden == 128 and m.x_dim == 3 and m.y_dim == 3
    assert m.decoder[0].in_features == 3 * 128


@pytest.mark.parametrize("name", ["np", "anp", "det_only"])
def test_context_permutation_invariance(name):
    model = make(name).eval()
    cx, cy, tx, _ = batch(3, 9, 4)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    a = model(cx, cy, tx)
    torch.manual_seed(5)  # same z draw (its shape does not depend on C)
    b = model(cx[:, perm], cy[:, perm], tx)
    assert torch.allclose(a.mean, b.mean, atol=1e-5)
    assert torch.allclose(a.std, b.std, atol=1e-5)


def test_deterministic_path_alone_is_invariant():
    model = make("anp")
    cx, cy, tx, _ = batch(2, 6, 5)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    r1 = model.det_encoder(cx, cy, tx)
    r2 = model.det_encoder(cx[:, perm], cy[:, perm], tx)
    assert r1.shape == (2, 5, 16)
    assert torch.allclose(r1, r2, atol=1e-5)


@pytest.mark.parametrize("name", ["np", "anp", "latent_only"])
def test_kl_is_zero_when_context_is_all_points(name):
    model = make(name)
    cx, cy, _, _ = batch(3, 8, 1)
    out = model(cx, cy, cx, cy)
    assert out.kl.item() == 0.0
    # and positive for a strict subset of the points
    out = model(cx[:, :3], cy[:, :3], cx, cy)
    assert out.kl.item() > 0.0


@pytest.mark.parametrize("name", ["np", "anp"])
def test_gradient_reaches_every_parameter(name):
    model = make(name)
    cx, cy, tx, ty = batch(2, 5, 7)
    out = model(cx, cy, torch.cat([cx, tx], 1), torch.cat([cy, ty], 1))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


def linear_tasks(B, N, g):
    """y = A x + b with a random (A, b) per task; x, y 1-d."""
    a = torch.randn(B, 1, 1, generator=g)
    b = torch.randn(B, 1, 1, generator=g)
    x = torch.rand(B, N, 1, generator=g) * 4 - 2
    return x, a * x + b


@pytest.mark.parametrize("name", ["np", "anp"])
def test_training_on_linear_tasks_lowers_the_loss(name):
    torch.manual_seed(0)
    model = NeuralProcess(x_dim=1, y_dim=1, hidden=32, **VARIANTS[name])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    ex, ey = linear_tasks(32, 20, torch.Generator().manual_seed(123))

    def eval_loss():
        torch.manual_seed(7)
        with torch.no_grad():
            return model(ex[:, :8], ey[:, :8], ex, ey).loss.item()

    before = eval_loss()
    for _ in range(150):
        x, y = linear_tasks(16, 20, g)
        out = model(x[:, :8], y[:, :8], x, y)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    after = eval_loss()
    assert after < before - 0.5, (before, after)


def test_bad_inputs_raise():
    model = make("anp")
    cx, cy, tx, ty = batch(2, 5, 4)
    with pytest.raises(ValueError, match="batch"):
        model(cx, cy[:1], tx)
    with pytest.raises(ValueError, match="batch"):
        model(cx, cy, tx, ty[:1])
    with pytest.raises(ValueError, match="last dimension"):
        model(cx[..., :2], cy, tx)
    with pytest.raises(ValueError, match="last dimension"):
        model(cx, cy, tx, ty[..., :1])
    with pytest.raises(ValueError, match="empty context"):
        model(cx[:, :0], cy[:, :0], tx)
    with pytest.raises(ValueError, match="number"):
        model(cx, cy[:, :3], tx)
    with pytest.raises(ValueError, match="shape"):
        model(cx[0], cy[0], tx[0])
    with pytest.raises(ValueError, match="at least one"):
        NeuralProcess(latent=False, deterministic=False)


def test_gaussian_log_likelihood_matches_torch_and_hand():
    g = torch.Generator().manual_seed(0)
    y, mean = torch.randn(4, 6, 3, generator=g), torch.randn(4, 6, 3, generator=g)
    std = torch.rand(4, 6, 3, generator=g) + 0.2
    ref = torch.distributions.Normal(mean, std).log_prob(y).sum(-1)
    assert torch.allclose(gaussian_log_likelihood(y, mean, std, reduction="none"), ref, atol=1e-5)
    assert torch.allclose(gaussian_log_likelihood(y, mean, std), ref.mean(), atol=1e-5)
    # hand: one point, 2 dims, y - mean = (1, 0), std = (1, 2)
    val = gaussian_log_likelihood(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), torch.tensor([[1.0, 2.0]]))
    hand = (-0.5 * math.log(2 * math.pi) - 0.5) + (-0.5 * math.log(2 * math.pi) - math.log(2.0))
    assert val.item() == pytest.approx(hand, abs=1e-6)
    with pytest.raises(ValueError):
        gaussian_log_likelihood(y, mean[..., :2], std)


def test_rmse_hand():
    y = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    m = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert rmse(y, m).item() == pytest.approx(math.sqrt(25 / 4))
    assert rmse(y, y).item() == 0.0
    with pytest.raises(ValueError):
        rmse(y, m[:, :1])


def test_mlp_baseline():
    torch.manual_seed(0)
    m = MLPBaseline()
    linears = [l for l in m.net if isinstance(l, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(3, 256), (256, 256), (256, 256), (256, 6)]
    x, y = torch.randn(5, 7, 3), torch.randn(5, 7, 3)
    mean, std = m(x)
    assert mean.shape == std.shape == (5, 7, 3) and (std > 0).all()
    nll = m.gaussian_nll(x, y)
    ref = -torch.distributions.Normal(mean, std).log_prob(y).mean()
    assert torch.allclose(nll, ref)
    nll.backward()
    assert all(p.grad is not None for p in m.parameters())
    with pytest.raises(ValueError, match="last dimension"):
        m(torch.randn(4, 2))
    with pytest.raises(ValueError):
        m.gaussian_nll(x, y[..., :2])
