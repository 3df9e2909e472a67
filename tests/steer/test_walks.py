"""Latent walks of GAN steerability (Jahanian et al. 2020): Eq. 1, the linear and non-linear walks
and their training, on a toy linear generator where the optimal walk is known in closed form."""
import pytest
import torch

from reprobook.steer.toy import ToyLinearGenerator, colour_shift
from reprobook.steer.walks import (LinearWalk, NonlinearWalk, masked_mse, step_alpha, train_walk,
                                   uniform_alpha, walk_loss)

C, H, W, NZ = 3, 4, 4, 8


pytestmark = pytest.mark.usefixtures("one_thread")


def toy_generator(seed: int = 0):
    """G(z) = A z reshaped to (B, 3, 4, 4) with the colour edit realisable exactly (steer.toy)."""
    G = ToyLinearGenerator(NZ, C, H, W, seed=seed)
    return G.A, G.E, G


colour_edit = colour_shift


def loop_masked_mse(out, target, mask):
    """Float64 loop transcription: Σ m (x − y)² over b, c, h, w / #{(b, c, h, w): m ≠ 0}."""
    B, Cc, Hh, Ww = out.shape
    total, count = 0.0, 0
    for b in range(B):
        for c in range(Cc):
            for h in range(Hh):
                for w in range(Ww):
                    m = float(mask[b, 0 if mask.shape[1] == 1 else c, h, w])
                    total += m * (float(out[b, c, h, w]) - float(target[b, c, h, w])) ** 2
                    count += m != 0
    return total / max(count, 1)


# ---------------------------------------------------------------------------------------------
# Eq. 1
# ---------------------------------------------------------------------------------------------

