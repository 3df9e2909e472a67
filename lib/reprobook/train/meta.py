r"""Meta-learning on Omnipush-style tasks: context splits, NP / pooled / MAML training, evaluation.

A *task* is one object with ``n`` pushes: ``X`` (n, dx) push parameters and ``y`` (n, dy) outcomes
:math:`(\Delta x, \Delta y, \Delta\theta)`, already normalised. A :class:`TaskSet` stacks tasks of
equal ``n`` into tensors ``X`` (N_tasks, n, dx) and ``y`` (N_tasks, n, dy).

Facts taken from the official baselines (MIT-Omnipush/omnipush-metalearning-baselines; the code
here is our own):

* ``preprocess.omnipush_collate_fn(batch, shot, meta_train)``: per task a shift is drawn with
  ``np.random.randint(n - shot)`` (i.e. uniformly in ``[0, n - shot)``) during meta-training and is
  ``0`` at test time; context = ``X[shift:shift+shot]`` and target = ``cat(X[shift+shot:],
  X[:shift])`` (the remaining pushes, rotated). :func:`split_context` / :func:`sample_context`.
* ``omnipush_ANP.py``: ``Adam(lr=3e-4)``, 64 objects per batch. (The script then overrides the
  learning rate every step with a Noam warm-up schedule ``adjust_learning_rate``, peak 1e-3 at
  step 4000; we keep the constant 3e-4 as default, and ``lr_schedule="noam"`` gives the official
  schedule.) The
  official script feeds the collate's *rest* targets to the model; we follow the convention of
  :mod:`reprobook.models.neural_process` (targets contain the context, ``targets="all"``) by
  default and offer ``targets="rest"`` for the official form.
* ``omnipush_pooldata.py``: the pooled MLP is trained with ``Adam(lr=2e-3)`` on batches of 64
  objects with all their pushes flattened (64 x 250 = 16000 pushes), loss ``-mean log N``; task
  identity is ignored. :func:`fit_pooled` draws random push minibatches from the pooled set.

MAML (Finn et al. 2017, "Model-Agnostic Meta-Learning", Alg. 1/2) is not in the official repo; we
adapt an :class:`~reprobook.models.neural_process.MLPBaseline` with ``inner_steps`` SGD steps on
the Gaussian NLL of the support (context) set and meta-train on the NLL of the query (targets),
using :func:`torch.func.functional_call`; second-order by default, ``first_order=True`` for FOMAML.

Evaluation (:func:`evaluate`) follows the official test protocol: context = the first ``k``
pushes (shift 0), metrics on the remaining ``n - k``; per task the per-point mean log-likelihood
(summed over the ``dy`` outputs) and RMSE over all elements, then averaged over tasks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

from reprobook.models.neural_process import MLPBaseline, NeuralProcess, gaussian_log_likelihood, rmse

Tensor = torch.Tensor

__all__ = [
    "TaskSet",
    "split_context",
    "sample_context",
    "fit_neural_process",
    "noam_lr",
    "fit_pooled",
    "maml_adapt",
    "maml_fit",
    "evaluate",
]

OFFICIAL_NP_LR = 3e-4       # omnipush_ANP.py: Adam(lr=3e-4)
OFFICIAL_POOLED_LR = 2e-3   # omnipush_pooldata.py: Adam(lr=2e-3)
OFFICIAL_BATCH_TASKS = 64   # both scripts: DataLoader(batch_size=64) over objects
NOAM_WARMUP = 4000          # omnipush_ANP.py: adjust_learning_rate(optimizer, step_num, warmup_step=4000)


# --------------------------------------------------------------------------------------------
# data container
# --------------------------------------------------------------------------------------------
@dataclass
class TaskSet:
    """Tasks of equal size stacked as tensors.

    Attributes:
        X: (N_tasks, n, dx) float tensor of inputs.
        y: (N_tasks, n, dy) float tensor of outputs.
        ids: list of N_tasks task identifiers (object names), in the order of the first axis.
    """

    X: Tensor
    y: Tensor
    ids: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.X = torch.as_tensor(self.X, dtype=torch.float32)
        self.y = torch.as_tensor(self.y, dtype=torch.float32)
        _check_xy(self.X, self.y)
        if not self.ids:
            self.ids = list(range(self.X.shape[0]))
        if len(self.ids) != self.X.shape[0]:
            raise ValueError(f"got {len(self.ids)} ids for {self.X.shape[0]} tasks")

    @classmethod
    def from_dict(cls, tasks: Mapping) -> "TaskSet":
        """Build from ``{id: (X, y)}`` with X (n, dx), y (n, dy) numpy arrays or tensors; every task
        must have the same ``n``, ``dx``, ``dy``."""
        if not tasks:
            raise ValueError("from_dict needs at least one task")
        Xs, ys, ids = [], [], []
        ref = None
        for tid, pair in tasks.items():
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"task {tid!r}: value must be a pair (X, y)")
            X = torch.as_tensor(np.asarray(pair[0]) if not torch.is_tensor(pair[0]) else pair[0],
                                dtype=torch.float32)
            y = torch.as_tensor(np.asarray(pair[1]) if not torch.is_tensor(pair[1]) else pair[1],
                                dtype=torch.float32)
            if X.dim() != 2 or y.dim() != 2:
                raise ValueError(f"task {tid!r}: X and y must be 2-d (n, dx) and (n, dy), "
                                 f"got {tuple(X.shape)} and {tuple(y.shape)}")
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"task {tid!r}: X has {X.shape[0]} pushes but y has {y.shape[0]}")
            shape = (X.shape[0], X.shape[1], y.shape[1])
            if ref is None:
                ref = (tid, shape)
            elif shape != ref[1]:
                raise ValueError(f"task {tid!r} has (n, dx, dy) = {shape} but task {ref[0]!r} has "
                                 f"{ref[1]}; all tasks must have the same number of pushes and dims")
            Xs.append(X), ys.append(y), ids.append(tid)
        return cls(torch.stack(Xs), torch.stack(ys), ids)

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def n(self) -> int:
        """Pushes per task."""
        return self.X.shape[1]

    def subset(self, index: Union[Sequence[int], Tensor]) -> "TaskSet":
        """The tasks at ``index`` (positions along the first axis)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return TaskSet(self.X[idx], self.y[idx], [self.ids[i] for i in idx.tolist()])


