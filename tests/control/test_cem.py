"""cem: convergence on a known quadratic, the box-constrained optimum, determinism, the elite
refit against a hand computation, and bad inputs."""
import math

import pytest
import torch

from reprobook.control import CEMResult, cem


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def quadratic(A, x_star):
    """cost(x) = (x - x*)^T A (x - x*) for a batch x (S, d)."""
    def cost(x):
        d = x - x_star
        return torch.einsum("si,ij,sj->s", d, A, d)
    return cost


def spd(d, seed=0):
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen(seed), dtype=torch.float64))
    return q @ torch.diag(torch.tensor([1.0, 2.0, 4.0, 8.0][:d], dtype=torch.float64)) @ q.T


def test_finds_minimum_of_a_4d_quadratic():
    A, x_star = spd(4), torch.tensor([0.7, -1.3, 0.2, 2.1], dtype=torch.float64)
    # the public 10 % elite fraction, on 200 samples: with 100/10 the population-std refit collapses
    # before reaching 1e-2 for ~1 seed in 6; with 200/20 all of 40 seeds tried end within 5e-3
    res = cem(quadratic(A, x_star), torch.zeros(4, dtype=torch.float64), 2.0, samples=200, elites=20,
              iterations=40, generator=gen(1))
    assert isinstance(res, CEMResult)
    assert res.best.shape == (4,) and (res.best - x_star).abs().max().item() < 1e-2
    assert (res.mean - x_star).abs().max().item() < 1e-2
    assert res.best_cost == pytest.approx(quadratic(A, x_star)(res.best[None]).item())
    assert res.best_cost == min(h["best_cost"] for h in res.history)
    assert [h["iteration"] for h in res.history] == list(range(40))
    assert res.history[-1]["elite_mean_cost"] < res.history[0]["elite_mean_cost"]
    assert res.std.max().item() < 1e-2                                    # the distribution has collapsed


def test_defaults_are_the_public_implementation():
    calls = []

    def cost(x):
        calls.append(tuple(x.shape))
        return x.pow(2).sum(dim=(1, 2))
    res = cem(cost, torch.zeros(3, 2), 1.0, generator=gen(0))       # a (horizon, action_dim) plan
    assert calls == [(100, 3, 2)] * 3 and res.best.shape == (3, 2) and res.std.shape == (3, 2)


def test_bounded_optimum_lies_on_the_boundary():
    """Diagonal A: the box-constrained minimiser is clip(x*, lower, upper)."""
    A = torch.diag(torch.tensor([1.0, 3.0, 2.0, 5.0], dtype=torch.float64))
    x_star = torch.tensor([2.5, -3.0, 0.3, 0.9], dtype=torch.float64)     # first two outside [-1, 1]
    lower, upper = -torch.ones(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    seen = []

    def cost(x):
        seen.append(x)
        return quadratic(A, x_star)(x)
    res = cem(cost, torch.zeros(4, dtype=torch.float64), 1.0, iterations=25, lower=lower, upper=upper,
              generator=gen(2))
    want = torch.tensor([1.0, -1.0, 0.3, 0.9], dtype=torch.float64)
    assert (res.best - want).abs().max().item() < 1e-2
    assert all(((x >= -1) & (x <= 1)).all() for x in seen)                # every sample was clipped
    scalar = cem(quadratic(A, x_star), torch.zeros(4, dtype=torch.float64), 1.0, iterations=25, lower=-1.0,
                 upper=1.0, generator=gen(2))
    assert torch.equal(scalar.best, res.best)                             # scalar bounds broadcast


def test_one_sided_bound():
    x_star = torch.tensor([-2.0, 0.5], dtype=torch.float64)
    res = cem(quadratic(torch.eye(2, dtype=torch.float64), x_star), torch.zeros(2, dtype=torch.float64), 1.0,
              iterations=25, lower=0.0, generator=gen(3))
    assert (res.best - torch.tensor([0.0, 0.5], dtype=torch.float64)).abs().max().item() < 1e-2


def test_deterministic_with_a_seeded_generator():
    A, x_star = spd(4, 5), torch.ones(4, dtype=torch.float64)
    run = lambda seed: cem(quadratic(A, x_star), torch.zeros(4, dtype=torch.float64), 1.0, iterations=4,
                           generator=gen(seed))
    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a.best, b.best) and torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    assert a.history == b.history and a.best_cost == b.best_cost
    assert not torch.equal(a.best, c.best)


