"""align_loss and uniform_loss against explicit transcriptions of Eqs. (2) and (3) of
Wang & Isola (2020), closed forms, invariances, gradients and input errors."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reprobook.losses import align_loss, align_uniform_loss, uniform_loss


def sphere(n, d, seed=0, dtype=torch.float64):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype), dim=1)


def align_reference(x, y, alpha):
    """E ||f(x) - f(y)||_2^alpha, one pair at a time."""
    total = 0.0
    for i in range(len(x)):
        total += math.sqrt(sum((float(x[i, k]) - float(y[i, k])) ** 2 for k in range(x.shape[1]))) ** alpha
    return total / len(x)


def uniform_reference(x, t):
    """log E exp(-t ||f(x) - f(y)||_2^2) over the distinct pairs i < j."""
    total, pairs = 0.0, 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            sq = sum((float(x[i, k]) - float(x[j, k])) ** 2 for k in range(x.shape[1]))
            total += math.exp(-t * sq)
            pairs += 1
    return math.log(total / pairs)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_align_matches_the_loop_reference(alpha):
    x, y = sphere(17, 5, 0), sphere(17, 5, 1)
    assert align_loss(x, y, alpha).item() == pytest.approx(align_reference(x, y, alpha), rel=1e-12)


@pytest.mark.parametrize("t", [0.5, 2.0, 5.0])
def test_uniform_matches_the_loop_reference(t):
    x = sphere(19, 4, 2)
    assert uniform_loss(x, t).item() == pytest.approx(uniform_reference(x, t), rel=1e-12)


def test_official_formulas():
    """The official code: (x-y).norm(dim=1).pow(alpha).mean() and pdist(x).pow(2).mul(-t).exp().mean().log()."""
    x, y = sphere(64, 16, 3), sphere(64, 16, 4)
    assert align_loss(x, y).item() == pytest.approx((x - y).norm(dim=1).pow(2).mean().item(), rel=1e-12)
    official = torch.pdist(x, p=2).pow(2).mul(-2).exp().mean().log().item()
    assert uniform_loss(x).item() == pytest.approx(official, rel=1e-12)


def test_identical_pairs_have_zero_alignment_and_antipodal_pairs_the_maximum():
    x = sphere(10, 3)
    assert align_loss(x, x).item() == 0.0
    assert align_loss(x, -x, alpha=2).item() == pytest.approx(4.0)


def test_collapsed_features_have_uniformity_zero():
    x = F.normalize(torch.ones(8, 3, dtype=torch.float64), dim=1)
    assert uniform_loss(x).item() == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("n", [4, 16, 64])
def test_evenly_spaced_points_on_the_circle_closed_form(n):
    """N points at angles 2 pi k / N: the mean over distinct pairs of exp(-t (2 - 2 cos(2 pi k / N)))."""
    t = 2.0
    ang = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    x = torch.stack([ang.cos(), ang.sin()], 1)
    exact = math.log(sum(math.exp(-t * (2 - 2 * math.cos(2 * math.pi * k / n))) for k in range(1, n)) / (n - 1))
    assert uniform_loss(x, t).item() == pytest.approx(exact, rel=1e-12)


def test_uniform_distribution_on_the_circle_approaches_the_bessel_limit():
    """For u, v uniform on S^1, E exp(-t||u - v||^2) = e^{-2t} I_0(2t): L -> -2t + log I_0(2t).

    With N evenly spaced points, the mean over all ordered pairs (self-pairs included) equals
    that expectation c up to exponentially small error; leaving out the N self-pairs (each 1) gives
    (N c - 1) / (N - 1): the gap to log c is log((N c - 1) / ((N - 1) c)) ~ -(1 - c) / (c N).
    """
    t = 2.0
    c = math.exp(-2 * t) * np.i0(2 * t)
    limit = math.log(c)
    assert limit == pytest.approx(-1.5750, abs=1e-4)
    gaps = []
    for n in (8, 32, 512, 4096):
        ang = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
        gap = uniform_loss(torch.stack([ang.cos(), ang.sin()], 1), t).item() - limit
        gaps.append(gap)
        if n >= 32:
            assert gap == pytest.approx(math.log((n * c - 1) / ((n - 1) * c)), rel=1e-9)
    assert all(abs(a) > abs(b) for a, b in zip(gaps, gaps[1:])) and abs(gaps[-1]) < 1e-3


def test_invariances():
    """Both losses depend only on distances: invariant to rotations and to permuting the batch."""
    x, y = sphere(20, 6, 5), sphere(20, 6, 6)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7)))
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(8))
    assert align_loss(x @ q, y @ q).item() == pytest.approx(align_loss(x, y).item(), rel=1e-12)
    assert align_loss(x[perm], y[perm]).item() == pytest.approx(align_loss(x, y).item(), rel=1e-12)
    assert uniform_loss(x @ q).item() == pytest.approx(uniform_loss(x).item(), rel=1e-12)
    assert uniform_loss(x[perm]).item() == pytest.approx(uniform_loss(x).item(), rel=1e-12)


def test_large_t_stays_finite():
    x = sphere(50, 8)
    assert torch.isfinite(uniform_loss(x, t=500.0))
    naive = torch.pdist(x.float()).pow(2).mul(-500).exp().mean().log()
    assert not torch.isfinite(naive)                  # the official formula underflows here


def test_gradcheck():
    x = sphere(6, 3, 1).requires_grad_()
    y = sphere(6, 3, 2).requires_grad_()
    # gradients through the normalisation, so the inputs stay on the sphere while perturbed
    assert torch.autograd.gradcheck(lambda a, b: align_loss(F.normalize(a, dim=1), F.normalize(b, dim=1), 2.0), (x, y))
    assert torch.autograd.gradcheck(lambda a: uniform_loss(F.normalize(a, dim=1), 2.0), (x,))
    assert torch.autograd.gradcheck(lambda a, b: align_uniform_loss(F.normalize(a, dim=1), F.normalize(b, dim=1)), (x, y))


def test_align_uniform_combines_as_the_official_example():
    x, y = sphere(30, 5, 1), sphere(30, 5, 2)
    expected = align_loss(x, y) + 0.5 * (uniform_loss(x) + uniform_loss(y)) / 2
    assert align_uniform_loss(x, y, lam=0.5).item() == pytest.approx(expected.item(), rel=1e-12)


def test_errors_are_clear():
    x = sphere(5, 3)
    with pytest.raises(ValueError, match="L2-normalised"):
        align_loss(2 * x, x)
    with pytest.raises(ValueError, match="L2-normalised"):
        uniform_loss(x * 0.5)
    with pytest.raises(ValueError, match="same shape"):
        align_loss(x, sphere(4, 3))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        uniform_loss(x[0])
    with pytest.raises(ValueError, match="at least 2"):
        uniform_loss(x[:1])
    with pytest.raises(ValueError, match="NaN"):
        uniform_loss(torch.full((3, 2), float("nan")))
    with pytest.raises(TypeError, match="floating point"):
        uniform_loss(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="alpha"):
        align_loss(x, x, alpha=0)
