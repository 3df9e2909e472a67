"""Tests for reprobook.train.meta on synthetic linear tasks y = A_task x + noise."""
import numpy as np
import pytest
import torch

from reprobook.models.neural_process import MLPBaseline, NeuralProcess
from reprobook.train.meta import (TaskSet, evaluate, fit_neural_process, fit_pooled, maml_adapt,
                                  maml_fit, sample_context, split_context)

N_PUSH = 40


def make_tasks(n_tasks, seed, n=N_PUSH, noise=0.05):
    rng = np.random.default_rng(seed)
    out = {}
    for t in range(n_tasks):
        A = rng.normal(size=(3, 3))
        X = rng.normal(size=(n, 3)).astype(np.float32)
        y = (X @ A.T + noise * rng.normal(size=(n, 3))).astype(np.float32)
        out[f"obj{seed}_{t}"] = (X, y)
    return TaskSet.from_dict(out)


@pytest.fixture(scope="module")
def train_tasks():
    return make_tasks(16, seed=0)


@pytest.fixture(scope="module")
def test_tasks():
    return make_tasks(8, seed=1)


def official_collate(X, y, shot, shift):
    """Hand-written copy of preprocess.omnipush_collate_fn for one task with a given shift."""
    return (X[shift:shift + shot], y[shift:shift + shot],
            torch.cat((X[shift + shot:], X[:shift]), dim=0), torch.cat((y[shift + shot:], y[:shift]), dim=0))


def early_late(hist, key="loss", w=10):
    v = [h[key] for h in hist]
    return float(np.mean(v[:w])), float(np.mean(v[-w:]))


# ------------------------------------------------------------------ TaskSet
def test_taskset_from_dict(train_tasks):
    assert train_tasks.X.shape == (16, N_PUSH, 3) and train_tasks.y.shape == (16, N_PUSH, 3)
    assert train_tasks.ids[0] == "obj0_0" and len(train_tasks) == 16 and train_tasks.n == N_PUSH
    ts = TaskSet.from_dict({"a": (torch.zeros(5, 3), torch.ones(5, 3))})
    assert ts.X.dtype == torch.float32 and ts.ids == ["a"]
    sub = train_tasks.subset([2, 5])
    assert sub.ids == ["obj0_2", "obj0_5"] and torch.equal(sub.X[1], train_tasks.X[5])


def test_taskset_errors():
    with pytest.raises(ValueError, match="same number of pushes"):
        TaskSet.from_dict({"a": (np.zeros((5, 3)), np.zeros((5, 3))), "b": (np.zeros((6, 3)), np.zeros((6, 3)))})
    with pytest.raises(ValueError, match="2-d"):
        TaskSet.from_dict({"a": (np.zeros((5, 3, 1)), np.zeros((5, 3)))})
    with pytest.raises(ValueError, match="pushes but y has"):
        TaskSet.from_dict({"a": (np.zeros((5, 3)), np.zeros((4, 3)))})
    with pytest.raises(ValueError, match="at least one task"):
        TaskSet.from_dict({})


# ------------------------------------------------------------------ splits
def test_split_context_matches_official_collate(train_tasks):
    X, y = train_tasks.X[:5], train_tasks.y[:5]
    k = 7
    shifts = torch.tensor([0, 3, 10, 32, 33])
    cx, cy, tx, ty = split_context(X, y, k, shifts)
    assert cx.shape == (5, k, 3) and tx.shape == (5, N_PUSH - k, 3)
    for b in range(5):
        ref = official_collate(X[b], y[b], k, int(shifts[b]))
        for got, want in zip((cx[b], cy[b], tx[b], ty[b]), ref):
            assert torch.equal(got, want)
    # int shift 0 = the official test split
    cx0, _, tx0, _ = split_context(X, y, k, 0)
    assert torch.equal(cx0, X[:, :k]) and torch.equal(tx0, X[:, k:])


