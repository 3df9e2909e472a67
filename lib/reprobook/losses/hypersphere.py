"""Alignment and uniformity on the hypersphere (Wang & Isola, ICML 2020, arXiv 2005.10242).

Book: book/03-hypersphere. Official code: SsnL/align_uniform (``align_loss``, ``uniform_loss``).
"""
from __future__ import annotations

import math

import torch

from ._checks import check_features, check_normalized, check_number, check_same_shape


def align_loss(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0, check: bool = True) -> torch.Tensor:
    r"""Alignment loss, Eq. (2) of the paper:

    .. math:: \mathcal{L}_\text{align}(f;\alpha) = \mathbb{E}_{(x,y)\sim p_\text{pos}}
              \lVert f(x) - f(y) \rVert_2^\alpha

    ``x``, ``y``: ``(N, D)`` L2-normalised features of the N positive pairs; ``alpha > 0``.
    Returns a scalar in ``[0, 2^alpha]`` (0 iff every pair coincides). ``check=False`` skips
    the value checks (finite, unit norm) that synchronise with a GPU; shapes are always checked.
    """
    check_features(x, "x", values=check)
    check_features(y, "y", values=check)
    check_same_shape(x, y)
    if check:
        check_normalized(x, "x")
        check_normalized(y, "y")
    check_number(alpha, "alpha", positive=True)
    return (x - y).norm(p=2, dim=1).pow(alpha).mean()


def uniform_loss(x: torch.Tensor, t: float = 2.0, check: bool = True) -> torch.Tensor:
    r"""Uniformity loss, Eq. (3) of the paper (log of the average Gaussian potential):

    .. math:: \mathcal{L}_\text{uniform}(f;t) = \log \mathbb{E}_{x,y \overset{iid}{\sim} p_\text{data}}
              e^{-t\lVert f(x) - f(y)\rVert_2^2}

    estimated over the N(N-1)/2 distinct pairs of the batch ``x`` ``(N, D)`` (L2-normalised,
    N >= 2), as ``torch.pdist`` does in the official code. Its minimum over the sphere
    :math:`S^{D-1}` is negative; on the circle S^1 the uniform distribution gives
    :math:`-2t + \log I_0(2t)` (tests/losses/test_hypersphere.py).

    Computed as a log-sum-exp, so it stays finite for large ``t`` where ``exp().mean().log()``
    underflows to -inf.
    """
    check_features(x, "x", values=check)
    if check:
        check_normalized(x, "x")
    if x.shape[0] < 2:
        raise ValueError(f"uniform_loss needs at least 2 samples, got {x.shape[0]}")
    check_number(t, "t", positive=True)
    sq_dist = torch.pdist(x, p=2).pow(2)                      # (N(N-1)/2,)
    return torch.logsumexp(-t * sq_dist, dim=0) - math.log(sq_dist.numel())


def align_uniform_loss(x: torch.Tensor, y: torch.Tensor, lam: float = 1.0, alpha: float = 2.0,
                       t: float = 2.0, check: bool = True) -> torch.Tensor:
    r"""The paper's direct objective :math:`\mathcal{L}_\text{align} + \lambda\,
    (\mathcal{L}_\text{uniform}(x) + \mathcal{L}_\text{uniform}(y))/2`, as in the official
    STL-10 example (uniformity averaged over the two views)."""
    check_number(lam, "lam")
    return (align_loss(x, y, alpha, check)
            + lam * (uniform_loss(x, t, check) + uniform_loss(y, t, check)) / 2)