def test_elite_refit_by_hand():
    """samples 4, elites 2, cost(a) = a on 1-d actions: the elites are the two smallest draws,
    mean' = (a + b) / 2 and std' = |a - b| / 2 (population std of two numbers)."""
    mu0, sd0 = 0.3, 2.0
    eps = torch.randn((4, 1), generator=gen(11), dtype=torch.float64)[:, 0].tolist()
    draws = [mu0 + sd0 * e for e in eps]
    a, b = sorted(draws)[:2]
    res = cem(lambda x: x[:, 0], torch.tensor([mu0], dtype=torch.float64), torch.tensor([sd0], dtype=torch.float64),
              samples=4, elites=2, iterations=1, generator=gen(11))
    assert res.mean.item() == pytest.approx((a + b) / 2, rel=1e-12)
    assert res.std.item() == pytest.approx(abs(a - b) / 2, rel=1e-12)
    assert res.best.item() == pytest.approx(a, rel=1e-12) and res.best_cost == pytest.approx(a, rel=1e-12)
    assert res.history == [{"iteration": 0, "best_cost": pytest.approx(a), "elite_mean_cost": pytest.approx((a + b) / 2)}]


def test_two_iterations_with_momentum_and_clipping_by_hand():
    """Same tiny case continued for a second round, with momentum m and an upper bound: draws are
    clipped first, the elites refitted on the clipped values, mean' = m mean + (1 - m) elite mean."""
    mu, sd, m, hi = 0.0, 1.0, 0.25, 0.5
    g = gen(4)
    expect_best = math.inf
    for _ in range(2):
        eps = torch.randn((4, 1), generator=g, dtype=torch.float64)[:, 0].tolist()
        draws = sorted(min(mu + sd * e, hi) for e in eps)
        expect_best = min(expect_best, draws[0])
        a, b = draws[:2]
        mu, sd = m * mu + (1 - m) * (a + b) / 2, abs(a - b) / 2
    res = cem(lambda x: x[:, 0], torch.zeros(1, dtype=torch.float64), 1.0, samples=4, elites=2, iterations=2,
              upper=hi, momentum=m, generator=gen(4))
    assert res.mean.item() == pytest.approx(mu, rel=1e-12)
    assert res.std.item() == pytest.approx(sd, rel=1e-12)
    assert res.best_cost == pytest.approx(expect_best, rel=1e-12)


def test_does_not_modify_inputs_or_track_gradients():
    mean = torch.zeros(2, requires_grad=True)
    std = torch.ones(2)
    res = cem(lambda x: x.pow(2).sum(1), mean, std, iterations=2, generator=gen(0))
    assert torch.equal(std, torch.ones(2)) and not res.best.requires_grad and not res.mean.requires_grad


# --------------------------------------------------------------------------------- bad inputs

def quad(x):
    return x.pow(2).sum(1)


@pytest.mark.parametrize("kwargs,match", [
    ({"samples": 10, "elites": 11}, r"elites \(11\) must be <= samples \(10\)"),
    ({"samples": 0}, "samples must be a positive integer"),
    ({"samples": 5.0}, "samples must be a positive integer"),
    ({"elites": 0}, "elites must be a positive integer"),
    ({"elites": True}, "elites must be a positive integer"),
    ({"iterations": 0}, "iterations must be a positive integer"),
    ({"momentum": 1.0}, "momentum"),
    ({"momentum": -0.1}, "momentum"),
    ({"lower": 1.0, "upper": -1.0}, "lower must be <= upper"),
    ({"lower": torch.zeros(3)}, r"lower must be a scalar or have the shape of mean \(2,\)"),
])
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cem(quad, torch.zeros(2), 1.0, **kwargs)


@pytest.mark.parametrize("std", [0.0, -1.0, float("nan"), torch.tensor([1.0, 0.0])])
def test_std_must_be_positive(std):
    with pytest.raises(ValueError, match="std must be finite and > 0"):
        cem(quad, torch.zeros(2), std)


def test_std_shape_must_match_mean():
    with pytest.raises(ValueError, match=r"std must have the shape of mean \(2,\), got \(3,\)"):
        cem(quad, torch.zeros(2), torch.ones(3))


def test_mean_must_be_a_float_tensor():
    with pytest.raises(TypeError, match="mean must be a floating-point tensor"):
        cem(quad, torch.zeros(2, dtype=torch.long), 1.0)
    with pytest.raises(TypeError, match="mean must be a floating-point tensor"):
        cem(quad, [0.0, 0.0], 1.0)


@pytest.mark.parametrize("bad_cost,got", [
    (lambda x: x.pow(2), r"\(100, 2\)"),
    (lambda x: x.pow(2).sum(), r"\(\)"),
    (lambda x: x.pow(2).sum(1)[:-1], r"\(99,\)"),
])
def test_cost_of_wrong_shape_is_named(bad_cost, got):
    with pytest.raises(ValueError, match=rf"cost must return shape \(100,\) .* got {got}"):
        cem(bad_cost, torch.zeros(2), 1.0)


def test_cost_returning_nan_or_non_tensor():
    with pytest.raises(ValueError, match="NaN"):
        cem(lambda x: torch.full((len(x),), float("nan")), torch.zeros(2), 1.0)
    with pytest.raises(TypeError, match="tensor"):
        cem(lambda x: [0.0] * len(x), torch.zeros(2), 1.0)