def test_masked_mse_matches_a_loop_transcription():
    g = torch.Generator().manual_seed(0)
    out, target = torch.randn(2, 3, 2, 3, generator=g), torch.randn(2, 3, 2, 3, generator=g)
    mask = torch.tensor([[[[1.0, 0.0, 0.5], [0.0, 2.0, 1.0]]], [[[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]]])
    assert masked_mse(out, target, mask).item() == pytest.approx(loop_masked_mse(out, target, mask), rel=1e-6)
    full = (torch.rand(2, 3, 2, 3, generator=g) > 0.4).float()
    assert masked_mse(out, target, full).item() == pytest.approx(loop_masked_mse(out, target, full), rel=1e-6)
    ones = torch.ones(2, 1, 2, 3)
    assert torch.allclose(masked_mse(out, target, ones), ((out - target) ** 2).mean())
    assert masked_mse(out, target, torch.zeros(2, 1, 2, 3)).item() == 0.0


def test_walk_loss_is_eq1_and_its_target_carries_no_gradient():
    A, _, G = toy_generator()
    walk = LinearWalk(NZ, 3).double()
    z = torch.randn(5, NZ, dtype=torch.float64, requires_grad=True)
    alpha = torch.rand(5, 3, dtype=torch.float64) - 0.5
    seen = {}

    def edit(x, a):
        seen["requires_grad"] = x.requires_grad
        return colour_edit(x, a)

    loss = walk_loss(G, walk, z, alpha, edit)
    assert seen["requires_grad"] is False
    target, mask = colour_edit(G(z.detach()), alpha)
    expected = loop_masked_mse(G(walk(z.detach(), alpha)).detach(), target, mask)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    # only the walked branch G(z + α w) depends on z: dL/dz = 2 Aᵀ r / N with r = A α w − α e. Were
    # the target differentiable, the z terms would cancel and dL/dz would be 0.
    r = (G(walk(z.detach(), alpha)) - target).reshape(5, -1)          # (B, D)
    assert torch.allclose(z.grad, 2 * r @ A / r.numel(), atol=1e-12)
    assert z.grad.abs().max() > 1e-3
    assert walk.w.grad is not None


# ---------------------------------------------------------------------------------------------
# the walks
# ---------------------------------------------------------------------------------------------

def test_linear_walk_is_z_plus_alpha_w():
    walk = LinearWalk(NZ, 3, generator=torch.Generator().manual_seed(0))
    assert walk.w.shape == (3, NZ) and 0.03 < walk.w.std().item() < 0.3     # N(0, 0.1²)
    z, a = torch.randn(4, NZ), torch.randn(4, 3)
    expected = z + sum(a[:, i:i + 1] * walk.w[i] for i in range(3))
    assert torch.allclose(walk(z, a), expected, atol=1e-6)
    one = LinearWalk(NZ)
    assert torch.allclose(one(z, 0.5), z + 0.5 * one.w[0])
    assert torch.allclose(one(z, torch.full((4,), 0.5)), one(z, 0.5))
    assert torch.equal(one(z, 0.0), z)


def test_nonlinear_walk_stays_on_the_sphere_and_repeats_its_step():
    walk = NonlinearWalk(NZ, hidden=16, steps=3, eps=0.5, generator=torch.Generator().manual_seed(0))
    z = torch.randn(4, NZ)
    assert torch.equal(walk(z, 0.0), z)
    out = walk(z, torch.tensor([1.0, -1.0, 2.0, 0.0]))                # n = 2, -2, 4, 0 steps
    assert torch.allclose(out.norm(dim=1), z.norm(dim=1), atol=1e-5)
    assert torch.equal(out[3], z[3])
    # the official step: z ← (z + f(z)) ‖z_0‖ / ‖z + f(z)‖, no ε inside
    step = z + walk.forward_net(z)
    one = step * z.norm(dim=1, keepdim=True) / step.norm(dim=1, keepdim=True)
    assert torch.allclose(walk(z, 0.5), one, atol=1e-6)
    # n steps at once = n single steps in a row (the official recursive evaluation), per sample
    twice = walk(walk(z, 0.5), 0.5)
    assert torch.allclose(out[0], twice[0], atol=1e-5)
    back = walk(walk(z, -0.5), -0.5)
    assert torch.allclose(out[1], back[1], atol=1e-5)
    assert not torch.allclose(out[0], out[1])                         # reverse uses its own network
    # α of shape (B, 3) with equal columns is one slider
    assert torch.allclose(walk(z, torch.full((4, 3), 1.0)), walk(z, 1.0))


def test_samplers_follow_the_official_ranges():
    g = torch.Generator().manual_seed(0)
    a = uniform_alpha(-0.5, 0.5, 3)(1000, g)
    assert a.shape == (1000, 3) and a.min() >= -0.5 and a.max() < 0.5 and a.std() > 0.25
    seen = set()
    for _ in range(60):
        s = step_alpha(2, 0.1, 3)(4, g)
        assert s.shape == (4, 3) and torch.all(s == s[0, 0])          # one α per batch
        seen.add(round(s[0, 0].item() / 0.1))
    assert seen == {-2, -1, 0, 1, 2}


# ---------------------------------------------------------------------------------------------
# training: closed-form optimum on the toy problem
# ---------------------------------------------------------------------------------------------

def test_trained_linear_walk_reaches_the_least_squares_direction():
    A, E, G = toy_generator()
    w_star = (torch.linalg.pinv(A) @ E).T                              # (3, nz): w*_c = A⁺ e_c, ‖w*_c‖ = 1
    assert torch.allclose(A @ G.optimal_colour_walk().T, E, atol=1e-12)  # A w*_c = e_c exactly
    walk = LinearWalk(NZ, 3, generator=torch.Generator().manual_seed(1))
    g, sampler = torch.Generator().manual_seed(2), uniform_alpha(-0.5, 0.5, 3)
    # Adam at a constant lr hovers ~lr around the optimum: a second, slower phase settles it
    history = train_walk(G, walk, colour_edit, sampler, steps=300, batch=8, lr=0.02, generator=g)
    history += train_walk(G, walk, colour_edit, sampler, steps=200, batch=8, lr=1e-3, generator=g)
    assert len(history) == 500
    assert max(history[-10:]) < 1e-5 * history[0]                      # the edit is realised exactly
    assert torch.allclose(walk.w.detach().double(), w_star, atol=2e-3)


def test_nonlinear_walk_training_reduces_the_loss():
    torch.manual_seed(0)
    _, _, G = toy_generator()
    walk = NonlinearWalk(NZ, hidden=32, steps=2, eps=0.25, generator=torch.Generator().manual_seed(1))
    history = train_walk(G, walk, colour_edit, walk.alpha_sampler(3), steps=300, batch=16, lr=3e-3,
                         generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(3)
    z = torch.randn(256, NZ, generator=g)

    def held_out():
        with torch.no_grad():
            return sum(walk_loss(G, walk, z, torch.full((256, 3), n * 0.25), colour_edit).item()
                       for n in (-2, -1, 1, 2))

    after = held_out()
    fresh = NonlinearWalk(NZ, hidden=32, steps=2, eps=0.25, generator=torch.Generator().manual_seed(1))
    walk.load_state_dict(fresh.state_dict())
    before = held_out()
    assert after < 0.5 * before
    assert all(torch.isfinite(torch.tensor(history)))


def test_train_walk_freezes_and_restores_the_generator():
    G = torch.nn.Sequential(torch.nn.Linear(NZ, C * H * W), torch.nn.Unflatten(1, (C, H, W)))
    G.train()
    walk = LinearWalk(NZ, 3)
    train_walk(G, walk, colour_edit, uniform_alpha(-0.5, 0.5, 3), steps=3, batch=2, lr=1e-2)
    assert G.training and all(p.requires_grad and p.grad is None for p in G.parameters())


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    walk = LinearWalk(NZ, 3)
    z = torch.randn(4, NZ)
    with pytest.raises(ValueError, match="z must have shape"):
        walk(torch.randn(4, NZ + 1), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="alpha must be"):
        walk(z, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="alpha must be"):
        walk(z, torch.zeros(4))                                        # (B,) only for one slider
    with pytest.raises(ValueError, match="NaN"):
        walk(z, torch.full((4, 3), float("nan")))
    with pytest.raises(ValueError, match="equal columns"):
        NonlinearWalk(NZ)(z, torch.tensor([[0.1, 0.2, 0.1]] * 4))
    for kwargs in ({"nz": 0}, {"nz": NZ, "n_dims": 0}, {"nz": 2.5}):
        with pytest.raises(ValueError):
            LinearWalk(**kwargs)
    with pytest.raises(ValueError, match="eps"):
        NonlinearWalk(NZ, eps=0)
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="same shape"):
        masked_mse(x, x[:, :2], torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match="mask must have shape"):
        masked_mse(x, x, torch.ones(2, 4, 4))
    with pytest.raises(ValueError, match="non-negative"):
        masked_mse(x, x, -torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match="low < high"):
        uniform_alpha(0.5, -0.5)
    _, _, G = toy_generator()
    with pytest.raises(ValueError, match="pair"):
        walk_loss(G, walk, z, torch.zeros(4, 3), lambda x, a: x)
    sampler = uniform_alpha(-0.5, 0.5, 3)
    for kwargs in ({"steps": 0}, {"batch": 0}, {"lr": 0.0}, {"lr": float("nan")}):
        with pytest.raises(ValueError):
            train_walk(G, walk, colour_edit, sampler, **{"steps": 1, "batch": 2, "lr": 1e-3, **kwargs})

    def nan_edit(x, a):
        return torch.full_like(x, float("nan")), torch.ones(x.shape[0], 1, x.shape[2], x.shape[3])

    with pytest.raises(FloatingPointError, match="step 1"):
        train_walk(G, walk, nan_edit, sampler, steps=2, batch=2, lr=1e-3)


def test_train_walk_feeds_the_walk_its_own_coordinate():
    seen = []

    class Recorder(torch.nn.Module):
        nz = 2

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2))

        def forward(self, z, alpha):
            seen.append(torch.as_tensor(alpha).clone())
            return z + self.w

    G = lambda z: z.view(-1, 1, 1, 2)                                           # noqa: E731
    edit = lambda x, a: (x, torch.ones(x.shape[0], 1, 1, 2))                    # noqa: E731
    train_walk(G, Recorder(), edit, lambda b, gen: torch.full((b,), 4.0), steps=1, batch=3,
               walk_alpha_fn=lambda a: torch.log(a))
    assert torch.allclose(seen[0], torch.log(torch.full((3,), 4.0)))
