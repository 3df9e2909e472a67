"""Policy gradient with a value baseline, as Neural MMO v1.3 trains its agents (arXiv 2001.12004).

Book: chapter 10-neural-mmo. Official: NeuralMMO/environment ``v1.3``,
``forge/ethyr/torch/loss.py`` and ``optim.py:45-95``, ``forge/ethyr/experience/rollout.py``.

Returns (``rollout.py:84-90,123-140``): a life's rewards (0 per tick, ``-1`` appended at death)
are discounted, ``R_t = sum_{k>=0} gamma^k r_{t+k}`` with ``gamma = 0.95``.

Per action argument ``k`` (move, style, target), over the batch of decisions
(``loss.py:10-96``)::

    A      = (R - V) - mean(R - V)                     advantage, mean-centred, no gradient  (2)
    L_pg   = mean( -log pi_k(a_k | s) * A )                                                 (3)
    L_V    = mean( 0.5 (V - R)^2 )                                                          (4)
    L_ent  = mean( sum_a pi_k(a|s) log pi_k(a|s) )     (0 log 0 := 0 for masked actions)      (5)

    L = sum_k ( w_pg L_pg + w_V L_V + w_ent L_ent ),  w = (1.0, 0.5, 0.025)                (6)

The sum over arguments counts the value loss once per argument, as ``optim.py:80-95``; an
argument with a single legal choice is skipped there (``optim.py:44-45``) and here.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["discounted_returns", "policy_gradient_loss", "PG_WEIGHT", "VALUE_WEIGHT", "ENTROPY_WEIGHT",
           "GAMMA"]

GAMMA = 0.95
"""Reward discount (``experiments.py:48``)."""
PG_WEIGHT, VALUE_WEIGHT, ENTROPY_WEIGHT = 1.0, 0.5, 0.025
"""Loss weights of Eq. (6) (``experiments.py:51-53``)."""


def discounted_returns(rewards, gamma: float = GAMMA, bootstrap: float = 0.0) -> np.ndarray:
    """``R_t = r_t + gamma R_{t+1}``, ``R_T = bootstrap`` (0 for a finished life; ours: the value of
    the last state for a life cut by the horizon). ``rewards`` (T,) -> (T,) float64."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"rewards must be one trajectory (T,), got shape {r.shape}")
    out = np.empty_like(r)
    acc = float(bootstrap)
    for t in range(len(r) - 1, -1, -1):
        acc = r[t] + gamma * acc
        out[t] = acc
    return out


def policy_gradient_loss(logits: dict, actions: torch.Tensor, values: torch.Tensor, returns: torch.Tensor,
                         pg_weight: float = PG_WEIGHT, value_weight: float = VALUE_WEIGHT,
                         entropy_weight: float = ENTROPY_WEIGHT) -> dict:
    """Eqs. (2)-(6). ``logits``: ``{name: (B, A_k)}`` (``-inf`` for illegal actions), ``actions``
    (B, len(logits)) long in the dict's order, ``values`` and ``returns`` (B,).

    Returns ``{"loss", "policy", "value", "entropy"}`` (each summed over arguments; ``entropy`` is
    the mean entropy, the negative of Eq. (5)).
    """
    if actions.ndim != 2 or actions.shape[1] != len(logits):
        raise ValueError(f"actions must be (B, {len(logits)}), got {tuple(actions.shape)}")
    B = actions.shape[0]
    if values.shape != (B,) or returns.shape != (B,):
        raise ValueError(f"values and returns must be ({B},), got {tuple(values.shape)} and "
                         f"{tuple(returns.shape)}")
    if B == 0:
        raise ValueError("empty batch")
    returns = returns.to(values.dtype)
    if not (torch.isfinite(values).all() and torch.isfinite(returns).all()):
        raise ValueError("values and returns must be finite")
    policy = value = neg_entropy = values.new_zeros(())
    for k, (name, lg) in enumerate(logits.items()):
        if lg.ndim != 2 or lg.shape[0] != B:
            raise ValueError(f"logits of {name!r} must be ({B}, A), got {tuple(lg.shape)}")
        if torch.isnan(lg).any() or torch.isposinf(lg).any():
            raise ValueError(f"logits of {name!r} hold NaN or +inf")
        legal = torch.isfinite(lg)                                         # -inf: illegal
        a = actions[:, k]
        if ((a < 0) | (a >= lg.shape[1])).any():
            raise ValueError(f"actions of {name!r} must be in 0..{lg.shape[1] - 1}")
        if not legal.gather(1, a[:, None]).all():
            raise ValueError(f"an action of {name!r} has probability 0 (logit -inf)")
        keep = legal.sum(1) > 1                                            # skip forced choices
        if not keep.any():
            continue
        lg, a, V, R = lg[keep], a[keep], values[keep], returns[keep]
        A = (R - V).detach()
        A = A - A.mean()                                                   # Eq. (2)
        logp = F.log_softmax(lg, dim=-1)
        policy = policy + (-logp.gather(1, a[:, None]).squeeze(1) * A).mean()   # Eq. (3)
        value = value + 0.5 * (V - R).pow(2).mean()                        # Eq. (4)
        p, logp_legal = logp.exp(), logp.masked_fill(~legal[keep], 0.0)  # 0 log 0 := 0, finite gradient
        neg_entropy = neg_entropy + (p * logp_legal).sum(1).mean()         # Eq. (5)
    loss = pg_weight * policy + value_weight * value + entropy_weight * neg_entropy   # Eq. (6)
    return {"loss": loss, "policy": policy, "value": value, "entropy": -neg_entropy}