# --------------------------------------------------------------------------------------------
# context / target splits
# --------------------------------------------------------------------------------------------
def _check_xy(X: Tensor, y: Tensor) -> None:
    if X.dim() != 3 or y.dim() != 3:
        raise ValueError(f"X and y must be 3-d (N_tasks, n, d), got {tuple(X.shape)} and {tuple(y.shape)}")
    if X.shape[:2] != y.shape[:2]:
        raise ValueError(f"X and y must agree on (N_tasks, n), got {tuple(X.shape[:2])} and {tuple(y.shape[:2])}")
    if X.shape[1] < 2:
        raise ValueError(f"tasks need at least 2 pushes, got n = {X.shape[1]}")


def _check_k(k, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an int, got {type(k).__name__}")
    if not 1 <= k < n:
        raise ValueError(f"k (context size) must satisfy 1 <= k < n = {n}, got k = {k}")


def _as_tasks(tasks) -> TaskSet:
    if isinstance(tasks, TaskSet):
        return tasks
    if isinstance(tasks, Mapping):
        return TaskSet.from_dict(tasks)
    if isinstance(tasks, (tuple, list)) and len(tasks) == 2:
        return TaskSet(tasks[0], tasks[1])
    raise ValueError(f"tasks must be a TaskSet, a dict {{id: (X, y)}} or a pair (X, y), got {type(tasks).__name__}")


def split_context(X: Tensor, y: Tensor, k: int, shift: Union[int, Tensor] = 0):
    """Official collate split, batched: context = pushes ``shift .. shift+k-1``, target = the rest
    rotated, ``cat(X[shift+k:], X[:shift])`` (``preprocess.omnipush_collate_fn``).

    Args:
        X: (B, n, dx); y: (B, n, dy).
        k: context size, ``1 <= k < n``.
        shift: int or (B,) integer tensor, each in ``[0, n - k]``.

    Returns:
        context_x (B, k, dx), context_y (B, k, dy), target_x (B, n-k, dx), target_y (B, n-k, dy).
    """
    _check_xy(X, y)
    B, n = X.shape[:2]
    _check_k(k, n)
    shift_t = torch.as_tensor(shift, dtype=torch.long, device=X.device)
    if shift_t.dim() == 0:
        shift_t = shift_t.expand(B)
    if shift_t.shape != (B,):
        raise ValueError(f"shift must be an int or a ({B},) tensor, got shape {tuple(shift_t.shape)}")
    if bool(((shift_t < 0) | (shift_t > n - k)).any()):
        raise ValueError(f"shift must lie in [0, n - k] = [0, {n - k}], got {shift_t.tolist()}")
    # rolled[b, j] = X[b, (shift_b + j) mod n]: first k are the context, the rest the rotated targets
    idx = (shift_t[:, None] + torch.arange(n, device=X.device)[None, :]) % n      # (B, n)
    Xr = torch.gather(X, 1, idx[..., None].expand(-1, -1, X.shape[-1]))          # (B, n, dx)
    yr = torch.gather(y, 1, idx[..., None].expand(-1, -1, y.shape[-1]))          # (B, n, dy)
    return Xr[:, :k], yr[:, :k], Xr[:, k:], yr[:, k:]


def sample_context(X: Tensor, y: Tensor, k: int, generator: Optional[torch.Generator] = None):
    """Meta-training split: one random shift per task, uniform in ``[0, n - k)`` as the official
    ``np.random.randint(n - shot)``; then :func:`split_context`. Same shapes as
    :func:`split_context`."""
    _check_xy(X, y)
    _check_k(k, X.shape[1])
    shift = torch.randint(0, X.shape[1] - k, (X.shape[0],), generator=generator)
    return split_context(X, y, k, shift.to(X.device))


def _draw_tasks(n_tasks: int, batch: int, generator) -> Tensor:
    return torch.randperm(n_tasks, generator=generator)[:min(batch, n_tasks)]


def _nll(mean: Tensor, std: Tensor, y: Tensor) -> Tensor:
    """``-mean`` over all elements of ``log N(y; mean, std)`` (the official training loss)."""
    return -torch.distributions.Normal(mean, std).log_prob(y).mean()


# --------------------------------------------------------------------------------------------
# Neural Process
# --------------------------------------------------------------------------------------------
def noam_lr(step: int, peak: float = 1e-3, warmup: int = NOAM_WARMUP) -> float:
    """The official ``adjust_learning_rate`` (omnipush_ANP.py) at 1-based ``step``:
    ``peak * warmup**0.5 * min(step * warmup**-1.5, step**-0.5)``: linear warm-up to ``peak`` at
    ``warmup``, then decay as ``1 / sqrt(step)``."""
    if step < 1:
        raise ValueError(f"step is 1-based, got {step!r}")
    return peak * warmup ** 0.5 * min(step * warmup ** -1.5, step ** -0.5)


def fit_neural_process(model: NeuralProcess, tasks, k: int, steps: int, lr: float = OFFICIAL_NP_LR,
                       batch_tasks: int = OFFICIAL_BATCH_TASKS, generator: Optional[torch.Generator] = None,
                       progress: bool = True, targets: str = "all", lr_schedule: str = "constant") -> list[dict]:
    """Train a (attentive) NP with Adam on its ELBO loss.

    Each step draws ``batch_tasks`` tasks (without replacement), a random shift per task
    (:func:`sample_context`), context = ``k`` consecutive pushes; targets = all ``n`` pushes
    (``targets="all"``, the DeepMind / model-module convention) or the rotated rest
    (``targets="rest"``, as the official script). ``lr_schedule``: ``"constant"`` (``lr``) or
    ``"noam"`` (the official script's :func:`noam_lr`, which overrides its Adam's 3e-4 from the
    first step; ``lr`` is then ignored). Returns ``[{step, loss, nll, kl, lr}, ...]``.
    """
    ts = _as_tasks(tasks)
    _check_k(k, ts.n)
    if targets not in ("all", "rest"):
        raise ValueError(f"targets must be 'all' or 'rest', got {targets!r}")
    if lr_schedule not in ("constant", "noam"):
        raise ValueError(f"lr_schedule must be 'constant' or 'noam', got {lr_schedule!r}")
    dev = next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = []
    for step in tqdm(range(steps), desc="np", disable=not progress, leave=False):
        if lr_schedule == "noam":
            for group in opt.param_groups:
                group["lr"] = noam_lr(step + 1)
        idx = _draw_tasks(len(ts), batch_tasks, generator)
        X, y = ts.X[idx].to(dev), ts.y[idx].to(dev)                   # (B, n, d)
        cx, cy, tx, ty = sample_context(X, y, k, generator)
        if targets == "all":
            tx, ty = X, y
        out = model(cx, cy, tx, ty)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        history.append({"step": step, "loss": out.loss.item(), "nll": out.nll.item(), "kl": out.kl.item(),
                        "lr": opt.param_groups[0]["lr"]})
    return history


# --------------------------------------------------------------------------------------------
# pooled baseline
# --------------------------------------------------------------------------------------------
def fit_pooled(model: MLPBaseline, tasks, steps: int, lr: float = OFFICIAL_POOLED_LR,
               batch: int = OFFICIAL_BATCH_TASKS * 250, generator: Optional[torch.Generator] = None,
               progress: bool = False) -> list[dict]:
    """Pooled-data baseline: ignore task identity, Adam on ``model.gaussian_nll`` over random
    minibatches of ``batch`` pushes (default 64 x 250, the official batch of 64 objects with all
    their pushes) drawn from all pushes of all tasks. Returns ``[{step, loss}, ...]``."""
    ts = _as_tasks(tasks)
    dev = next(model.parameters()).device
    Xp = ts.X.reshape(-1, ts.X.shape[-1])                                # (N*n, dx)
    yp = ts.y.reshape(-1, ts.y.shape[-1])                                # (N*n, dy)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = []
    for step in tqdm(range(steps), desc="pooled", disable=not progress, leave=False):
        idx = torch.randperm(Xp.shape[0], generator=generator)[:min(batch, Xp.shape[0])]
        loss = model.gaussian_nll(Xp[idx].to(dev), yp[idx].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step, "loss": loss.item()})
    return history


