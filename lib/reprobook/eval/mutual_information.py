r"""Estimating the mutual information between two views with the InfoNCE bound (InfoMin).

Book: book/04-infomin/01-method (the estimator and its ceiling on Gaussians) and 02-reverse-u
(the x axis of every curve).

:func:`estimate_mi` averages :func:`reprobook.losses.info_nce_bound` over disjoint groups of
``K`` held-out pairs, the critic being the trained encoders' :math:`z_1^\top z_2 / \tau`: the
:math:`I_\text{NCE}` the InfoMin paper puts on the x axis of its reverse-U plots. It can never
exceed :math:`\log K`, so compare estimates at one ``K`` only.

Correlated Gaussians give a ground truth: with :math:`x, y \in \mathbb{R}^d`, standard normal
marginals and :math:`\mathrm{corr}(x_k, y_k) = \rho` per coordinate,
:math:`I(x; y) = -\tfrac{d}{2}\log(1-\rho^2)`, and the optimal critic is the log density ratio
:func:`gaussian_log_ratio`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from ..losses import info_nce_bound
from ..losses._checks import check_features, check_number, check_same_shape


@dataclass
class MIEstimate:
    nats: float           # mean I_NCE over the groups
    sd: float             # standard deviation over the groups
    ceiling: float        # log K
    groups: int           # how many groups of K pairs were averaged


@torch.no_grad()
def estimate_mi(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.07, K: int = 256,
                generator: torch.Generator | None = None, max_groups: int | None = None) -> MIEstimate:
    """:math:`I_\\text{NCE}` between paired embeddings ``z1``, ``z2`` ``(N, D)`` (row ``n`` of
    both from the same sample), critic ``z1 @ z2.T / tau``, over ``N // K`` disjoint groups of
    ``K`` pairs (shuffled by ``generator``; the remainder is left out; at most ``max_groups``)."""
    check_features(z1, "z1")
    check_features(z2, "z2")
    check_same_shape(z1, z2, ("z1", "z2"))
    check_number(tau, "tau", positive=True)
    return estimate_mi_from_critic(lambda a, b: z1[a].double() @ z2[b].double().T / tau, len(z1), K, generator,
                                   max_groups)


def estimate_mi_from_critic(critic, n: int, K: int, generator: torch.Generator | None = None,
                            max_groups: int | None = None) -> MIEstimate:
    """The same average for any ``critic(rows_a, rows_b) -> (K, K)`` scores over ``n`` pairs."""
    for name, v in (("K", K), ("n", n)) + ((("max_groups", max_groups),) if max_groups is not None else ()):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {v!r}")
    if K < 2:
        raise ValueError(f"K must be an integer >= 2, got {K}")
    if n < K:
        raise ValueError(f"estimating with K = {K} needs at least {K} pairs, got {n}")
    if max_groups is not None and max_groups < 1:
        raise ValueError(f"max_groups must be >= 1 or None, got {max_groups}")
    groups = n // K if max_groups is None else min(n // K, max_groups)
    order = torch.randperm(n, generator=generator)
    values = []
    for rows in order[: groups * K].view(groups, K):
        scores = critic(rows, rows)
        if tuple(scores.shape) != (K, K):
            raise ValueError(f"the critic must score every pair of the K = {K} rows it is given, (K, K), "
                             f"got {tuple(scores.shape)}")
        values.append(info_nce_bound(scores))
    values = torch.stack(values)
    sd = float(values.std()) if len(values) > 1 else 0.0
    return MIEstimate(float(values.mean()), sd, math.log(K), len(values))


def _check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return int(dim)


def gaussian_mi(dim: int, rho: float) -> float:
    """The true :math:`I(x; y) = -\\tfrac{d}{2}\\log(1 - \\rho^2)` nats of :func:`correlated_gaussians`."""
    _check_dim(dim)
    check_number(rho, "rho")
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie in (-1, 1), got {rho}")
    return -0.5 * dim * math.log(1 - rho ** 2)


def rho_for_mi(dim: int, nats: float) -> float:
    """The per-coordinate correlation that gives ``nats`` of mutual information in ``dim`` dimensions."""
    _check_dim(dim)
    if check_number(nats, "nats") < 0:
        raise ValueError(f"a mutual information is >= 0 nats, got {nats}")
    rho = math.sqrt(-math.expm1(-2 * nats / dim))
    if rho >= 1.0:
        raise ValueError(f"{nats} nats in {dim} dimensions needs a correlation that rounds to 1 in float64; "
                         f"use fewer nats or more dimensions")
    return rho


def correlated_gaussians(n: int, dim: int, rho: float, generator: torch.Generator | None = None):
    """``n`` pairs ``(x, y)`` ``(n, dim)`` float64: standard normal, correlation ``rho`` per coordinate."""
    gaussian_mi(dim, rho)                                     # checks rho
    x = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    noise = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return x, rho * x + math.sqrt(1 - rho ** 2) * noise


def gaussian_log_ratio(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    """The optimal critic :math:`\\log p(y_j | x_i) - \\log p(y_j)` ``(n, m)`` for every pair of
    rows of ``x`` ``(n, d)`` and ``y`` ``(m, d)``."""
    s2 = 1 - rho ** 2
    sq = torch.cdist(rho * x, y) ** 2                                      # (n, m): |y_j - rho x_i|^2
    return -sq / (2 * s2) + (y * y).sum(1)[None] / 2 - 0.5 * x.shape[1] * math.log(s2)
