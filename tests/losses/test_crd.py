"""CRD: the loss against a float64 transcription of the official ContrastMemory + ContrastLoss,
MultiviewContrast's given sample indices, the banks, and the class-aware sampler."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.data.contrast_sampler import contrast_indices
from reprobook.losses.crd import CRDLoss, Embed
from reprobook.losses.distill import build_distiller
from reprobook.losses.multiview import MultiviewContrast
from reprobook.losses.nce import nce_loss


def rand(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --------------------------------------------------------------------------------------------
# the official ContrastMemory + ContrastLoss, as loops over plain floats
# --------------------------------------------------------------------------------------------

class OfficialCRD:
    """crd/memory.py ContrastMemory (memory_v1 = student bank, memory_v2 = teacher bank, one-shot
    Z per direction, momentum update after scoring) and crd/criterion.py ContrastLoss (eps 1e-7)."""

    def __init__(self, W_s, b_s, W_t, b_t, memory_s, memory_t, n_data, tau, momentum):
        self.W_s, self.b_s, self.W_t, self.b_t = W_s.tolist(), b_s.tolist(), W_t.tolist(), b_t.tolist()
        self.mem_s, self.mem_t = memory_s.tolist(), memory_t.tolist()
        self.n_data, self.tau, self.m = n_data, tau, momentum
        self.Z_s = self.Z_t = None

    @staticmethod
    def embed(W, b, x):
        y = [sum(w * v for w, v in zip(row, x)) + bias for row, bias in zip(W, b)]
        n = math.sqrt(sum(v * v for v in y))
        return [v / n for v in y]

    @staticmethod
    def contrast_loss(P, n_data, eps=1e-7):
        bsz, m = len(P), len(P[0]) - 1
        Pn = 1 / n_data
        total = sum(math.log(p[0] / (p[0] + m * Pn + eps)) for p in P)
        total += sum(math.log(m * Pn / (q + m * Pn + eps)) for p in P for q in p[1:])
        return -total / bsz

    def step(self, f_s, f_t, y, idx):
        v1 = [self.embed(self.W_s, self.b_s, x) for x in f_s.tolist()]            # student embeddings
        v2 = [self.embed(self.W_t, self.b_t, x) for x in f_t.tolist()]            # teacher embeddings
        dot = lambda a, b: sum(p * q for p, q in zip(a, b))                       # noqa: E731
        # out_v1: student anchor vs the teacher bank; out_v2: teacher anchor vs the student bank
        out_s = [[math.exp(dot(self.mem_t[k], v1[b]) / self.tau) for k in idx[b]] for b in range(len(y))]
        out_t = [[math.exp(dot(self.mem_s[k], v2[b]) / self.tau) for k in idx[b]] for b in range(len(y))]
        mean = lambda o: sum(x for r in o for x in r) / (len(o) * len(o[0]))     # noqa: E731
        if self.Z_s is None:
            self.Z_s, self.Z_t = mean(out_s) * self.n_data, mean(out_t) * self.n_data
        P_s = [[x / self.Z_s for x in r] for r in out_s]
        P_t = [[x / self.Z_t for x in r] for r in out_t]
        loss = self.contrast_loss(P_s, self.n_data) + self.contrast_loss(P_t, self.n_data)
        for b, i in enumerate(y):
            for mem, v in ((self.mem_s, v1[b]), (self.mem_t, v2[b])):
                mixed = [self.m * a + (1 - self.m) * c for a, c in zip(mem[i], v)]
                n = math.sqrt(sum(a * a for a in mixed))
                mem[i] = [a / n for a in mixed]
        return loss


def test_crd_matches_the_official_memory_and_criterion_for_two_steps():
    n_data, K, B = 24, 5, 4
    torch.manual_seed(0)
    crd = CRDLoss(s_dim=6, t_dim=5, n_data=n_data, feat_dim=4, K=K, tau=0.07, momentum=0.5,
                  generator=torch.Generator().manual_seed(1)).double()
    banks = crd.contrast.banks
    ref = OfficialCRD(crd.embed_s.linear.weight, crd.embed_s.linear.bias, crd.embed_t.linear.weight,
                      crd.embed_t.linear.bias, banks[0].rows, banks[1].rows, n_data, 0.07, 0.5)
    labels = torch.arange(n_data) % 3
    y = torch.tensor([2, 7, 11, 19])
    idx = contrast_indices(labels, y, K, generator=torch.Generator().manual_seed(2))
    for step in range(2):                                                     # same indices both steps
        f_s, f_t = rand((B, 6), 10 + step), rand((B, 5), 20 + step)
        got = crd(f_s, f_t, y, sample_idx=idx).item()
        assert got == pytest.approx(ref.step(f_s, f_t, y.tolist(), idx.tolist()), rel=1e-6)
        assert torch.allclose(banks[0].rows, torch.tensor(ref.mem_s, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(banks[1].rows, torch.tensor(ref.mem_t, dtype=torch.float64), atol=1e-12)
    # the official Z is the first batch's, kept: our one-shot partition estimates agree
    first, now = crd.contrast.log_partitions()["0->1"]
    assert first == now == pytest.approx(math.log(ref.Z_s), rel=1e-10)
    assert crd.contrast.log_partitions()["1->0"][0] == pytest.approx(math.log(ref.Z_t), rel=1e-10)
    assert set(crd.stats) == {"p_pos 0->1", "p_pos 1->0", "log_z 0->1", "log_z 1->0"}


def test_crd_distiller_is_crdloss_on_the_last_feature():
    shapes = [(4, 8, 4, 4), (4, 8, 4, 4), (4, 6)]
    torch.manual_seed(3)
    d = build_distiller("crd", shapes, shapes, n_data=30, K=7).double()
    crd = copy.deepcopy(d.crd)
    fs = [rand(s, 30 + i) for i, s in enumerate(shapes)]
    ft = [rand(s, 40 + i) for i, s in enumerate(shapes)]
    index = torch.tensor([0, 5, 9, 29])
    idx = contrast_indices(torch.arange(30) % 5, index, 7, generator=torch.Generator().manual_seed(4))
    assert d(fs, ft, None, None, index=index, sample_idx=idx).item() == pytest.approx(
        crd(fs[-1], ft[-1], index, sample_idx=idx).item(), rel=1e-12)
    assert d.crd.embed_s.linear.out_features == 128 and d.crd.contrast.tau == 0.07
    assert d.crd.contrast.banks[0].momentum == 0.5 and d.crd.contrast.partitions["0->1"].z_momentum is None


def test_crd_gradients_reach_both_embeddings_and_the_student():
    torch.manual_seed(5)
    crd = CRDLoss(6, 5, n_data=20, feat_dim=4, K=5).double()
    f_s = rand((3, 6), 50).requires_grad_()
    crd(f_s, rand((3, 5), 51), torch.tensor([1, 2, 3]), generator=torch.Generator().manual_seed(6)).backward()
    for p in list(crd.embed_s.parameters()) + list(crd.embed_t.parameters()) + [f_s]:
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_embed_is_linear_then_unit_norm():
    e = Embed(6, 3).double()
    x = rand((2, 2, 3), 7)                                                    # flattened to 6
    y = e(x)
    assert torch.allclose(y, F.normalize(x.reshape(2, 6) @ e.linear.weight.T + e.linear.bias, dim=1))
    assert torch.allclose(y.norm(dim=1), torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="expects 6 input features"):
        e(rand((2, 5), 8))


# --------------------------------------------------------------------------------------------
# MultiviewContrast with given sample indices
# --------------------------------------------------------------------------------------------

def unit(shape, seed):
    return F.normalize(rand(shape, seed), dim=1)


def test_multiview_uses_the_given_indices_instead_of_drawing():
    model = MultiviewContrast(2, n_data=30, dim=8, K=5, tau=0.1, z_momentum=None).double()
    banks = copy.deepcopy(model.banks)
    f1, f2 = unit((4, 8), 1), unit((4, 8), 2)
    index = torch.tensor([0, 3, 7, 29])
    sample_idx = torch.tensor([[0, 1, 2, 4, 5, 6], [8, 9, 10, 11, 12, 13],      # relax: positive 8 for 3
                               [7, 0, 0, 0, 1, 2], [29, 28, 27, 26, 25, 24]])
    loss, _ = model([f1, f2], index, sample_idx=sample_idx)
    s12, s21 = banks[1].scores(f1, sample_idx, 0.1), banks[0].scores(f2, sample_idx, 0.1)
    log_z = lambda s: torch.logsumexp(s.flatten(), 0) + math.log(30 / s.numel())   # noqa: E731
    expected = nce_loss(s12, 30, log_z(s12)) + nce_loss(s21, 30, log_z(s21))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)         # nce_loss runs in fp32
    for v, f in enumerate((f1, f2)):                                         # banks updated at index
        assert torch.allclose(model.banks[v].rows[index], F.normalize(0.5 * banks[v].rows[index] + 0.5 * f, dim=1))
        untouched = [k for k in range(30) if k not in index.tolist()]
        assert torch.equal(model.banks[v].rows[untouched], banks[v].rows[untouched])


def test_multiview_without_sample_idx_is_unchanged():
    a = MultiviewContrast(2, n_data=30, dim=8, K=5, generator=torch.Generator().manual_seed(0)).double()
    b = copy.deepcopy(a)
    f = [unit((4, 8), 3), unit((4, 8), 4)]
    index = torch.arange(4)
    la, _ = a(f, index, generator=torch.Generator().manual_seed(5))
    drawn = b.banks[1].sample(index, 5, torch.Generator().manual_seed(5))
    lb, _ = b(f, index, sample_idx=drawn)
    assert la.item() == pytest.approx(lb.item(), rel=1e-12)


def test_multiview_sample_idx_errors():
    model = MultiviewContrast(2, n_data=10, dim=8, K=3)
    f = [F.normalize(torch.randn(2, 8), dim=1) for _ in range(2)]
    with pytest.raises(ValueError, match=r"sample_idx must be \(B, 1 \+ K\) = \(2, 4\)"):
        model(f, torch.arange(2), sample_idx=torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"sample_idx must lie in \[0, 10\)"):
        model(f, torch.arange(2), sample_idx=torch.full((2, 4), 10))
    with pytest.raises(TypeError, match="sample_idx must be integer"):
        model(f, torch.arange(2), sample_idx=torch.zeros(2, 4))


def test_banks_stay_unit_norm_and_the_positive_comes_first():
    labels = torch.arange(40) % 4
    torch.manual_seed(7)
    crd = CRDLoss(6, 5, n_data=40, feat_dim=4, K=9).double()
    g = torch.Generator().manual_seed(8)
    for step in range(3):
        index = torch.randperm(40, generator=g)[:6]
        idx = contrast_indices(labels, index, 9, generator=g)
        assert torch.equal(idx[:, 0], index)                                 # 'exact': the sample itself
        crd(rand((6, 6), 60 + step), rand((6, 5), 70 + step), index, sample_idx=idx)
        for bank in crd.contrast.banks:
            assert torch.allclose(bank.rows.norm(dim=1), torch.ones(40, dtype=torch.float64), atol=1e-12)


# --------------------------------------------------------------------------------------------
# the class-aware sampler
# --------------------------------------------------------------------------------------------

def test_sampler_negatives_are_never_of_the_anchors_class():
    labels = torch.randint(0, 5, (200,), generator=torch.Generator().manual_seed(0))
    index = torch.arange(0, 200, 7)
    for mode in ("exact", "relax"):
        for replace in (None, True):
            idx = contrast_indices(labels, index, 50, mode, torch.Generator().manual_seed(1), replace=replace)
            assert idx.shape == (len(index), 51) and idx.dtype == torch.long
            assert (labels[idx[:, 1:]] != labels[index][:, None]).all()
            assert (labels[idx[:, 0]] == labels[index]).all()                 # positive of the same class
            if mode == "exact":
                assert torch.equal(idx[:, 0], index)
            if replace is None:                                            # official: no repeats here
                assert all(len(set(r.tolist())) == 50 for r in idx[:, 1:])


def test_sampler_relax_positive_is_a_random_same_class_sample():
    labels = torch.tensor([0, 1, 0, 1, 0, 2, 2, 0])
    index = torch.tensor([0] * 400)
    idx = contrast_indices(labels, index, 2, "relax", torch.Generator().manual_seed(2))
    counts = torch.bincount(idx[:, 0], minlength=8)
    assert set(counts.nonzero().flatten().tolist()) == {0, 2, 4, 7}          # class 0, itself included
    assert counts[[0, 2, 4, 7]].min() > 60                                  # about 100 each


def test_sampler_is_uniform_over_the_other_classes():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])
    for replace in (None, True):
        idx = contrast_indices(labels, torch.tensor([0] * 300), 4, generator=torch.Generator().manual_seed(3),
                               replace=replace)
        counts = torch.bincount(idx[:, 1:].flatten(), minlength=8).double()[2:]   # the 6 other-class samples
        chi2 = (((counts - counts.mean()) ** 2) / counts.mean()).sum().item()
        assert chi2 < 20.5                                                    # 5 dof, p < 0.001


def test_sampler_draws_with_replacement_only_when_it_must():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    idx = contrast_indices(labels, torch.tensor([0, 3, 5]), 4, generator=torch.Generator().manual_seed(4))
    assert len(set(idx[1, 1:].tolist())) == 4                                # class 1: 4 others, K = 4
    assert len(set(idx[2, 1:].tolist())) == 4
    assert set(idx[0, 1:].tolist()) <= {3, 4, 5}                             # class 0: 3 others < K
    with pytest.raises(ValueError, match="replace=False needs K <="):
        contrast_indices(labels, torch.tensor([0]), 4, replace=False)


def test_sampler_is_deterministic_under_a_generator():
    labels = torch.arange(100) % 10
    index = torch.tensor([3, 14, 15, 92])
    a = contrast_indices(labels, index, 20, "relax", torch.Generator().manual_seed(5))
    b = contrast_indices(labels, index, 20, "relax", torch.Generator().manual_seed(5))
    c = contrast_indices(labels, index, 20, "relax", torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sampler_errors_are_clear():
    labels = torch.tensor([0, 1, 1, 2])
    with pytest.raises(ValueError, match="K .* must be an int >= 1"):
        contrast_indices(labels, torch.tensor([0]), 0)
    with pytest.raises(ValueError, match="unknown mode 'exactly'"):
        contrast_indices(labels, torch.tensor([0]), 2, mode="exactly")
    with pytest.raises(ValueError, match="class 3 has no samples of another class"):
        contrast_indices(torch.full((5,), 3), torch.tensor([1]), 2)
    with pytest.raises(ValueError, match=r"index must lie in \[0, 4\)"):
        contrast_indices(labels, torch.tensor([4]), 2)
    with pytest.raises(TypeError, match="labels_all must be an integer tensor"):
        contrast_indices(labels.float(), torch.tensor([0]), 2)
    with pytest.raises(ValueError, match="labels_all is empty"):
        contrast_indices(torch.zeros(0, dtype=torch.long), torch.tensor([], dtype=torch.long), 2)
