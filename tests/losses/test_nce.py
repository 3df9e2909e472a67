"""Memory-bank NCE and the softmax criterion: float64 loop transcriptions, closed forms, invariants."""
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.losses.nce import MemoryBank, PartitionEstimate, nce_loss, softmax_bank_loss


def reference_nce(scores, n_data, z):
    """The official NCECriterion, one loop per anchor, with P = exp(s) / Z and no epsilon."""
    B, K1 = scores.shape
    K, Pn = K1 - 1, 1.0 / n_data
    total = 0.0
    for b in range(B):
        P = [math.exp(float(s)) / z for s in scores[b]]
        total += math.log(P[0] / (P[0] + K * Pn))
        total += sum(math.log(K * Pn / (p + K * Pn)) for p in P[1:])
    return -total / B


def test_nce_matches_the_official_criterion():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(5, 9, generator=g, dtype=torch.float64) * 3
    z = 7.5
    got = nce_loss(scores, n_data=100, log_z=math.log(z)).item()
    assert got == pytest.approx(reference_nce(scores, 100, z), rel=1e-6)


def test_nce_closed_form_when_the_model_equals_the_noise():
    # P(k) = P_n for every k: h = 1 / (1 + K), loss = log(1 + K) + K log((1 + K) / K)
    K, N = 7, 50
    scores = torch.zeros(3, 1 + K, dtype=torch.float64)
    loss = nce_loss(scores, n_data=N, log_z=math.log(N)).item()       # e^0 / Z = 1 / N = P_n
    assert loss == pytest.approx(math.log(1 + K) + K * math.log((1 + K) / K))


def test_nce_stays_finite_where_exp_overflows():
    scores = torch.tensor([[200.0, -200.0, 0.0]])
    assert torch.isfinite(nce_loss(scores, 10, 0.0))


def test_softmax_criterion_is_cross_entropy_with_the_positive_first():
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(4, 6, generator=g, dtype=torch.float64)
    expected = sum(-(scores[b, 0] - torch.logsumexp(scores[b], 0)) for b in range(4)) / 4
    assert softmax_bank_loss(scores).item() == pytest.approx(expected.item())


def test_bank_rows_stay_unit_norm_and_follow_the_momentum_update():
    g = torch.Generator().manual_seed(2)
    bank = MemoryBank(20, 8, momentum=0.5, generator=g)
    assert torch.allclose(bank.rows.norm(dim=1), torch.ones(20))
    idx = torch.tensor([3, 7, 11])
    f = F.normalize(torch.randn(3, 8, generator=g), dim=1)
    before = bank.rows[idx].clone()
    bank.update(idx, f)
    assert torch.allclose(bank.rows.norm(dim=1), torch.ones(20), atol=1e-6)
    assert torch.allclose(bank.rows[idx], F.normalize(0.5 * before + 0.5 * f, dim=1))


def test_the_positive_is_never_drawn_as_a_negative_and_draws_are_uniform():
    bank = MemoryBank(6, 4, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(4)
    index = torch.tensor([0, 5, 2])
    idx = bank.sample(index, K=20_000, generator=g)
    assert idx.shape == (3, 20_001) and torch.equal(idx[:, 0], index)
    for b in range(3):
        negatives = idx[b, 1:]
        assert not (negatives == index[b]).any()
        counts = torch.bincount(negatives, minlength=6).double()
        others = counts[[k for k in range(6) if k != int(index[b])]]
        chi2 = (((others - others.mean()) ** 2) / others.mean()).sum().item()
        assert chi2 < 20.5                                   # chi-square, 4 dof, p < 0.0005
    with_collisions = bank.sample(index, K=5000, generator=g, exclude_positive=False)
    assert (with_collisions[:, 1:] == index[:, None]).any()


def test_scores_are_the_dot_products_over_tau():
    g = torch.Generator().manual_seed(5)
    bank = MemoryBank(10, 4, generator=g)
    q = F.normalize(torch.randn(2, 4, generator=g), dim=1)
    idx = torch.tensor([[1, 2, 3], [4, 5, 6]])
    expected = torch.stack([bank.rows[idx[b]] @ q[b] for b in range(2)]) / 0.07
    assert torch.allclose(bank.scores(q, idx, 0.07), expected)


def test_partition_estimate_one_shot_and_running():
    scores1, scores2 = torch.zeros(2, 3), torch.full((2, 3), math.log(4.0))
    one_shot = PartitionEstimate(n_data=10, z_momentum=None)
    assert one_shot(scores1).item() == pytest.approx(math.log(10))       # Z = N mean(e^0)
    assert one_shot(scores2).item() == pytest.approx(math.log(10))       # fixed afterwards
    running = PartitionEstimate(n_data=10, z_momentum=0.5)
    running(scores1)
    assert running(scores2).item() == pytest.approx(math.log(0.5 * 10 + 0.5 * 40))
    assert running.log_z_first.item() == pytest.approx(math.log(10))      # the one-shot value, kept
    with pytest.raises(ValueError, match="n_data .* must be a positive int"):
        PartitionEstimate(n_data=0)
    with pytest.raises(TypeError, match="z_momentum must be a real number"):
        PartitionEstimate(n_data=10, z_momentum="0.9")
    with pytest.raises(ValueError, match="B >= 1"):
        nce_loss(torch.zeros(0, 5), 10, 0.0)


def test_bad_input_is_a_clear_error():
    bank = MemoryBank(10, 4)
    with pytest.raises(ValueError, match=r"index must lie in \[0, 10\)"):
        bank.sample(torch.tensor([10]), K=3)
    with pytest.raises(ValueError, match="K .* must be >= 1"):
        bank.sample(torch.tensor([1]), K=0)
    with pytest.raises(ValueError, match="dimension 5, the bank 4"):
        bank.scores(torch.randn(2, 5), torch.zeros(2, 3, dtype=torch.long), 0.07)
    with pytest.raises(ValueError, match="momentum must be in"):
        MemoryBank(10, 4, momentum=1.0)
    with pytest.raises(ValueError, match="features must be"):
        bank.update(torch.tensor([1, 2]), torch.randn(3, 4))
    with pytest.raises(ValueError, match="scores must be"):
        nce_loss(torch.zeros(3, 1), 10, 0.0)
    with pytest.raises(TypeError, match="index must be integer"):
        bank.sample(torch.tensor([1.0]), K=2)


def test_scores_stay_float32_under_autocast():
    bank = MemoryBank(50, 16, generator=torch.Generator().manual_seed(0))
    query = torch.nn.functional.normalize(torch.randn(4, 16), dim=1)
    idx = bank.sample(torch.arange(4), K=8, generator=torch.Generator().manual_seed(1))
    plain = bank.scores(query, idx, 0.07)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = bank.scores(query, idx, 0.07)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, plain)
