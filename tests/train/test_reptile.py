"""Reptile (Nichol et al. 2018) meta-step and loop, checked against hand-written closed forms."""
import copy
import functools
import math

import pytest
import torch
from torch import nn

from reprobook.train.loop import NonFiniteLossError
from reprobook.train.reptile import reptile_fit, reptile_step


def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def linear(din=3, dout=2, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(din, dout).double()


def data(n=6, din=3, dout=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, din, generator=g, dtype=torch.float64),
            torch.randn(n, dout, generator=g, dtype=torch.float64))


def sgd(lr):
    return lambda p: torch.optim.SGD(p, lr=lr)


def grad_linear(W, b, x, y):
    """Hand-derived gradient of mean((x W^T + b - y)^2) over all n * dout elements."""
    r = x @ W.T + b - y                                   # (n, dout)
    scale = 2.0 / r.numel()
    return scale * r.T @ x, scale * r.sum(0)


def sgd_steps(W, b, batches, steps, lr):
    for s in range(steps):
        gW, gb = grad_linear(W, b, *batches[s % len(batches)])
        W, b = W - lr * gW, b - lr * gb
    return W, b


def params(model):
    return model.weight.detach().clone(), model.bias.detach().clone()


# ------------------------------------------------------------------ closed forms
def test_one_task_one_sgd_step_outer_lr_one_equals_sgd():
    model = linear()
    W0, b0 = params(model)
    x, y = data()
    lr = 0.1
    out = reptile_step(model, [[(x, y)]], inner_steps=1, inner_lr=lr, outer_lr=1.0, loss_fn=mse,
                       optimizer_factory=sgd(lr))
    gW, gb = grad_linear(W0, b0, x, y)
    torch.testing.assert_close(model.weight.detach(), W0 - lr * gW, atol=1e-12, rtol=0)
    torch.testing.assert_close(model.bias.detach(), b0 - lr * gb, atol=1e-12, rtol=0)
    assert out["n_tasks"] == 1 and len(out["inner_losses"]) == 1 and len(out["inner_losses"][0]) == 1
    assert out["inner_losses"][0][0] == pytest.approx(float(((x @ W0.T + b0 - y) ** 2).mean()), abs=1e-12)
    step = torch.cat([(lr * gW).flatten(), (lr * gb)])
    assert out["step_norm"] == pytest.approx(float(step.norm()), rel=1e-10)
    assert out["delta_norm"] == pytest.approx(out["step_norm"], rel=1e-10)


def test_outer_lr_zero_leaves_parameters_unchanged():
    model = linear()
    before = copy.deepcopy(model.state_dict())
    out = reptile_step(model, [[data(seed=1)], [data(seed=2)]], inner_steps=3, inner_lr=0.05, outer_lr=0.0,
                       loss_fn=mse, optimizer_factory=sgd(0.05))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert out["step_norm"] == 0.0 and out["delta_norm"] > 0
    assert all(p.grad is None for p in model.parameters())


def test_two_tasks_update_is_mean_of_task_deltas():
    model = linear()
    W0, b0 = params(model)
    lr, eps, k = 0.07, 0.5, 3
    task_a = [data(seed=10), data(seed=11)]          # two batches, cycled over 3 steps: a0, a1, a0
    task_b = [data(seed=20)]                         # one batch reused
    out = reptile_step(model, [task_a, task_b], inner_steps=k, inner_lr=lr, outer_lr=eps, loss_fn=mse,
                       optimizer_factory=sgd(lr))
    Wa, ba = sgd_steps(W0, b0, task_a, k, lr)
    Wb, bb = sgd_steps(W0, b0, task_b, k, lr)
    W_exp = W0 + eps * ((Wa - W0) + (Wb - W0)) / 2
    b_exp = b0 + eps * ((ba - b0) + (bb - b0)) / 2
    torch.testing.assert_close(model.weight.detach(), W_exp, atol=1e-12, rtol=0)
    torch.testing.assert_close(model.bias.detach(), b_exp, atol=1e-12, rtol=0)
    # inner losses: per task, the loss before each inner step, starting from theta for both tasks
    assert [len(ls) for ls in out["inner_losses"]] == [k, k]
    first_a = float(((task_a[0][0] @ W0.T + b0 - task_a[0][1]) ** 2).mean())
    first_b = float(((task_b[0][0] @ W0.T + b0 - task_b[0][1]) ** 2).mean())
    assert out["inner_losses"][0][0] == pytest.approx(first_a, abs=1e-12)
    assert out["inner_losses"][1][0] == pytest.approx(first_b, abs=1e-12)
    mean_delta = torch.cat([((Wa - W0) + (Wb - W0)).flatten() / 2, ((ba - b0) + (bb - b0)) / 2])
    assert out["delta_norm"] == pytest.approx(float(mean_delta.norm()), rel=1e-10)
    assert out["step_norm"] == pytest.approx(eps * float(mean_delta.norm()), rel=1e-10)


