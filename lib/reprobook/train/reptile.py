r"""Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms", Alg. 2):
the first-order meta-learning outer loop used to meta-train EVF (Lin, Bauza & Isola, CoRL 2019;
official yenchenlin/evf-public: a Reptile-style outer loop over objects, meta-batch 8).

One meta-step, batched version: with meta-parameters :math:`\theta` and tasks :math:`\tau_1..\tau_n`,

.. math:: \phi_i = U^{k}_{\tau_i}(\theta), \qquad
          \theta \leftarrow \theta + \epsilon \, \frac1n \sum_{i=1}^n (\phi_i - \theta),

where :math:`U^k_\tau` is ``inner_steps`` optimizer steps on task :math:`\tau`'s batches started
from :math:`\theta` and :math:`\epsilon` is ``outer_lr``. With one task, one plain-SGD inner step
and :math:`\epsilon = 1` this is one SGD step on that task.

Conventions (ours):

* a *task* is a non-empty sequence of batches; inner step ``s`` uses batch ``s % len(batches)``
  (so a task given as ``[batch]`` reuses its one batch). ``loss_fn(model, batch)`` returns a
  scalar tensor;
* by default every task starts a **fresh** inner optimizer, built by ``optimizer_factory`` over
  the model's trainable parameters; ``inner_lr`` is passed to it as ``lr=`` when the factory
  accepts an ``lr`` argument (``torch.optim.Adam``, ``functools.partial(torch.optim.SGD,
  momentum=0.9)``, ...); a factory without one (``lambda p: torch.optim.SGD(p, lr=0.1)``) sets its
  own rate;
* alternatively one **persistent** ``optimizer`` serves every task of every meta-step: its state
  (Adam's moments and step count) carries over from task to task, only the parameters are reset to
  :math:`\theta`. This is what evf-public does: its ``VariableState`` exports and imports the
  trainable variables only, so TensorFlow's Adam slots live on (``scripts/train_evf.py``). When a
  step fails, the model is restored but such an optimizer keeps the state of the steps it took;
* implemented with state save / restore on the model itself: parameters are reset to
  :math:`\theta` before each task and set to the Reptile update at the end; **buffers** (e.g.
  batch-norm running statistics) are restored to their values before the step; parameters with
  ``requires_grad=False`` are not updated; ``.grad`` is cleared on return. If ``loss_fn`` raises
  or returns a non-finite loss the model is restored to :math:`\theta` before the error propagates.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn
from tqdm import tqdm

from reprobook.train.loop import NonFiniteLossError

Tensor = torch.Tensor

__all__ = ["reptile_step", "reptile_fit", "OFFICIAL_META_BATCH"]

OFFICIAL_META_BATCH = 8   # evf-public: 8 objects per meta-batch


def _accepts_lr(factory: Callable) -> bool:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return False
    return any(p.name == "lr" or p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())


def _check_number(name: str, value, minimum: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (value <= minimum if strict else value < minimum):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _check_tasks(task_batches) -> list:
    if isinstance(task_batches, (str, bytes)) or not isinstance(task_batches, Sequence) or len(task_batches) == 0:
        raise ValueError("task_batches must be a non-empty sequence of tasks, each a non-empty sequence of batches")
    for i, batches in enumerate(task_batches):
        if isinstance(batches, (str, bytes)) or not isinstance(batches, Sequence) or len(batches) == 0:
            raise ValueError(f"task {i}: expected a non-empty sequence (list) of batches, got "
                             f"{type(batches).__name__}; wrap a single batch as [batch]")
    return list(task_batches)


def reptile_step(model: nn.Module, task_batches: Sequence[Sequence[Any]], inner_steps: int, inner_lr: float,
                 outer_lr: float, loss_fn: Callable[[nn.Module, Any], Tensor],
                 optimizer_factory: Callable = torch.optim.Adam,
                 optimizer: Optional[torch.optim.Optimizer] = None) -> dict:
    r"""One Reptile meta-step over a meta-batch of tasks; updates ``model`` in place.

    Args:
        model: the meta-learned model (its parameters are :math:`\theta`).
        task_batches: one entry per task, each a non-empty sequence of batches.
        inner_steps: optimizer steps per task (>= 1); step ``s`` uses batch ``s % len(batches)``.
        inner_lr: inner learning rate, passed as ``lr=`` to a factory that accepts it.
        outer_lr: :math:`\epsilon >= 0`; 1 with one task keeps the adapted :math:`\phi`.
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``.
        optimizer_factory: ``factory(params[, lr=inner_lr]) -> torch.optim.Optimizer``.
        optimizer: a persistent optimizer over exactly the model's trainable parameters, used for
            every task instead of a fresh one (``optimizer_factory`` and ``inner_lr`` are then not
            used; its own learning rate applies).

    Returns:
        ``{"inner_losses": [[float] * inner_steps] * n_tasks`` (loss before each inner step),
        ``"step_norm"``: L2 norm of the applied update :math:`\epsilon \cdot \mathrm{mean}(\phi-\theta)`,
        ``"delta_norm"``: L2 norm of :math:`\mathrm{mean}(\phi - \theta)`, ``"n_tasks"``}.
    """
    tasks = _check_tasks(task_batches)
    if isinstance(inner_steps, bool) or not isinstance(inner_steps, int) or inner_steps < 1:
        raise ValueError(f"inner_steps must be an int >= 1, got {inner_steps!r}")
    inner_lr = _check_number("inner_lr", inner_lr, 0.0, strict=True)
    outer_lr = _check_number("outer_lr", outer_lr, 0.0, strict=False)
    if not callable(loss_fn) or not callable(optimizer_factory):
        raise ValueError("loss_fn and optimizer_factory must be callable")
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters")
    pass_lr = _accepts_lr(optimizer_factory)
    if optimizer is not None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        held = {id(p) for g in optimizer.param_groups for p in g["params"]}
        if held != {id(p) for p in params.values()}:
            raise ValueError("optimizer must hold exactly the model's trainable parameters")

    with torch.no_grad():
        theta = {n: p.detach().clone() for n, p in params.items()}
        buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
        delta_sum = {n: torch.zeros_like(t) for n, t in theta.items()}

    def restore() -> None:
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(theta[n])
            for n, b in model.named_buffers():
                if n in buffers:
                    b.copy_(buffers[n])
        for p in params.values():
            p.grad = None

    inner_losses: list[list[float]] = []
    try:
        for t, batches in enumerate(tasks):
            restore()
            plist = list(params.values())
            if optimizer is not None:
                opt = optimizer
            else:
                opt = optimizer_factory(plist, lr=inner_lr) if pass_lr else optimizer_factory(plist)
            losses = []
            for s in range(inner_steps):
                loss = loss_fn(model, batches[s % len(batches)])
                if not torch.is_tensor(loss) or loss.dim() != 0:
                    got = tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__
                    raise ValueError(f"loss_fn must return a scalar tensor, got {got}")
                if not bool(torch.isfinite(loss)):
                    raise NonFiniteLossError(f"non-finite inner loss {loss.item()} on task {t}, inner step {s}; "
                                             f"try a smaller inner_lr")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            inner_losses.append(losses)
            with torch.no_grad():
                for n, p in params.items():
                    delta_sum[n] += p - theta[n]
    except BaseException:
        restore()
        raise

    restore()
    n_tasks = len(tasks)
    with torch.no_grad():
        sq_delta, sq_step = 0.0, 0.0
        for n, p in params.items():
            mean_delta = delta_sum[n] / n_tasks
            step = outer_lr * mean_delta
            p.copy_(theta[n] + step)
            sq_delta += float((mean_delta.double() ** 2).sum())
            sq_step += float((step.double() ** 2).sum())
    return {"inner_losses": inner_losses, "step_norm": math.sqrt(sq_step),
            "delta_norm": math.sqrt(sq_delta), "n_tasks": n_tasks}


def reptile_fit(model: nn.Module, sample_tasks: Callable[[int], Sequence[Sequence[Any]]], steps: int,
                meta_batch: int = OFFICIAL_META_BATCH, inner_steps: int = 5, inner_lr: float = 1e-3,
                outer_lr: float = 1.0, loss_fn: Optional[Callable[[nn.Module, Any], Tensor]] = None,
                optimizer_factory: Callable = torch.optim.Adam, outer_lr_final: Optional[float] = None,
                progress: bool = True) -> list[dict]:
    r"""Meta-train with :func:`reptile_step` for ``steps`` meta-steps.

    Each step calls ``sample_tasks(meta_batch)``, which returns the meta-batch (a sequence of
    tasks, each a non-empty sequence of batches). ``outer_lr_final``: if given, the outer step size
    is annealed linearly from ``outer_lr`` to ``outer_lr_final`` over training as in Nichol et al.'s
    code (``frac = step / steps``); otherwise it is constant. ``progress=False`` disables the tqdm
    bar. The model is put in train mode.

    Returns ``[{step, outer_lr, loss, last_inner_loss, step_norm}, ...]``: ``loss`` is the mean over
    tasks of the first inner loss (at :math:`\theta`), ``last_inner_loss`` the mean over tasks of
    the loss before the last inner step.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if isinstance(meta_batch, bool) or not isinstance(meta_batch, int) or meta_batch < 1:
        raise ValueError(f"meta_batch must be an int >= 1, got {meta_batch!r}")
    if loss_fn is None or not callable(loss_fn):
        raise ValueError("loss_fn(model, batch) -> scalar tensor is required")
    if not callable(sample_tasks):
        raise ValueError("sample_tasks must be callable: sample_tasks(meta_batch) -> sequence of tasks")
    outer_lr = _check_number("outer_lr", outer_lr, 0.0, strict=False)
    if outer_lr_final is not None:
        outer_lr_final = _check_number("outer_lr_final", outer_lr_final, 0.0, strict=False)
    model.train()
    history = []
    for step in tqdm(range(steps), desc="reptile", disable=not progress, leave=False):
        lr = outer_lr if outer_lr_final is None else \
            (1 - step / steps) * outer_lr + (step / steps) * outer_lr_final
        out = reptile_step(model, sample_tasks(meta_batch), inner_steps, inner_lr, lr, loss_fn, optimizer_factory)
        first = [ls[0] for ls in out["inner_losses"]]
        last = [ls[-1] for ls in out["inner_losses"]]
        history.append({"step": step, "outer_lr": lr, "loss": sum(first) / len(first),
                        "last_inner_loss": sum(last) / len(last), "step_norm": out["step_norm"]})
    return history