def test_sample_context_seeded_and_varied(train_tasks):
    X, y = train_tasks.X, train_tasks.y
    a = sample_context(X, y, 5, torch.Generator().manual_seed(3))
    b = sample_context(X, y, 5, torch.Generator().manual_seed(3))
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    # recover the shift of each task: position of its first context push
    starts = set()
    g = torch.Generator().manual_seed(4)
    for _ in range(5):
        cx, _, tx, _ = sample_context(X, y, 5, g)
        for t in range(len(X)):
            s = int((X[t] == cx[t, 0]).all(-1).nonzero()[0])
            assert 0 <= s < N_PUSH - 5
            assert torch.equal(torch.cat([cx[t], tx[t]]), torch.roll(X[t], -s, dims=0))
            starts.add(s)
    assert len(starts) > 10


def test_split_errors(train_tasks):
    X, y = train_tasks.X, train_tasks.y
    with pytest.raises(ValueError, match="1 <= k < n"):
        split_context(X, y, N_PUSH, 0)
    with pytest.raises(ValueError, match="1 <= k < n"):
        split_context(X, y, 0, 0)
    with pytest.raises(ValueError, match="shift must lie"):
        split_context(X, y, 10, 31)
    with pytest.raises(ValueError, match="agree on"):
        split_context(X, y[:, :-1], 5, 0)
    with pytest.raises(ValueError, match="3-d"):
        sample_context(X[0], y[0], 5)


# ------------------------------------------------------------------ training
def test_fit_pooled_lowers_loss_and_ignores_context(train_tasks, test_tasks):
    torch.manual_seed(0)
    model = MLPBaseline(hidden=32, layers=2)
    hist = fit_pooled(model, train_tasks, steps=150, batch=256, generator=torch.Generator().manual_seed(0))
    early, late = early_late(hist)
    assert late < early - 0.1
    r1 = evaluate(model, test_tasks, 5, method="pooled")
    r2 = evaluate(model, test_tasks, 5, method="pooled")
    assert r1 == r2 and np.isfinite(r1["rmse"]) and np.isfinite(r1["log_likelihood"])
    # same prediction whatever the context: change the context pushes, targets unchanged
    alt = TaskSet(test_tasks.X.clone(), test_tasks.y.clone())
    alt.y[:, :5] = 100.0
    assert evaluate(model, alt, 5, method="pooled") == r1


def test_np_training_and_context_helps(test_tasks):
    # With only 16 training tasks a tiny NP memorises their 16 matrices and its held-out
    # likelihood degrades, so this test meta-trains on 128 tasks (still n = 40 pushes each).
    many = make_tasks(128, seed=2)
    torch.manual_seed(0)
    model = NeuralProcess(hidden=32, latent=False)
    untrained = {k: evaluate(model, test_tasks, k, "np") for k in (2, 20)}
    hist = fit_neural_process(model, many, k=10, steps=400, lr=3e-3, batch_tasks=16,
                              generator=torch.Generator().manual_seed(0), progress=False)
    early, late = early_late(hist)
    assert late < early - 0.2
    assert set(hist[0]) == {"step", "loss", "nll", "kl", "lr"}
    r2, r20 = evaluate(model, test_tasks, 2, "np"), evaluate(model, test_tasks, 20, "np")
    assert r20["log_likelihood"] > untrained[20]["log_likelihood"] + 2.0
    assert r20["log_likelihood"] > r2["log_likelihood"]
    assert r20["rmse"] < r2["rmse"]