def test_default_adam_receives_inner_lr():
    # Adam's first step moves each parameter by lr * g / (|g| + eps) ~= lr * sign(g)
    model = linear()
    W0, b0 = params(model)
    x, y = data()
    lr = 1e-3
    reptile_step(model, [[(x, y)]], inner_steps=1, inner_lr=lr, outer_lr=1.0, loss_fn=mse)
    gW, gb = grad_linear(W0, b0, x, y)
    torch.testing.assert_close(model.weight.detach(), W0 - lr * gW.sign(), atol=1e-9, rtol=0)
    torch.testing.assert_close(model.bias.detach(), b0 - lr * gb.sign(), atol=1e-9, rtol=0)
    # a partial with an lr argument also gets inner_lr
    model = linear()
    reptile_step(model, [[(x, y)]], 1, lr, 1.0, mse, functools.partial(torch.optim.SGD, momentum=0.0))
    torch.testing.assert_close(model.weight.detach(), W0 - lr * gW, atol=1e-12, rtol=0)


def test_fresh_inner_optimizer_per_task():
    # with momentum, a shared optimizer would carry velocity from task 1 into task 2
    model = linear()
    W0, b0 = params(model)
    lr = 0.1
    t1, t2 = [data(seed=1)], [data(seed=2)]
    reptile_step(model, [t1, t2], 1, lr, 1.0, mse, functools.partial(torch.optim.SGD, momentum=0.9))
    Wa, _ = sgd_steps(W0, b0, t1, 1, lr)            # one momentum-SGD step from a fresh state = plain SGD
    Wb, _ = sgd_steps(W0, b0, t2, 1, lr)
    torch.testing.assert_close(model.weight.detach(), (Wa + Wb) / 2, atol=1e-12, rtol=0)


def test_persistent_optimizer_carries_its_state_across_tasks_and_steps():
    # evf-public: one Adam whose moments survive the reset of the parameters to theta. With
    # momentum SGD (mu) the closed form is: task 1 from theta with v = g1; task 2 from theta with
    # v = mu g1 + g2; the next meta-step's task starts with that velocity again.
    model = linear()
    W0, b0 = params(model)
    lr, mu = 0.1, 0.9
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mu)
    t1, t2 = data(seed=1), data(seed=2)
    reptile_step(model, [[t1], [t2]], 1, lr, 1.0, mse, optimizer=opt)
    g1W, g1b = grad_linear(W0, b0, *t1)
    g2W, g2b = grad_linear(W0, b0, *t2)
    vW, vb = mu * g1W + g2W, mu * g1b + g2b
    W1 = W0 + ((-lr * g1W) + (-lr * vW)) / 2
    b1 = b0 + ((-lr * g1b) + (-lr * vb)) / 2
    torch.testing.assert_close(model.weight.detach(), W1, atol=1e-12, rtol=0)
    torch.testing.assert_close(model.bias.detach(), b1, atol=1e-12, rtol=0)
    reptile_step(model, [[t1]], 1, lr, 1.0, mse, optimizer=opt)          # second meta-step, same optimizer
    g3W, g3b = grad_linear(W1, b1, *t1)
    torch.testing.assert_close(model.weight.detach(), W1 - lr * (mu * vW + g3W), atol=1e-12, rtol=0)
    torch.testing.assert_close(model.bias.detach(), b1 - lr * (mu * vb + g3b), atol=1e-12, rtol=0)
    # an optimizer over other parameters is refused
    with pytest.raises(ValueError, match="exactly the model's trainable parameters"):
        reptile_step(model, [[t1]], 1, lr, 1.0, mse, optimizer=torch.optim.SGD(linear().parameters(), lr=lr))
    with pytest.raises(ValueError, match="torch.optim.Optimizer"):
        reptile_step(model, [[t1]], 1, lr, 1.0, mse, optimizer="adam")


def test_buffers_and_frozen_parameters_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double().train()
    model[0].bias.requires_grad_(False)
    before = copy.deepcopy(model.state_dict())
    out = reptile_step(model, [[data(seed=1)], [data(seed=2)]], 2, 0.1, 1.0, mse, sgd(0.1))
    after = model.state_dict()
    for k in ("1.running_mean", "1.running_var", "1.num_batches_tracked", "0.bias"):
        assert torch.equal(after[k], before[k]), k
    assert not torch.equal(after["0.weight"], before["0.weight"]) and out["step_norm"] > 0


