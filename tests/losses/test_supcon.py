"""SupConLoss against explicit float64 loop transcriptions of Eqs. (2) and (3) of
Khosla et al. (2020), the SimCLR special case, closed forms, invariances and errors."""
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.losses import SupConLoss, supcon_loss


def feats(b, v, d, seed=0):
    return F.normalize(torch.randn(b, v, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


def reference(features, labels, tau, form, mode="all", base_tau=None):
    """Loop over anchors i, positives p in P(i), candidates a in A(i) = I minus {i}."""
    B, V, _ = features.shape
    z = [features[b, v] for v in range(V) for b in range(B)]                 # view-major
    y = [int(labels[b]) if labels is not None else b for v in range(V) for b in range(B)]
    anchors = range(len(z)) if mode == "all" else range(B)
    total = 0.0
    for i in anchors:
        denom = sum(math.exp(float(z[i] @ z[a]) / tau) for a in range(len(z)) if a != i)
        P = [p for p in range(len(z)) if p != i and y[p] == y[i]]
        if not P:
            continue                                                         # contributes 0
        if form == "out":
            total += -sum(math.log(math.exp(float(z[i] @ z[p]) / tau) / denom) for p in P) / len(P)
        else:
            total += -math.log(sum(math.exp(float(z[i] @ z[p]) / tau) / denom for p in P) / len(P))
    return (tau / (base_tau or tau)) * total / len(anchors)


@pytest.mark.parametrize("form", ["out", "in"])
@pytest.mark.parametrize("mode", ["all", "one"])
def test_matches_the_loop_reference(form, mode):
    f = feats(6, 2, 5)
    y = torch.tensor([0, 1, 0, 2, 1, 0])
    got = SupConLoss(tau=0.3, form=form, contrast_mode=mode)(f, y).item()
    assert got == pytest.approx(reference(f, y, 0.3, form, mode), rel=1e-10)


def test_three_views_and_base_temperature():
    f = feats(4, 3, 4, 1)
    y = torch.tensor([1, 1, 0, 0])
    got = SupConLoss(tau=0.1, base_tau=0.07)(f, y).item()
    assert got == pytest.approx(reference(f, y, 0.1, "out", base_tau=0.07), rel=1e-10)


def nt_xent(z1, z2, tau):
    """An independent NT-Xent (SimCLR): for each of the 2B embeddings, cross-entropy over the
    other 2B-1 with the other view of the same image as the target."""
    z = torch.cat([z1, z2])
    sim = z @ z.T / tau
    sim.fill_diagonal_(float("-inf"))
    B = len(z1)
    target = torch.cat([torch.arange(B, 2 * B), torch.arange(B)])
    return F.cross_entropy(sim, target)


def test_no_labels_is_simclr():
    f = feats(8, 2, 6, 2)
    for form in ("out", "in"):                    # one positive per anchor: the two forms agree
        got = SupConLoss(tau=0.5, form=form)(f).item()
        assert got == pytest.approx(nt_xent(f[:, 0], f[:, 1], 0.5).item(), rel=1e-10)


def test_permutation_invariance():
    f, y = feats(10, 2, 4, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 3])
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    loss = SupConLoss(0.2)
    assert loss(f[perm], y[perm]).item() == pytest.approx(loss(f, y).item(), rel=1e-12)
    views = f.flip(1)                             # swapping the views changes nothing either
    assert loss(views, y).item() == pytest.approx(loss(f, y).item(), rel=1e-12)


def test_closed_form_for_perfectly_aligned_embeddings():
    """Every view of class c at the same point e_c, classes orthonormal: each anchor has
    |P| = n_c V - 1 positives at similarity 1 and N - n_c V candidates at 0, so
    L = -1/tau + log((n_c V - 1) e^{1/tau} + N - n_c V), for both forms."""
    tau, V = 0.5, 2
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    e = torch.eye(3, dtype=torch.float64)
    f = e[y][:, None, :].expand(6, V, 3).contiguous()
    N = 6 * V
    expected = 0.0
    for c, n_c in [(0, 3), (0, 3), (0, 3), (1, 2), (1, 2), (2, 1)]:
        expected += -1 / tau + math.log((n_c * V - 1) * math.exp(1 / tau) + N - n_c * V)
    expected /= 6
    for form in ("out", "in"):
        assert SupConLoss(tau, form=form)(f, y).item() == pytest.approx(expected, rel=1e-12)


def test_l_in_is_a_lower_bound_of_l_out():
    """Jensen: -log(mean exp(x)) <= -mean(x)."""
    for seed in range(5):
        f, y = feats(12, 2, 8, seed), torch.randint(0, 3, (12,), generator=torch.Generator().manual_seed(seed))
        assert supcon_loss(f, y, 0.1, form="in").item() <= supcon_loss(f, y, 0.1, form="out").item() + 1e-12


def test_anchors_without_positives_give_no_nan():
    f = feats(4, 1, 3)                            # one view: a singleton class has no positive at all
    y = torch.tensor([0, 0, 1, 2])
    for form in ("out", "in"):
        loss = SupConLoss(0.1, form=form)(f, y)
        assert torch.isfinite(loss)
        assert loss.item() == pytest.approx(reference(f, y, 0.1, form), rel=1e-10)


def test_gradcheck():
    f = feats(4, 2, 3).requires_grad_()
    y = torch.tensor([0, 1, 0, 1])
    for form in ("out", "in"):
        assert torch.autograd.gradcheck(lambda x: SupConLoss(0.5, form=form)(F.normalize(x, dim=-1), y), (f,))


def test_errors_are_clear():
    f = feats(4, 2, 3)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        SupConLoss()(f, torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        SupConLoss()(f, torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        SupConLoss()(f, torch.zeros(4))
    with pytest.raises(ValueError, match=r"\(B, V, D\)"):
        SupConLoss()(f[:, 0])
    with pytest.raises(ValueError, match="V >= 2"):
        SupConLoss()(f[:, :1])
    with pytest.raises(ValueError, match="unknown form"):
        SupConLoss(form="inside")
    with pytest.raises(ValueError, match="contrast_mode"):
        SupConLoss(contrast_mode="two")
    with pytest.raises(ValueError, match="NaN"):
        SupConLoss()(torch.full((2, 2, 3), float("nan")), torch.tensor([0, 1]))
