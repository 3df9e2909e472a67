"""The InfoNCE estimate of mutual information on correlated Gaussians with known MI."""
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.eval import (correlated_gaussians, estimate_mi, estimate_mi_from_critic, gaussian_log_ratio,
                            gaussian_mi, rho_for_mi)


def optimal_estimate(mi: float, K: int, dim: int = 4, n: int = 8192, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    rho = rho_for_mi(dim, mi)
    x, y = correlated_gaussians(n, dim, rho, g)
    return estimate_mi_from_critic(lambda a, b: gaussian_log_ratio(x[a], y[b], rho), n, K, g)


def test_gaussian_mi_closed_form_and_its_inverse():
    assert gaussian_mi(1, 0.0) == 0.0
    assert gaussian_mi(3, 0.6) == pytest.approx(-1.5 * math.log(1 - 0.36))
    assert gaussian_mi(4, rho_for_mi(4, 2.5)) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="rho"):
        gaussian_mi(2, 1.0)


def test_log_ratio_is_the_log_density_ratio():
    # one coordinate: log N(y; rho x, 1 - rho^2) - log N(y; 0, 1), by hand
    x, y, rho = torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[-1.2]], dtype=torch.float64), 0.7
    s2 = 1 - rho ** 2
    by_hand = -(-1.2 - rho * 0.3) ** 2 / (2 * s2) - 0.5 * math.log(s2) + 1.2 ** 2 / 2
    assert gaussian_log_ratio(x, y, rho).item() == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("mi", [0.5, 1.0, 2.0])
def test_estimate_matches_the_true_mi_below_the_ceiling(mi):
    est = optimal_estimate(mi, K=512)
    assert est.ceiling == pytest.approx(math.log(512))
    assert est.nats == pytest.approx(mi, abs=0.1)


@pytest.mark.parametrize("K", [16, 64])
def test_estimate_saturates_at_log_k_above_it(K):
    est = optimal_estimate(10.0, K=K)
    assert est.nats <= math.log(K) + 1e-9
    assert est.nats > math.log(K) - 0.1


def test_estimate_from_embeddings_and_groups():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(300, 8, generator=g), dim=1)
    same = estimate_mi(z, z, tau=0.05, K=100, generator=g)
    assert same.groups == 3 and same.nats > math.log(100) - 0.5       # identical views: near the ceiling
    other = F.normalize(torch.randn(300, 8, generator=g), dim=1)
    assert estimate_mi(z, other, tau=0.05, K=100, generator=g).nats < 0.5   # independent views: near 0
    with pytest.raises(ValueError, match="at least 400 pairs"):
        estimate_mi(z, z, K=400)
    with pytest.raises(ValueError, match="K must be"):
        estimate_mi(z, z, K=1)
    with pytest.raises(ValueError, match="same shape"):
        estimate_mi(z, z[:10])


def test_bad_settings_are_clear_errors():
    with pytest.raises(TypeError, match="K must be an integer"):
        estimate_mi_from_critic(lambda a, b: torch.zeros(4, 4), 16, 4.0)
    with pytest.raises(ValueError, match=r"\(K, K\)"):
        estimate_mi_from_critic(lambda a, b: torch.zeros(8, 8), 16, 4)
    with pytest.raises(ValueError, match=">= 0 nats"):
        rho_for_mi(4, -1)
    with pytest.raises(ValueError, match="rounds to 1"):
        rho_for_mi(4, 100)
    with pytest.raises(ValueError, match="dim"):
        gaussian_mi(0, 0.5)
