r"""The cross-entropy method (CEM) for minimising a batched cost over continuous actions.

Visual foresight plans a push by sampling candidate actions, rolling each through the video
prediction model and scoring the last predicted frame against a goal image; CEM refits the
sampling Gaussian to the lowest-cost candidates and repeats. In the public implementation of
Experience-embedded Visual Foresight (MIT-Omnipush/video-prediction, ``savp/control/cem.py``)
each round draws 100 candidates, keeps the 10 best (the defaults here), clips actions to
``[-1, 1]``, and scores a candidate by the squared pixel distance
``sum((goal - frame_T)^2)`` of its last predicted frame to the goal.

One iteration :math:`k` here:

.. math::
    a_s = \mathrm{clip}(\mu_k + \sigma_k \odot \epsilon_s,\ \mathrm{lower},\ \mathrm{upper}),
    \quad \epsilon_s \sim \mathcal N(0, I),\quad s = 1..S

    E = \text{the } K \text{ samples of lowest } \mathrm{cost}(a_s), \quad
    \bar a = \frac1K \sum_{s \in E} a_s, \quad
    \sigma_{k+1} = \sqrt{\frac1K \sum_{s \in E} (a_s - \bar a)^2}, \quad
    \mu_{k+1} = m\,\mu_k + (1 - m)\,\bar a

(elementwise; ``m`` = ``momentum``). Differences from the public code, on purpose: the
Gaussian is diagonal (they fit a full covariance, ``np.cov`` of the elites plus 0.5 times the
previous covariance), and the elite spread is the maximum-likelihood (population, ``1/K``)
standard deviation, which can collapse early with few elites (use more samples, or restart
with a wider ``std``). Elites are refitted on the *clipped* actions, as in the public code.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = ["CEMResult", "cem"]


@dataclass
class CEMResult:
    """Outcome of :func:`cem`.

    Attributes:
        best: the lowest-cost action seen over all iterations, shape of ``mean``.
        best_cost: its cost.
        mean, std: the final sampling distribution (after the last refit).
        history: one dict per iteration: ``iteration`` (0-based), ``best_cost`` (lowest cost among
            that iteration's samples) and ``elite_mean_cost`` (mean cost of its elites).
    """
    best: torch.Tensor
    best_cost: float
    mean: torch.Tensor
    std: torch.Tensor
    history: list[dict] = field(default_factory=list)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _bound(value, name: str, mean: torch.Tensor) -> torch.Tensor | None:
    if value is None:
        return None
    if not torch.is_tensor(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number or a tensor, got {type(value).__name__}")
        value = torch.tensor(float(value))
    value = value.to(dtype=mean.dtype, device=mean.device)
    if value.ndim != 0 and value.shape != mean.shape:
        raise ValueError(f"{name} must be a scalar or have the shape of mean {tuple(mean.shape)}, "
                         f"got {tuple(value.shape)}")
    if torch.isnan(value).any():
        raise ValueError(f"{name} contains NaN")
    return value.expand(mean.shape)


@torch.no_grad()
def cem(cost: Callable[[torch.Tensor], torch.Tensor], mean: torch.Tensor, std, samples: int = 100,
        elites: int = 10, iterations: int = 3, lower=None, upper=None,
        generator: torch.Generator | None = None, momentum: float = 0.0) -> CEMResult:
    """Minimise ``cost`` with the cross-entropy method (see the module docstring for the update).

    Args:
        cost: batched cost, ``cost(actions (S, *shape)) -> (S,)`` tensor; lower is better. Called
            once per iteration with all ``samples`` candidates, under ``torch.no_grad()``.
        mean: initial mean, a float tensor of any ``shape`` (e.g. ``(horizon, action_dim)``).
        std: initial standard deviation, a positive number or a positive tensor of ``shape``.
        samples: candidates per iteration (100 in the public implementation).
        elites: lowest-cost candidates used for the refit (10 in the public implementation);
            ``1 <= elites <= samples``.
        iterations: number of sample-and-refit rounds.
        lower, upper: optional bounds (numbers or tensors of ``shape``); samples are clipped.
        generator: a ``torch.Generator`` for reproducible draws (on ``mean``'s device).
        momentum: ``m`` in ``[0, 1)``: the new mean is ``m * old + (1 - m) * elite_mean``. It
            smooths the mean only; the std is still refitted outright, so with ``m > 0`` the
            spread can shrink before the mean arrives (on a 4-d quadratic, ``m = 0.3`` stalled
            short of the optimum far more often than ``m = 0``).

    Returns:
        :class:`CEMResult` with the best action seen, its cost, the final mean/std and a history.
    """
    if not callable(cost):
        raise TypeError(f"cost must be callable, got {type(cost).__name__}")
    if not torch.is_tensor(mean) or not mean.is_floating_point():
        got = mean.dtype if torch.is_tensor(mean) else type(mean).__name__
        raise TypeError(f"mean must be a floating-point tensor, got {got}")
    if not torch.isfinite(mean).all():
        raise ValueError("mean contains NaN or inf")
    samples = _positive_int(samples, "samples")
    elites = _positive_int(elites, "elites")
    iterations = _positive_int(iterations, "iterations")
    if elites > samples:
        raise ValueError(f"elites ({elites}) must be <= samples ({samples})")
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
    momentum = float(momentum)

    if torch.is_tensor(std):
        if std.shape != mean.shape:
            raise ValueError(f"std must have the shape of mean {tuple(mean.shape)}, got {tuple(std.shape)}")
        std = std.to(dtype=mean.dtype, device=mean.device).clone()
    else:
        if isinstance(std, bool) or not isinstance(std, numbers.Real):
            raise TypeError(f"std must be a number or a tensor, got {type(std).__name__}")
        std = torch.full_like(mean, float(std))
    if not (torch.isfinite(std).all() and (std > 0).all()):
        raise ValueError("std must be finite and > 0 everywhere")

    lo, hi = _bound(lower, "lower", mean), _bound(upper, "upper", mean)
    if lo is not None and hi is not None and (lo > hi).any():
        raise ValueError("lower must be <= upper everywhere")

    mean = mean.detach().clone()
    shape = tuple(mean.shape)
    best, best_cost, history = None, math.inf, []
    for it in range(iterations):
        eps = torch.randn((samples, *shape), generator=generator, dtype=mean.dtype, device=mean.device)
        actions = mean + std * eps
        if lo is not None or hi is not None:
            actions = torch.clamp(actions, min=lo, max=hi)
        costs = cost(actions)
        if not torch.is_tensor(costs):
            raise TypeError(f"cost must return a tensor of shape ({samples},), got {type(costs).__name__}")
        if costs.shape != (samples,):
            raise ValueError(f"cost must return shape ({samples},) for actions of shape "
                             f"{tuple(actions.shape)}, got {tuple(costs.shape)}")
        if torch.isnan(costs).any():
            raise ValueError(f"cost returned NaN at iteration {it}")
        order = torch.argsort(costs, stable=True)
        elite_idx = order[:elites]
        elite = actions[elite_idx]
        lowest = float(costs[order[0]])
        if best is None or lowest < best_cost:
            best, best_cost = actions[order[0]].clone(), lowest
        history.append({"iteration": it, "best_cost": lowest,
                        "elite_mean_cost": float(costs[elite_idx].double().mean())})
        elite_mean = elite.mean(dim=0)
        std = elite.std(dim=0, unbiased=False)
        mean = momentum * mean + (1.0 - momentum) * elite_mean
    return CEMResult(best=best, best_cost=best_cost, mean=mean, std=std, history=history)
