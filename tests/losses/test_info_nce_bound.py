"""The InfoNCE bound on mutual information (InfoMin Eq. 2) and the in-batch cross-view objective."""
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.losses import CrossViewInfoNCE, info_nce, info_nce_bound


def bound_by_loop(scores: torch.Tensor) -> float:
    """log K - L_NCE, transcribed with explicit loops in float64."""
    K = len(scores)
    total = 0.0
    for i in range(K):
        denom = sum(math.exp(float(scores[i, j])) for j in range(K))
        total += -math.log(math.exp(float(scores[i, i])) / denom)
    return math.log(K) - total / K


def test_bound_matches_the_loop_transcription():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(7, 7, generator=g, dtype=torch.float64) * 3
    assert info_nce_bound(scores).item() == pytest.approx(bound_by_loop(scores), abs=1e-12)


def test_closed_forms_equal_scores_give_zero_and_the_bound_never_exceeds_log_k():
    assert info_nce_bound(torch.zeros(5, 5, dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-12)
    perfect = torch.eye(16, dtype=torch.float64) * 1e4            # positives infinitely more likely
    assert info_nce_bound(perfect).item() == pytest.approx(math.log(16), abs=1e-9)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        s = torch.randn(9, 9, generator=g, dtype=torch.float64) * 10
        assert info_nce_bound(s).item() <= math.log(9) + 1e-12


def test_bound_is_invariant_to_a_per_query_shift_of_the_critic():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(6, 6, generator=g, dtype=torch.float64)
    shift = torch.randn(6, 1, generator=g, dtype=torch.float64)
    assert info_nce_bound(s + shift).item() == pytest.approx(info_nce_bound(s).item(), abs=1e-12)


def test_bound_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        info_nce_bound(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="square"):
        info_nce_bound(torch.zeros(1, 1))
    with pytest.raises(ValueError, match="NaN"):
        info_nce_bound(torch.full((3, 3), float("nan")))


def test_cross_view_objective_is_the_sum_of_both_directions():
    g = torch.Generator().manual_seed(3)
    z1, z2 = (F.normalize(torch.randn(8, 5, generator=g, dtype=torch.float64), dim=1) for _ in range(2))
    loss, stats = CrossViewInfoNCE(2, tau=0.2)([z1, z2])
    expected = info_nce(z1, z2, tau=0.2) + info_nce(z2, z1, tau=0.2)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert stats["i_nce 0-1"].item() == pytest.approx(math.log(8) - expected.item() / 2, rel=1e-12)
    assert 0 < stats["p_pos 0->1"].item() < 1


def test_cross_view_objective_graphs_and_bad_inputs():
    g = torch.Generator().manual_seed(4)
    z = [F.normalize(torch.randn(4, 3, generator=g), dim=1) for _ in range(3)]
    core, _ = CrossViewInfoNCE(3, 0.5, "core")(z)
    full, _ = CrossViewInfoNCE(3, 0.5, "full")(z)
    pair = lambda i, j: info_nce(z[i], z[j], tau=0.5) + info_nce(z[j], z[i], tau=0.5)  # noqa: E731
    assert core.item() == pytest.approx((pair(0, 1) + pair(0, 2)).item(), rel=1e-6)
    assert full.item() == pytest.approx((pair(0, 1) + pair(0, 2) + pair(1, 2)).item(), rel=1e-6)
    with pytest.raises(ValueError, match="expected 3 views"):
        CrossViewInfoNCE(3)(z[:2])
    with pytest.raises(ValueError, match="L2-normalised"):
        CrossViewInfoNCE(2)([z[0] * 2, z[1]])
    with pytest.raises(ValueError, match="tau"):
        CrossViewInfoNCE(2, tau=0.0)
