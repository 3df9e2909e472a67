"""CMC's multiview objective: pairs of views, both directions, banks updated after scoring."""
import copy

import pytest
import torch
import torch.nn.functional as F

from reprobook.losses.multiview import MultiviewContrast, view_pairs
from reprobook.losses.nce import nce_loss, softmax_bank_loss


def feats(n_views, B=4, D=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [F.normalize(torch.randn(B, D, generator=g, dtype=torch.float64), dim=1) for _ in range(n_views)]


def test_core_view_and_full_graph_pairs():
    assert view_pairs(4, "core") == [(0, 1), (0, 2), (0, 3)]
    assert view_pairs(4, "full") == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    with pytest.raises(ValueError, match="at least 2 views"):
        view_pairs(1)


@pytest.mark.parametrize("criterion", ["nce", "softmax"])
def test_two_views_equal_the_sum_of_both_directions_by_hand(criterion):
    torch.manual_seed(0)
    model = MultiviewContrast(2, n_data=30, dim=8, K=5, tau=0.1, criterion=criterion, z_momentum=None,
                              generator=torch.Generator().manual_seed(1)).double()
    banks = copy.deepcopy(model.banks)                        # before the update
    f1, f2 = feats(2)
    index = torch.tensor([0, 3, 7, 29])
    loss, stats = model([f1, f2], index, generator=torch.Generator().manual_seed(2))
    idx = banks[1].sample(index, 5, torch.Generator().manual_seed(2))            # the same draws
    s12, s21 = banks[1].scores(f1, idx, 0.1), banks[0].scores(f2, idx, 0.1)
    if criterion == "softmax":
        expected = softmax_bank_loss(s12) + softmax_bank_loss(s21)
    else:   # one-shot partition: Z = N mean(e^s) of this first batch, per direction
        log_z = lambda s: torch.logsumexp(s.flatten(), 0) + torch.log(torch.tensor(30.0 / s.numel()))  # noqa: E731
        expected = nce_loss(s12, 30, log_z(s12)) + nce_loss(s21, 30, log_z(s21))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    monitors = {"p_pos 0->1", "p_pos 1->0"}
    if criterion == "nce":
        monitors |= {"log_z 0->1", "log_z 1->0"}
        assert stats["log_z 0->1"].item() == pytest.approx(log_z(s12).item(), rel=1e-6)
        first, now = model.log_partitions()["0->1"]
        assert first == now == pytest.approx(log_z(s12).item(), rel=1e-6)
    assert set(stats) == monitors


def test_banks_are_updated_after_scoring_and_stay_on_the_sphere():
    model = MultiviewContrast(3, n_data=20, dim=8, K=4, graph="full").double()
    before = [b.rows.clone() for b in model.banks]
    f = feats(3)
    index = torch.tensor([1, 2, 3, 4])
    model(f, index)
    for v, bank in enumerate(model.banks):
        assert torch.allclose(bank.rows[index], F.normalize(0.5 * before[v][index] + 0.5 * f[v], dim=1))
        assert torch.allclose(bank.rows.norm(dim=1), torch.ones(20, dtype=torch.float64))
        untouched = [k for k in range(20) if k not in (1, 2, 3, 4)]
        assert torch.equal(bank.rows[untouched], before[v][untouched])


def test_more_pairs_more_terms():
    f = feats(3)
    core = MultiviewContrast(3, n_data=50, dim=8, K=10, graph="core").double()
    full = MultiviewContrast(3, n_data=50, dim=8, K=10, graph="full").double()
    _, s_core = core(f, torch.arange(4))
    _, s_full = full(f, torch.arange(4))
    p_pos = lambda stats: [k for k in stats if k.startswith("p_pos")]   # noqa: E731
    assert len(p_pos(s_core)) == 4 and len(p_pos(s_full)) == 6


def test_gradients_reach_every_view():
    f = [x.clone().requires_grad_() for x in feats(3)]
    model = MultiviewContrast(3, n_data=50, dim=8, K=10, graph="core").double()
    loss, _ = model(f, torch.arange(4))
    loss.backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in f)


def test_bad_input_is_a_clear_error():
    model = MultiviewContrast(2, n_data=10, dim=8, K=3)
    with pytest.raises(ValueError, match="expected 2 views"):
        model(feats(3), torch.arange(4))
    with pytest.raises(ValueError, match="same shape"):
        model([torch.zeros(4, 8), torch.zeros(3, 8)], torch.arange(4))
    with pytest.raises(ValueError, match=r"K must be in \[1, n_data\)"):
        MultiviewContrast(2, n_data=10, K=10)
    with pytest.raises(ValueError, match="unknown criterion"):
        MultiviewContrast(2, n_data=10, K=3, criterion="nec")
    with pytest.raises(ValueError, match=r"features\[1\] must be L2-normalised"):
        model([feats(1)[0].float(), 3 * feats(1)[0].float()], torch.arange(4))
    assert all(torch.isnan(p.log_z) for p in model.partitions.values())      # nothing was estimated
