"""info_nce against an explicit transcription of Eq. (1) of Wang & Isola (2020), and the limit
of their Theorem 1."""
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.losses import contrastive_limit, info_nce


def sphere(n, d, seed=0):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


def reference(query, key, negatives, tau):
    """Mean over i of -log( e^{q_i.k_i/tau} / (e^{q_i.k_i/tau} + sum_m e^{q_i.n_im/tau}) )."""
    total = 0.0
    for i in range(len(query)):
        pos = math.exp(float(query[i] @ key[i]) / tau)
        neg = sum(math.exp(float(query[i] @ n) / tau) for n in negatives[i])
        total += -math.log(pos / (pos + neg))
    return total / len(query)


@pytest.mark.parametrize("tau", [0.07, 0.5, 1.0])
def test_shared_bank_of_negatives(tau):
    q, k, bank = sphere(7, 5, 0), sphere(7, 5, 1), sphere(11, 5, 2)
    expected = reference(q, k, [bank] * 7, tau)
    assert info_nce(q, k, bank, tau).item() == pytest.approx(expected, rel=1e-10)


def test_per_query_negatives():
    q, k, neg = sphere(6, 4, 0), sphere(6, 4, 1), sphere(6 * 9, 4, 2).view(6, 9, 4)
    assert info_nce(q, k, neg, 0.2).item() == pytest.approx(reference(q, k, list(neg), 0.2), rel=1e-10)


def test_in_batch_negatives_are_the_other_keys():
    q, k = sphere(8, 5, 0), sphere(8, 5, 1)
    negatives = [torch.cat([k[:i], k[i + 1:]]) for i in range(8)]
    assert info_nce(q, k, None, 0.3).item() == pytest.approx(reference(q, k, negatives, 0.3), rel=1e-10)
    per_query = info_nce(q, k, None, 0.3, reduction="none")
    assert per_query.shape == (8,) and per_query.mean().item() == pytest.approx(info_nce(q, k, None, 0.3).item())


def test_closed_form_when_all_similarities_are_equal():
    """Orthogonal query, key and negatives: every logit is 0, so the loss is log(1 + M)."""
    eye = torch.eye(6, dtype=torch.float64)
    q, k, bank = eye[:1], eye[1:2], eye[2:]
    assert info_nce(q, k, bank, 0.1).item() == pytest.approx(math.log(1 + 4))


def test_theorem_1_limit():
    """L(M) - log M -> -E[q.k]/tau + E log E_{x-} e^{q.x-/tau} as M grows (negatives drawn iid)."""
    g = torch.Generator().manual_seed(0)
    feats = sphere(400, 4, 3)
    q, k = feats[:50], F.normalize(feats[:50] + 0.3 * sphere(50, 4, 4), dim=1)
    tau = 0.5
    a, u = contrastive_limit(q, k, feats, tau)
    assert a.item() == pytest.approx(-(q * k).sum(1).mean().item() / tau)
    limit = (a + u).item()
    gaps = []
    for m in (4, 64, 4096):
        idx = torch.randint(0, len(feats), (50, m), generator=g)
        gaps.append(abs(info_nce(q, k, feats[idx], tau).item() - math.log(m) - limit))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.01


def test_gradcheck():
    q = sphere(4, 3, 0).requires_grad_()
    k = sphere(4, 3, 1).requires_grad_()
    bank = sphere(5, 3, 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: info_nce(a, b, c, 0.5), (q, k, bank))
    assert torch.autograd.gradcheck(lambda a, b: info_nce(a, b, None, 0.5), (q, k))


def test_errors_are_clear():
    q = sphere(4, 3)
    with pytest.raises(ValueError, match="same shape"):
        info_nce(q, sphere(5, 3))
    with pytest.raises(ValueError, match=r"negatives must be \(M, 3\)"):
        info_nce(q, q, sphere(5, 4))
    with pytest.raises(ValueError, match=r"negatives must be \(4, M, 3\)"):
        info_nce(q, q, sphere(10, 3).view(2, 5, 3))
    with pytest.raises(ValueError, match="tau"):
        info_nce(q, q, tau=0)
    with pytest.raises(ValueError, match="at least 2"):
        info_nce(q[:1], q[:1])