# --------------------------------------------------------------------------------------------
# MAML
# --------------------------------------------------------------------------------------------
def _task_nll(model: nn.Module, params: Mapping[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
    mean, std = functional_call(model, dict(params), (x,))
    return _nll(mean, std, y)


def maml_adapt(model: MLPBaseline, context_x: Tensor, context_y: Tensor, inner_lr: float = 0.01,
               inner_steps: int = 1, first_order: bool = False,
               params: Optional[Mapping[str, Tensor]] = None) -> dict[str, Tensor]:
    r"""Inner loop of MAML for one task: ``inner_steps`` SGD steps
    :math:`\theta \leftarrow \theta - \alpha \nabla_\theta \mathrm{NLL}(\text{support})`.

    Args:
        context_x (k, dx), context_y (k, dy): the support set of one task.
        params: starting parameters (default: the model's own ``named_parameters``).
        first_order: if True the inner gradients are not differentiated through (FOMAML).

    Returns:
        dict name -> adapted tensor, usable with ``torch.func.functional_call(model, params, (x,))``.
        Second-order adaptation keeps the graph back to the model parameters.
    """
    if context_x.dim() != 2 or context_y.dim() != 2 or context_x.shape[0] != context_y.shape[0]:
        raise ValueError(f"context_x and context_y must be (k, dx) and (k, dy) for one task, got "
                         f"{tuple(context_x.shape)} and {tuple(context_y.shape)}")
    if inner_steps < 0:
        raise ValueError(f"inner_steps must be >= 0, got {inner_steps}")
    params = dict(model.named_parameters()) if params is None else dict(params)
    with torch.enable_grad():
        for _ in range(inner_steps):
            loss = _task_nll(model, params, context_x, context_y)
            names = [n for n, p in params.items() if p.requires_grad]
            grads = torch.autograd.grad(loss, [params[n] for n in names],
                                        create_graph=not first_order and torch.is_grad_enabled())
            for n, g in zip(names, grads):
                params[n] = params[n] - inner_lr * g
    return params


def maml_fit(model: MLPBaseline, tasks, k: int, steps: int, inner_lr: float = 0.01, inner_steps: int = 1,
             outer_lr: float = 1e-3, batch_tasks: int = 16, generator: Optional[torch.Generator] = None,
             first_order: bool = False, progress: bool = False) -> list[dict]:
    """Meta-train with MAML: per step ``batch_tasks`` tasks, a random shift each
    (:func:`sample_context`); support = the ``k`` context pushes, query = the rest; outer loss =
    mean over tasks of the query NLL after :func:`maml_adapt`; Adam(``outer_lr``).
    Returns ``[{step, loss, support_loss}, ...]`` (support loss before adaptation)."""
    ts = _as_tasks(tasks)
    _check_k(k, ts.n)
    dev = next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=outer_lr)
    model.train()
    history = []
    for step in tqdm(range(steps), desc="maml", disable=not progress, leave=False):
        idx = _draw_tasks(len(ts), batch_tasks, generator)
        cx, cy, tx, ty = sample_context(ts.X[idx].to(dev), ts.y[idx].to(dev), k, generator)
        outer, support = [], []
        for b in range(cx.shape[0]):
            support.append(model.gaussian_nll(cx[b], cy[b]).detach())
            adapted = maml_adapt(model, cx[b], cy[b], inner_lr, inner_steps, first_order)
            outer.append(_task_nll(model, adapted, tx[b], ty[b]))
        loss = torch.stack(outer).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step, "loss": loss.item(), "support_loss": torch.stack(support).mean().item()})
    return history


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------
def evaluate(model: nn.Module, tasks, k: int, method: str = "np", inner_lr: float = 0.01,
             inner_steps: int = 1) -> dict:
    """Official test protocol: context = first ``k`` pushes (shift 0), metrics on the other
    ``n - k``.

    ``method``: ``"np"`` (model(context_x, context_y, target_x) -> NPOutput; z from the prior),
    ``"pooled"`` (MLPBaseline on the targets, context ignored) or ``"maml"`` (first-order
    :func:`maml_adapt` on the context with ``inner_lr``, ``inner_steps``, then predict).

    Returns ``{"rmse", "log_likelihood", "k", "n_tasks"}``: per task RMSE over all target elements
    and per-point mean log-likelihood (summed over dy), both averaged over tasks.
    """
    if method not in ("np", "pooled", "maml"):
        raise ValueError(f"unknown method {method!r}; expected 'np', 'pooled' or 'maml'")
    ts = _as_tasks(tasks)
    _check_k(k, ts.n)
    dev = next(model.parameters()).device
    cx, cy, tx, ty = split_context(ts.X.to(dev), ts.y.to(dev), k, 0)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if method == "np":
                out = model(cx, cy, tx)
                mean, std = out.mean, out.std                              # (B, n-k, dy)
            elif method == "pooled":
                mean, std = model(tx)
            else:
                means, stds = [], []
                for b in range(cx.shape[0]):
                    params = {n: p.detach() for n, p in model.named_parameters()}
                    for p in params.values():
                        p.requires_grad_(True)
                    adapted = maml_adapt(model, cx[b], cy[b], inner_lr, inner_steps, first_order=True,
                                         params=params)
                    m, s = functional_call(model, adapted, (tx[b],))
                    means.append(m), stds.append(s)
                mean, std = torch.stack(means), torch.stack(stds)
        ll = torch.stack([gaussian_log_likelihood(ty[b], mean[b], std[b]) for b in range(ty.shape[0])])
        err = torch.stack([rmse(ty[b], mean[b]) for b in range(ty.shape[0])])
    finally:
        model.train(was_training)
    return {"rmse": err.mean().item(), "log_likelihood": ll.mean().item(), "k": k, "n_tasks": len(ts)}
