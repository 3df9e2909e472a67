"""The CRD paper's distillers: float64 loop transcriptions of each equation (written from the
papers / RepDistiller formulas, not from our code), closed forms, the official layer choices of
train_student.py, the official weights, gradients, and errors."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.losses.distill import (DISTILLERS, ConvReg, Distiller, ab_loss, at_loss, build_distiller,
                                      cc_loss, fsp_loss, ft_loss, hint_loss, kd_loss, nst_loss, pkt_loss,
                                      rkd_loss, sp_loss)

B = 4
# model(x, is_feat=True) shapes of the official models (models/resnet.py, models/wrn.py)
RESNET8X4 = [(B, 32, 32, 32), (B, 64, 32, 32), (B, 128, 16, 16), (B, 256, 8, 8), (B, 256)]
RESNET32X4 = [(B, 32, 32, 32), (B, 64, 32, 32), (B, 128, 16, 16), (B, 256, 8, 8), (B, 256)]
WRN_16_2 = [(B, 16, 32, 32), (B, 32, 32, 32), (B, 64, 16, 16), (B, 128, 8, 8), (B, 128)]
WRN_40_2 = WRN_16_2
WRN_40_1 = [(B, 16, 32, 32), (B, 16, 32, 32), (B, 32, 16, 16), (B, 64, 8, 8), (B, 64)]

OFFICIAL_BETA = {"kd": 0.9, "fitnet": 100, "at": 1000, "sp": 3000, "cc": 0.02, "vid": 1, "rkd": 1,
                 "pkt": 30000, "ab": 1, "ft": 200, "fsp": 50, "nst": 50, "crd": 0.8}


def rand(shape, seed, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def feats(shapes, seed):
    return [rand(s, seed * 100 + i) for i, s in enumerate(shapes)]


def build(name, s_shapes=RESNET8X4, t_shapes=RESNET32X4, **kw):
    torch.manual_seed(0)
    if name == "crd":
        kw = {"K": 6, **kw}
    return build_distiller(name, s_shapes, t_shapes, n_data=40, **kw).double()


# --------------------------------------------------------------------------------------------
# loop transcriptions
# --------------------------------------------------------------------------------------------

def l2_normalize(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / max(n, 1e-12) for x in v]


def ref_kd(zs, zt, T):
    """T^2 / B sum_b sum_c p_t log(p_t / p_s), softmax at temperature T."""
    total = 0.0
    for b in range(len(zs)):
        es = [math.exp(float(z) / T) for z in zs[b]]
        et = [math.exp(float(z) / T) for z in zt[b]]
        ps, pt = [e / sum(es) for e in es], [e / sum(et) for e in et]
        total += sum(q * (math.log(q) - math.log(p)) for p, q in zip(ps, pt))
    return T * T * total / len(zs)


def avg_pool(f, size):
    """Adaptive average pooling by loops, for sizes that divide (the CIFAR cases)."""
    B_, C, H, W = f.shape
    h, w = size
    kh, kw = H // h, W // w
    out = torch.zeros(B_, C, h, w, dtype=f.dtype)
    for b in range(B_):
        for c in range(C):
            for i in range(h):
                for j in range(w):
                    out[b, c, i, j] = sum(float(f[b, c, i * kh + u, j * kw + v]) for u in range(kh)
                                          for v in range(kw)) / (kh * kw)
    return out


def pool_pair(fs, ft):
    if fs.shape[2] > ft.shape[2]:
        fs = avg_pool(fs, ft.shape[2:])
    elif fs.shape[2] < ft.shape[2]:
        ft = avg_pool(ft, fs.shape[2:])
    return fs, ft


def ref_attention(f, p):
    B_, C, H, W = f.shape
    maps = []
    for b in range(B_):
        a = [sum(float(f[b, c, h, w]) ** p for c in range(C)) / C for h in range(H) for w in range(W)]
        maps.append(l2_normalize(a))
    return maps


def ref_at(fs, ft, p=2):
    fs, ft = pool_pair(fs, ft)
    qs, qt = ref_attention(fs, p), ref_attention(ft, p)
    n = len(qs) * len(qs[0])
    return sum((x - y) ** 2 for a, c in zip(qs, qt) for x, y in zip(a, c)) / n


def ref_gram_rows(f):
    q = [[float(x) for x in row] for row in f.reshape(f.shape[0], -1)]
    G = [[sum(a * b for a, b in zip(qi, qj)) for qj in q] for qi in q]
    return [l2_normalize(r) for r in G]


def ref_sp(fs, ft):
    gs, gt = ref_gram_rows(fs), ref_gram_rows(ft)
    n = len(gs)
    return sum((gt[i][j] - gs[i][j]) ** 2 for i in range(n) for j in range(n)) / n ** 2


def ref_cc_taylor(es, et, gamma, P):
    def corr(e):
        e = [l2_normalize([float(x) for x in row]) for row in e]
        out = []
        for a in e:
            row = []
            for b in e:
                c = sum(x * y for x, y in zip(a, b))
                row.append(sum(math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p) * c ** p
                               for p in range(P + 1)))
            out.append(row)
        return out
    cs, ct = corr(es), corr(et)
    n = len(cs)
    return sum((cs[i][j] - ct[i][j]) ** 2 for i in range(n) for j in range(n)) / n ** 2


def ref_cc_repdistiller(es, et):
    d = [[abs(float(a) - float(b)) for a, b in zip(rs, rt)] for rs, rt in zip(es, et)]
    return sum(sum(x * y for x, y in zip(d[i], d[i + 1])) for i in range(len(d) - 1)) / (len(d) - 1)


def huber(x):
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def ref_rkd(fs, ft, w_d=25, w_a=50):
    def rows(f):
        return [[float(x) for x in r] for r in f.reshape(f.shape[0], -1)]

    def dist(e):
        n = len(e)
        d = [[math.sqrt(sum((a - b) ** 2 for a, b in zip(e[i], e[j]))) if i != j else 0.0 for j in range(n)]
             for i in range(n)]
        pos = [x for r in d for x in r if x > 0]
        mu = sum(pos) / len(pos)
        return [x / mu for r in d for x in r]

    def angles(e):
        n = len(e)
        out = []
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    u = l2_normalize([a - b for a, b in zip(e[j], e[i])]) if i != j else [0.0] * len(e[0])
                    v = l2_normalize([a - b for a, b in zip(e[k], e[i])]) if i != k else [0.0] * len(e[0])
                    out.append(sum(a * b for a, b in zip(u, v)))
        return out
    s, t = rows(fs), rows(ft)
    ds, dt, as_, at_ = dist(s), dist(t), angles(s), angles(t)
    loss_d = sum(huber(a - b) for a, b in zip(ds, dt)) / len(ds)
    loss_a = sum(huber(a - b) for a, b in zip(as_, at_)) / len(as_)
    return w_d * loss_d + w_a * loss_a


def ref_pkt(fs, ft, eps=1e-7):
    def cond(f):
        rows = [[float(x) for x in r] for r in f.reshape(f.shape[0], -1)]
        rows = [[x / (math.sqrt(sum(y * y for y in r)) + eps) for x in r] for r in rows]
        K = [[(sum(a * b for a, b in zip(ri, rj)) + 1) / 2 for rj in rows] for ri in rows]
        return [[k / sum(r) for k in r] for r in K]
    ps, pt = cond(fs), cond(ft)
    n = len(ps)
    return sum(pt[i][j] * math.log((pt[i][j] + eps) / (ps[i][j] + eps)) for i in range(n) for j in range(n)) / n ** 2


def ref_ab(gs, gt, margin=1.0):
    n, bsz = len(gs), gs[0].shape[0]
    total = 0.0
    for layer, (s, t) in enumerate(zip(gs, gt)):
        acc = 0.0
        for x, y in zip(s.flatten().tolist(), t.flatten().tolist()):
            if x > -margin and y <= 0:
                acc += (x + margin) ** 2
            if x <= margin and y > 0:
                acc += (x - margin) ** 2
        total += 2.0 ** (layer - n + 1) * acc / bsz * 3 / 1000
    return total


def ref_ft(zs, zt):
    zs, zt = pool_pair(zs, zt)
    a, b = ref_attention(zs, 2), ref_attention(zt, 2)        # the official factor(): same map as AT
    n = len(a) * len(a[0])
    return sum(abs(x - y) for r, q in zip(a, b) for x, y in zip(r, q)) / n


def ref_fsp(gs, gt):
    def mats(g):
        out = []
        for bot, top in zip(g[:-1], g[1:]):
            bot, top = pool_pair(bot, top)
            Bn, Cb, H, W = bot.shape
            Ct = top.shape[1]
            G = [[[sum(float(top[b, j, h, w]) * float(bot[b, i, h, w]) for h in range(H) for w in range(W)) / (H * W)
                   for i in range(Cb)] for j in range(Ct)] for b in range(Bn)]
            out.append(G)
        return out
    total = 0.0
    for s, t in zip(mats(gs), mats(gt)):
        flat_s = [x for b in s for r in b for x in r]
        flat_t = [x for b in t for r in b for x in r]
        total += sum((x - y) ** 2 for x, y in zip(flat_s, flat_t)) / len(flat_s)
    return total


def ref_nst(fs, ft):
    fs, ft = pool_pair(fs, ft)

    def chans(f, b):
        return [l2_normalize(f[b, c].flatten().tolist()) for c in range(f.shape[1])]

    def mmd_term(x_of, y_of):
        vals = []
        for b in range(fs.shape[0]):
            X, Y = x_of(b), y_of(b)
            vals += [sum(u * v for u, v in zip(x, y)) ** 2 for x in X for y in Y]
        return sum(vals) / len(vals)
    s = lambda b: chans(fs, b)   # noqa: E731
    t = lambda b: chans(ft, b)   # noqa: E731
    return mmd_term(t, t) + mmd_term(s, s) - 2 * mmd_term(s, t)


def ref_vid(mu, t, var):
    total, n = 0.0, 0
    for b in range(mu.shape[0]):
        for c in range(mu.shape[1]):
            v = float(var[c])
            for x, y in zip(mu[b, c].flatten().tolist(), t[b, c].flatten().tolist()):
                total += 0.5 * ((x - y) ** 2 / v + math.log(v))
                n += 1
    return total / n


# --------------------------------------------------------------------------------------------
# each equation against its loop
# --------------------------------------------------------------------------------------------

def test_kd_matches_the_loop_and_its_closed_forms():
    zs, zt = rand((3, 7), 1, 2.0), rand((3, 7), 2, 2.0)
    for T in (1.0, 4.0):
        assert kd_loss(zs, zt, T).item() == pytest.approx(ref_kd(zs, zt, T), rel=1e-10)
    assert kd_loss(zs, zs, 4.0).item() == pytest.approx(0.0, abs=1e-12)         # identical logits
    # T^2 scaling: logits scaled by T at temperature T give T^2 times the T = 1 loss
    assert kd_loss(zs * 4, zt * 4, 4.0).item() == pytest.approx(16 * kd_loss(zs, zt, 1.0).item(), rel=1e-10)
    assert kd_loss(zs + 5.0, zt - 3.0, 4.0).item() == pytest.approx(kd_loss(zs, zt, 4.0).item(), rel=1e-10)
    d = build("kd")
    assert d(None, None, zs, zt).item() == pytest.approx(ref_kd(zs, zt, 4.0), rel=1e-10)


def test_fitnet_hint_and_its_regressors():
    fs, ft = rand((2, 3, 4, 4), 3), rand((2, 3, 4, 4), 4)
    mse = sum((float(a) - float(b)) ** 2 for a, b in zip(fs.flatten(), ft.flatten())) / fs.numel()
    assert hint_loss(fs, ft).item() == pytest.approx(mse, rel=1e-12)
    # the official ConvReg: shapes for H_s = H_t, 2 H_t, H_t / 2; conv -> BN (batch stats) -> ReLU
    for s, t in [((2, 5, 8, 8), (2, 7, 8, 8)), ((2, 5, 8, 8), (2, 7, 4, 4)), ((2, 5, 4, 4), (2, 7, 8, 8)),
                 ((2, 5, 8, 8), (2, 7, 6, 6))]:
        reg = ConvReg(s, t).double()
        x = rand(s, 5)
        y = reg(x)
        assert y.shape == t and (y >= 0).all()
        conv = reg.conv(x)
        expected = F.relu((conv - conv.mean((0, 2, 3), keepdim=True))
                          / torch.sqrt(conv.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5))
        assert torch.allclose(y, expected, atol=1e-10)
    d = build("fitnet")
    fs, ft = feats(RESNET8X4, 1), feats(RESNET32X4, 2)
    assert d.regressor.conv.kernel_size == (1, 1)                 # 16x16 -> 16x16: a 1x1 conv
    expected = F.mse_loss(d.regressor(fs[2]), ft[2]).item()
    assert d(fs, ft, None, None).item() == pytest.approx(expected, rel=1e-12)


def test_at_matches_the_loop_with_and_without_pooling():
    fs, ft = rand((2, 3, 4, 4), 6), rand((2, 5, 4, 4), 7)
    assert at_loss(fs, ft).item() == pytest.approx(ref_at(fs, ft), rel=1e-10)
    big = rand((2, 3, 8, 8), 8)                                       # pooled to 4x4 first
    assert at_loss(big, ft).item() == pytest.approx(ref_at(big, ft), rel=1e-10)
    assert at_loss(ft, big).item() == pytest.approx(ref_at(ft, big), rel=1e-10)
    assert at_loss(fs, fs).item() == 0.0
    assert at_loss(fs, 3 * fs).item() == pytest.approx(0.0, abs=1e-15)   # attention maps are normalised


def test_sp_matches_the_loop():
    fs, ft = rand((4, 3, 2, 2), 9), rand((4, 6, 2, 2), 10)
    assert sp_loss(fs, ft).item() == pytest.approx(ref_sp(fs, ft), rel=1e-10)
    assert sp_loss(fs, 2 * fs).item() == pytest.approx(0.0, abs=1e-15)


def test_cc_both_forms_match_their_loops():
    es, et = rand((5, 6), 11), rand((5, 6), 12)
    assert cc_loss(es, et, "taylor", 0.4, 2).item() == pytest.approx(ref_cc_taylor(es, et, 0.4, 2), rel=1e-10)
    assert cc_loss(es, et, "repdistiller").item() == pytest.approx(ref_cc_repdistiller(es, et), rel=1e-10)
    assert cc_loss(es, es, "taylor").item() == 0.0 and cc_loss(es, es, "repdistiller").item() == 0.0
    # a high-order expansion is the Gaussian RBF exp(-gamma ||f_i - f_j||^2) of normalised features
    f = F.normalize(es, dim=1)
    rbf = torch.exp(-0.4 * torch.cdist(f, f) ** 2)
    zero = torch.zeros_like(es) + F.normalize(torch.ones(1, 6, dtype=torch.float64), dim=1)   # all one point
    expected = F.mse_loss(rbf, torch.ones(5, 5, dtype=torch.float64)).item()
    assert cc_loss(es, zero, "taylor", 0.4, 25).item() == pytest.approx(expected, rel=1e-8)
    d = build("cc")
    fs, ft = feats(RESNET8X4, 3), feats(RESNET32X4, 4)
    e_s, e_t = d.embed_s(fs[-1]), d.embed_t(ft[-1])
    assert e_s.shape == (B, 128)
    assert d(fs, ft).item() == pytest.approx(ref_cc_repdistiller(e_s.detach(), e_t.detach()), rel=1e-10)
    d = build("cc", form="taylor")
    assert d(fs, ft).item() == pytest.approx(ref_cc_taylor(d.embed_s(fs[-1]).detach(),
                                                           d.embed_t(ft[-1]).detach(), 0.4, 2), rel=1e-10)


def test_vid_regressors_variance_and_nll():
    d = build("vid", WRN_40_1, WRN_40_2)
    assert len(d.regressors) == 3
    for r, (s, t) in zip(d.regressors, [(16, 32), (32, 64), (64, 128)]):
        convs = [m for m in r.regressor if isinstance(m, torch.nn.Conv2d)]
        assert [(c.in_channels, c.out_channels) for c in convs] == [(s, t), (t, t), (t, t)]
        assert all(c.kernel_size == (1, 1) and c.bias is None for c in convs)
        assert torch.allclose(r.pred_var(), torch.full((t,), 5.0, dtype=torch.float64))   # init_pred_var
    fs, ft = feats(WRN_40_1, 5), feats(WRN_40_2, 6)
    small = [f[:2, :, :4, :4] for f in fs[1:-1]], [f[:2, :, :4, :4] for f in ft[1:-1]]
    expected = sum(ref_vid(r.regressor(s).detach(), t, r.pred_var().detach())
                   for r, s, t in zip(d.regressors, *small))
    assert sum(r(s, t) for r, s, t in zip(d.regressors, *small)).item() == pytest.approx(expected, rel=1e-10)
    expected = sum(ref_vid(r.regressor(s).detach(), t, r.pred_var().detach())
                   for r, s, t in zip(d.regressors, fs[1:-1], ft[1:-1]))
    assert d(fs, ft).item() == pytest.approx(expected, rel=1e-10)


def test_rkd_matches_the_loop():
    fs, ft = rand((5, 4), 13), rand((5, 3), 14)
    assert rkd_loss(fs, ft).item() == pytest.approx(ref_rkd(fs, ft), rel=1e-9)
    # distances and angles are invariant to scale and translation of the embedding
    assert rkd_loss(3 * fs + 1.0, fs).item() == pytest.approx(0.0, abs=1e-10)


def test_pkt_matches_the_loop():
    fs, ft = rand((5, 6), 15), rand((5, 4), 16)
    assert pkt_loss(fs, ft).item() == pytest.approx(ref_pkt(fs, ft), rel=1e-10)
    assert pkt_loss(fs, fs).item() == pytest.approx(0.0, abs=1e-15)


def test_ab_matches_the_loop():
    gs = [rand((2, 3, 4, 4), 17), rand((2, 4, 2, 2), 18)]
    gt = [rand((2, 3, 4, 4), 19), rand((2, 4, 2, 2), 20)]
    assert ab_loss(gs, gt).item() == pytest.approx(ref_ab(gs, gt), rel=1e-10)
    # beyond the margin on the teacher's side of the boundary: no loss
    assert ab_loss([torch.sign(gt[0]) * 2], [gt[0]]).item() == 0.0


def test_ft_matches_the_loop():
    zs, zt = rand((2, 3, 4, 4), 21), rand((2, 5, 2, 2), 22)
    assert ft_loss(zs, zt).item() == pytest.approx(ref_ft(zs, zt), rel=1e-10)
    d = build("ft", WRN_40_1, WRN_40_2)
    fs, ft = feats(WRN_40_1, 7), feats(WRN_40_2, 8)
    factor_t, reconstruction = d.paraphraser(ft[-2])
    assert factor_t.shape == (B, 64, 8, 8) and reconstruction.shape == ft[-2].shape      # rate 0.5 of 128
    factor_s = d.translator(fs[-2])
    assert factor_s.shape == (B, 64, 8, 8)
    assert d(fs, ft).item() == pytest.approx(ref_ft(factor_s.detach(), factor_t.detach()), rel=1e-10)
    assert d.init_loss(fs, ft).item() == pytest.approx(F.mse_loss(reconstruction, ft[-2]).item(), rel=1e-12)


def test_fsp_matches_the_loop():
    gs = [rand((2, 2, 4, 4), 23), rand((2, 3, 4, 4), 24), rand((2, 2, 2, 2), 25)]
    gt = [rand((2, 2, 4, 4), 26), rand((2, 3, 4, 4), 27), rand((2, 2, 2, 2), 28)]
    assert fsp_loss(gs, gt).item() == pytest.approx(ref_fsp(gs, gt), rel=1e-10)
    assert fsp_loss(gs, gs).item() == 0.0


def test_nst_matches_the_loop():
    fs, ft = rand((2, 3, 4, 4), 29), rand((2, 5, 2, 2), 30)
    assert nst_loss(fs, ft).item() == pytest.approx(ref_nst(fs, ft), rel=1e-10)
    assert nst_loss(fs, fs).item() == pytest.approx(0.0, abs=1e-14)
    assert nst_loss(fs, 5 * fs).item() == pytest.approx(0.0, abs=1e-14)


def test_distillers_sum_their_layers_as_the_loops():
    fs, ft = feats(WRN_40_1, 9), feats(WRN_40_2, 10)
    pick = lambda f: [x[:2, :, :4, :4] for x in f]                  # noqa: E731  small maps for the loops
    small_s = pick(fs[:-1]) + [fs[-1][:2]]
    small_t = pick(ft[:-1]) + [ft[-1][:2]]
    shapes_s, shapes_t = [tuple(x.shape) for x in small_s], [tuple(x.shape) for x in small_t]
    at = build("at", shapes_s, shapes_t)
    assert at(small_s, small_t).item() == pytest.approx(
        sum(ref_at(s, t) for s, t in zip(small_s[1:-1], small_t[1:-1])), rel=1e-10)
    nst = build("nst", shapes_s, shapes_t)
    assert nst(small_s, small_t).item() == pytest.approx(
        sum(ref_nst(s, t) for s, t in zip(small_s[1:-1], small_t[1:-1])), rel=1e-10)
    sp = build("sp", shapes_s, shapes_t)
    assert sp(small_s, small_t).item() == pytest.approx(ref_sp(small_s[-2], small_t[-2]), rel=1e-10)
    for name, ref in (("rkd", ref_rkd), ("pkt", ref_pkt)):
        d = build(name, WRN_40_1, WRN_40_2)
        assert d(fs, ft).item() == pytest.approx(ref(fs[-1], ft[-1]), rel=1e-9)
    ab = build("ab", shapes_s, shapes_t)
    connected = ab.connector(small_s[1:-1])
    assert ab.init_loss(small_s, small_t).item() == pytest.approx(
        ref_ab([c.detach() for c in connected], small_t[1:-1]), rel=1e-10)
    same = [x[:, :2] if x.ndim == 4 else x for x in small_s]          # FSP needs equal channels
    same_t = [x[:, :2] if x.ndim == 4 else x for x in small_t]
    fsp = build("fsp", [tuple(x.shape) for x in same], [tuple(x.shape) for x in same_t])
    assert fsp.init_loss(same, same_t).item() == pytest.approx(ref_fsp(same[:-1], same_t[:-1]), rel=1e-10)


# --------------------------------------------------------------------------------------------
# the interface: official layers, weights, trainable modules, errors
# --------------------------------------------------------------------------------------------

# the features train_student.py / helper/loops.py (main stage) or helper/pretrain.py (init) read
READS = {"fitnet": {2}, "at": {1, 2, 3}, "sp": {3}, "cc": {4}, "vid": {1, 2, 3}, "rkd": {4}, "pkt": {4},
         "nst": {1, 2, 3}, "crd": {4}, "ft": {3}}
INIT_READS = {"ab": ({1, 2, 3}, {1, 2, 3}), "ft": (set(), {3}), "fsp": ({0, 1, 2, 3}, {0, 1, 2, 3})}


def evaluate(d, fs, ft, stage):
    d = copy.deepcopy(d)                                              # CRD's banks move on each call
    if stage == "init":
        return d.init_loss(fs, ft).item()
    idx = torch.arange(B)
    sample_idx = torch.stack([torch.arange(7) + i for i in range(B)])
    return d(fs, ft, None, None, index=idx, sample_idx=sample_idx).item()


@pytest.mark.parametrize("pair", ["resnet8x4<-resnet32x4", "wrn_40_1<-wrn_40_2"])
@pytest.mark.parametrize("name,stage", [(n, "main") for n in READS] + [(n, "init") for n in INIT_READS])
def test_each_distiller_reads_the_official_layers(name, stage, pair):
    s_shapes, t_shapes = (RESNET8X4, RESNET32X4) if pair.startswith("resnet") else (WRN_40_1, WRN_40_2)
    if name == "fsp" and pair.startswith("wrn"):
        s_shapes = t_shapes = WRN_16_2                                # FSP needs equal channels
    d = build(name, s_shapes, t_shapes)
    fs, ft = feats(s_shapes, 11), feats(t_shapes, 12)
    base = evaluate(d, fs, ft, stage)
    reads_s, reads_t = INIT_READS[name] if stage == "init" else (READS[name], READS[name])
    for who, reads, lst in (("student", reads_s, fs), ("teacher", reads_t, ft)):
        for i in range(len(lst)):
            changed = list(lst)
            changed[i] = lst[i] + rand(lst[i].shape, 99 + i)
            args = (changed, ft) if who == "student" else (fs, changed)
            moved = evaluate(d, *args, stage) != pytest.approx(base, rel=1e-12, abs=0)
            assert moved == (i in reads), f"{name} ({stage}) {who} feat[{i}]: read {moved}, official {i in reads}"


def test_ab_and_fsp_do_not_distil_in_the_main_stage_unless_asked():
    fs, ft = feats(RESNET8X4, 13), feats(RESNET32X4, 14)
    for name in ("ab", "fsp"):
        assert build(name)(fs, ft).item() == 0.0
        d = build(name, distill_in_main=True)
        assert d(fs, ft).item() == pytest.approx(d.init_loss(fs, ft).item(), rel=1e-12)


def test_registry_flags_and_official_weights():
    assert set(DISTILLERS) == set(OFFICIAL_BETA)
    for name, beta in OFFICIAL_BETA.items():
        d = build(name)
        assert isinstance(d, Distiller) and d.name == name and d.beta == beta
        assert d.gamma == (0.1 if name == "kd" else 1.0) and d.alpha == 0.0
        assert d.needs_preact == (name == "ab")
        assert d.needs_init == (name in ("ab", "ft", "fsp"))
    assert build("hint").name == "fitnet" and build("abound").name == "ab" and build("factor").name == "ft"
    assert build("crd", alpha=1.0).alpha == 1.0                       # CRD + KD
    assert build("at", beta=5.0).beta == 5.0
    assert build("crd").crd.K == 6 and build_distiller("crd", RESNET8X4, RESNET32X4, n_data=50000).crd.K == 16384


def test_objective_is_the_official_weighted_sum():
    zs, zt = rand((B, 10), 31), rand((B, 10), 32)
    ce, lkd = torch.tensor(2.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    kd = build("kd")
    assert kd.objective(ce, kd(None, None, zs, zt)).item() == pytest.approx(0.1 * 2.0 + 0.9 * ref_kd(zs, zt, 4))
    crd_kd = build("crd", alpha=1.0)
    expected = 2.0 + 1.0 * ref_kd(zs, zt, 4) + 0.8 * 0.5
    assert crd_kd.objective(ce, lkd, zs, zt).item() == pytest.approx(expected, rel=1e-10)
    assert build("at").objective(ce, lkd).item() == pytest.approx(2.0 + 1000 * 0.5)


TRAINABLE = {"fitnet": ("main", 1), "cc": ("main", 2), "vid": ("main", 1), "crd": ("main", 2),
             "ft": ("main", 1), "ab": ("init", 1)}


@pytest.mark.parametrize("name", sorted(TRAINABLE))
def test_gradients_reach_the_trainable_modules(name):
    stage, n = TRAINABLE[name]
    d = build(name, WRN_40_1, WRN_40_2)                              # widths differ: real adapters
    fs = [f.requires_grad_() for f in feats(WRN_40_1, 15)]
    ft = feats(WRN_40_2, 16)
    modules = d.trainable_modules(stage)
    assert len(modules) == n
    loss = d.init_loss(fs, ft) if stage == "init" else d(fs, ft, None, None, index=torch.arange(B))
    loss.backward()
    params = [p for m in modules for p in m.parameters()]
    assert params and all(p.grad is not None for p in params)
    assert all(p.grad.abs().sum() > 0 for p in params if p.ndim > 1)   # every weight moves
    assert any(f.grad is not None and f.grad.abs().sum() > 0 for f in fs)


def test_trainable_modules_per_stage():
    assert build("ab").trainable_modules("main") == []               # connectors frozen after init
    ab = build("ab", WRN_40_1, WRN_40_2)
    assert ab.trainable_modules("init") == [ab.connector]
    assert ab.init_trains_student_features and build("fsp").init_trains_student_features
    ft = build("ft")
    assert ft.trainable_modules("init") == [ft.paraphraser] and ft.trainable_modules() == [ft.translator]
    for name in ("kd", "at", "sp", "rkd", "pkt", "nst", "fsp"):
        assert build(name).trainable_modules() == []
    with pytest.raises(ValueError, match="unknown stage"):
        ft.trainable_modules("warmup")
    # AB's connectors are the identity where the widths agree, ConvReg (no ReLU) elsewhere
    assert all(isinstance(c, torch.nn.Identity) for c in build("ab").connector.connectors)
    assert all(isinstance(c, ConvReg) and not c.use_relu for c in ab.connector.connectors)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="unknown distiller 'crdd'"):
        build_distiller("crdd", RESNET8X4, RESNET32X4)
    with pytest.raises(TypeError, match="unknown option.*tau.*for distiller 'at'"):
        build_distiller("at", RESNET8X4, RESNET32X4, tau=0.1)
    with pytest.raises(ValueError, match="CRD needs n_data"):
        build_distiller("crd", RESNET8X4, RESNET32X4)
    with pytest.raises(ValueError, match="FSP needs equal channels"):
        build_distiller("fsp", WRN_40_1, WRN_40_2)
    with pytest.raises(ValueError, match="return 5 and 4 features"):
        build_distiller("at", RESNET8X4, RESNET32X4[1:])
    with pytest.raises(ValueError, match="hint_layer must index"):
        build_distiller("fitnet", RESNET8X4, RESNET32X4, hint_layer=7)
    with pytest.raises(ValueError, match="must be \\(B, C, H, W\\) maps"):
        build_distiller("fitnet", RESNET8X4, RESNET32X4, hint_layer=4)
    with pytest.raises(ValueError, match="no regressor maps a student map of 8x8"):
        ConvReg((B, 4, 8, 8), (B, 4, 32, 32))
    with pytest.raises(ValueError, match="feat_s_shapes is required"):
        build_distiller("at", None, RESNET32X4)
    d = build("at")
    fs, ft = feats(RESNET8X4, 17), feats(RESNET32X4, 18)
    with pytest.raises(ValueError, match=r"student feature 2 has shape \(4, 128, 8, 8\)"):
        d([fs[0], fs[1], fs[2][:, :, :8, :8], fs[3], fs[4]], ft)
    with pytest.raises(ValueError, match="teacher returned 4 features"):
        d(fs, ft[:4])
    with pytest.raises(ValueError, match="different batch sizes"):
        d(fs, [f[:2] for f in ft])
    with pytest.raises(TypeError, match="feat_s must be the list of tensors"):
        d(fs[0], ft)
    with pytest.raises(ValueError, match="KD distils the logits"):
        build("kd")(fs, ft)
    with pytest.raises(ValueError, match=r"logits must both be \(B, C\)"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="CRD needs index"):
        build("crd")(fs, ft)
    with pytest.raises(ValueError, match="has no init stage"):
        d.init_loss(fs, ft)
    with pytest.raises(ValueError, match="unknown CC form"):
        build("cc", form="rbf")
    with pytest.raises(ValueError, match="needs B >= 2"):
        cc_loss(torch.zeros(1, 3), torch.zeros(1, 3))