def test_latent_np_fits(train_tasks, test_tasks):
    torch.manual_seed(1)
    model = NeuralProcess(hidden=16)
    hist = fit_neural_process(model, train_tasks, k=10, steps=60, lr=3e-3, batch_tasks=8,
                              generator=torch.Generator().manual_seed(1), progress=False, targets="rest")
    early, late = early_late(hist)
    assert late < early
    r = evaluate(model, test_tasks, 10, "np")
    assert np.isfinite(r["rmse"]) and np.isfinite(r["log_likelihood"]) and r["n_tasks"] == 8


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_fit_and_adapt(train_tasks, test_tasks, first_order):
    torch.manual_seed(0)
    model = MLPBaseline(hidden=32, layers=2)
    hist = maml_fit(model, train_tasks, k=10, steps=60, inner_lr=0.05, inner_steps=1, outer_lr=3e-3,
                    batch_tasks=8, generator=torch.Generator().manual_seed(0), first_order=first_order)
    early, late = early_late(hist)
    assert late < early
    # adaptation lowers the support loss of a held-out task
    cx, cy = test_tasks.X[0, :10], test_tasks.y[0, :10]
    before = model.gaussian_nll(cx, cy).item()
    adapted = maml_adapt(model, cx, cy, inner_lr=0.05, inner_steps=3, first_order=first_order)
    m, s = torch.func.functional_call(model, adapted, (cx,))
    after = -torch.distributions.Normal(m, s).log_prob(cy).mean().item()
    assert after < before
    r = evaluate(model, test_tasks, 10, "maml", inner_lr=0.05, inner_steps=1)
    assert np.isfinite(r["rmse"]) and np.isfinite(r["log_likelihood"])
    # model parameters untouched by evaluation / adaptation
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_maml_second_order_graph():
    torch.manual_seed(0)
    model = MLPBaseline(hidden=8, layers=1)
    cx, cy = torch.randn(6, 3), torch.randn(6, 3)
    ad2 = maml_adapt(model, cx, cy, 0.1, 1, first_order=False)
    ad1 = maml_adapt(model, cx, cy, 0.1, 1, first_order=True)
    w = "net.0.weight"
    for name, ad in (("so", ad2), ("fo", ad1)):
        assert ad[w].requires_grad, name
    g2 = torch.autograd.grad(ad2[w].sum(), model.net[0].weight)[0]
    g1 = torch.autograd.grad(ad1[w].sum(), model.net[0].weight)[0]
    assert torch.allclose(g1, torch.ones_like(g1))       # first order: identity Jacobian
    assert not torch.allclose(g2, g1)                    # second order: Hessian term present


def test_bad_inputs(train_tasks):
    model = MLPBaseline(hidden=8, layers=1)
    with pytest.raises(ValueError, match="unknown method"):
        evaluate(model, train_tasks, 5, method="bayes")
    with pytest.raises(ValueError, match="1 <= k < n"):
        evaluate(model, train_tasks, N_PUSH, method="pooled")
    with pytest.raises(ValueError, match="1 <= k < n"):
        fit_neural_process(NeuralProcess(hidden=8), train_tasks, k=0, steps=1, progress=False)
    with pytest.raises(ValueError, match="1 <= k < n"):
        maml_fit(model, train_tasks, k=N_PUSH + 1, steps=1)
    with pytest.raises(ValueError, match="targets must be"):
        fit_neural_process(NeuralProcess(hidden=8), train_tasks, k=3, steps=1, progress=False, targets="x")
    with pytest.raises(ValueError, match="\\(k, dx\\)"):
        maml_adapt(model, torch.zeros(2, 5, 3), torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="agree on"):
        TaskSet(torch.zeros(2, 5, 3), torch.zeros(2, 4, 3))


def test_noam_lr_is_the_official_adjust_learning_rate():
    """omnipush_ANP.py: lr = 0.001 * 4000**0.5 * min(step * 4000**-1.5, step**-0.5), step from 1."""
    import math

    from reprobook.train.meta import noam_lr

    def official(step, warmup_step=4000):
        return 0.001 * warmup_step ** 0.5 * min(step * warmup_step ** -1.5, step ** -0.5)

    for step in (1, 2, 100, 3999, 4000, 4001, 20_000):
        assert math.isclose(noam_lr(step), official(step), rel_tol=1e-12)
    assert math.isclose(noam_lr(4000), 1e-3) and noam_lr(1) < 1e-6 and noam_lr(20_000) < noam_lr(4000)
    with pytest.raises(ValueError, match="1-based"):
        noam_lr(0)


def test_fit_neural_process_follows_the_noam_schedule():
    from reprobook.models.neural_process import NeuralProcess
    from reprobook.train.meta import fit_neural_process, noam_lr

    torch.manual_seed(0)
    X = torch.randn(4, 12, 3)
    tasks = TaskSet(X, X.sum(-1, keepdim=True).repeat(1, 1, 3))
    hist = fit_neural_process(NeuralProcess(hidden=8), tasks, 3, 5, batch_tasks=2, progress=False,
                              lr_schedule="noam")
    assert [h["lr"] for h in hist] == [noam_lr(s) for s in range(1, 6)]
    with pytest.raises(ValueError, match="lr_schedule"):
        fit_neural_process(NeuralProcess(hidden=8), tasks, 3, 1, progress=False, lr_schedule="cosine")