def test_failures_restore_theta():
    model = linear()
    before = copy.deepcopy(model.state_dict())
    calls = []

    def flaky(m, batch):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return mse(m, batch)

    with pytest.raises(RuntimeError, match="boom"):
        reptile_step(model, [[data()], [data(seed=1)]], 2, 0.1, 1.0, flaky, sgd(0.1))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k

    def nan_loss(m, batch):
        return mse(m, batch) * float("nan")

    with pytest.raises(NonFiniteLossError):
        reptile_step(model, [[data()]], 1, 0.1, 1.0, nan_loss, sgd(0.1))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_bad_inputs():
    model = linear()
    task = [[data()]]
    ok = dict(inner_steps=1, inner_lr=0.1, outer_lr=1.0, loss_fn=mse)
    bad_calls = [
        dict(task_batches=[]),
        dict(task_batches=[[]]),
        dict(task_batches="abc"),
        dict(task_batches=[data()[0]]),                        # a tensor is not a list of batches
        dict(inner_steps=0),
        dict(inner_steps=1.5),
        dict(inner_steps=True),
        dict(inner_lr=0.0),
        dict(inner_lr=float("nan")),
        dict(outer_lr=-0.1),
        dict(outer_lr=float("inf")),
        dict(loss_fn=None),
    ]
    for kw in bad_calls:
        args = dict(task_batches=task, **ok)
        args.update(kw)
        with pytest.raises(ValueError):
            reptile_step(model, **args)
    with pytest.raises(ValueError, match="scalar"):
        reptile_step(model, task, 1, 0.1, 1.0, lambda m, b: (m(b[0]) - b[1]) ** 2, sgd(0.1))
    frozen = linear().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        reptile_step(frozen, task, 1, 0.1, 1.0, mse, sgd(0.1))


# ------------------------------------------------------------------ meta-training
def line_task(a, g, n=10):
    x = torch.rand(n, 1, generator=g, dtype=torch.float64) * 4 - 2
    return x, a * x


def make_sampler(g, n_support=10):
    def sample(meta_batch):
        tasks = []
        for _ in range(meta_batch):
            a = float(torch.rand((), generator=g, dtype=torch.float64)) + 1.0     # slope in [1, 2)
            tasks.append([line_task(a, g, n_support)])
        return tasks
    return sample


def post_adaptation_loss(model, g, n_tasks=32, steps=1, lr=0.05):
    """Mean query MSE after `steps` SGD steps on a fresh support set of each test task."""
    losses = []
    for _ in range(n_tasks):
        a = float(torch.rand((), generator=g, dtype=torch.float64)) + 1.0
        support, query = line_task(a, g), line_task(a, g)
        m = copy.deepcopy(model)
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            mse(m, support).backward()
            opt.step()
        with torch.no_grad():
            losses.append(float(mse(m, query)))
    return sum(losses) / len(losses)


def test_reptile_fit_lowers_post_adaptation_loss():
    torch.manual_seed(0)
    model = nn.Linear(1, 1).double()
    with torch.no_grad():
        model.weight.fill_(-2.0), model.bias.fill_(1.5)       # a poor initialisation
    before = post_adaptation_loss(model, torch.Generator().manual_seed(123))
    hist = reptile_fit(model, make_sampler(torch.Generator().manual_seed(0)), steps=60, meta_batch=8,
                       inner_steps=5, inner_lr=0.05, outer_lr=1.0, outer_lr_final=0.1, loss_fn=mse,
                       optimizer_factory=sgd(0.05), progress=False)
    after = post_adaptation_loss(model, torch.Generator().manual_seed(123))
    assert len(hist) == 60 and set(hist[0]) == {"step", "outer_lr", "loss", "last_inner_loss", "step_norm"}
    assert hist[0]["outer_lr"] == 1.0 and hist[-1]["outer_lr"] == pytest.approx(1.0 - 0.9 * 59 / 60)
    assert after < 0.1 * before, (before, after)
    assert sum(h["loss"] for h in hist[-10:]) < sum(h["loss"] for h in hist[:10])
    # the meta-init moves towards the mean slope 1.5 and zero intercept
    assert abs(model.weight.item() - 1.5) < 0.3 and abs(model.bias.item()) < 0.3
    assert all(math.isfinite(h["step_norm"]) for h in hist)


def test_reptile_fit_constant_outer_lr_and_bad_inputs():
    model = linear(1, 1)
    hist = reptile_fit(model, make_sampler(torch.Generator().manual_seed(1)), steps=3, meta_batch=2,
                       inner_steps=1, inner_lr=0.01, outer_lr=0.5, loss_fn=mse, progress=False)
    assert [h["outer_lr"] for h in hist] == [0.5] * 3 and [h["step"] for h in hist] == [0, 1, 2]
    assert reptile_fit(model, make_sampler(torch.Generator()), steps=0, loss_fn=mse, progress=False) == []
    sampler = make_sampler(torch.Generator())
    for kw in (dict(steps=-1), dict(steps=2.0), dict(meta_batch=0), dict(loss_fn=None), dict(outer_lr=-1.0),
               dict(outer_lr_final=float("nan"))):
        args = dict(steps=1, loss_fn=mse, progress=False)
        args.update(kw)
        with pytest.raises(ValueError):
            reptile_fit(model, sampler, **args)
    with pytest.raises(ValueError):
        reptile_fit(model, "not callable", steps=1, loss_fn=mse, progress=False)
    with pytest.raises(ValueError):                               # sampler returning an empty meta-batch
        reptile_fit(model, lambda n: [], steps=1, loss_fn=mse, progress=False)
