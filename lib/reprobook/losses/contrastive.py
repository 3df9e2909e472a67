r"""The contrastive (InfoNCE) loss with M negatives and temperature tau.

Shared by the hypersphere, CMC, InfoMin and SupCon chapters. With in-batch negatives it is the
NT-Xent loss of SimCLR; with a memory bank or queue the negatives are passed explicitly.

Book: book/03-hypersphere (Eq. 1 there, and the limit of Theorem 1).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._checks import check_features, check_number, check_same_shape


def info_nce(query: torch.Tensor, key: torch.Tensor, negatives: torch.Tensor | None = None,
             tau: float = 0.07, reduction: str = "mean", check: bool = True) -> torch.Tensor:
    r"""Contrastive loss, Eq. (1) of Wang & Isola (2020) (van den Oord et al. 2018's InfoNCE):

    .. math:: \mathcal{L}_\text{contrastive}(f;\tau,M) = \mathbb{E}\left[-\log
       \frac{e^{f(x)^\top f(y)/\tau}}{e^{f(x)^\top f(y)/\tau} + \sum_{i=1}^{M} e^{f(x_i^-)^\top f(x)/\tau}}\right]

    * ``query`` ``(B, D)``: f(x); ``key`` ``(B, D)``: f(y), the positive of each query.
    * ``negatives``: ``(M, D)`` shared by all queries (a memory bank), ``(B, M, D)`` one set
      per query, or None for in-batch negatives: the keys of the other B-1 queries (M = B-1).

    Features are used as given (normalise them for the hypersphere form). ``reduction``:
    ``mean``, ``sum`` or ``none`` (per-query losses ``(B,)``). ``check=False`` skips the
    NaN/inf check (a GPU sync); shapes are always checked.
    """
    check_features(query, "query", values=check)
    check_features(key, "key", values=check)
    check_same_shape(query, key, ("query", "key"))
    check_number(tau, "tau", positive=True)
    B, D = query.shape
    if negatives is not None:
        if not torch.is_tensor(negatives) or negatives.ndim not in (2, 3):
            raise ValueError(f"negatives must be a tensor (M, D) or (B, M, D), got "
                             f"{tuple(negatives.shape) if torch.is_tensor(negatives) else type(negatives).__name__}")
        check_features(negatives, "negatives", ndim=negatives.ndim, values=check)
        if negatives.dtype != query.dtype:
            raise TypeError(f"negatives must have the dtype of query ({query.dtype}), got {negatives.dtype}")
    pos = (query * key).sum(dim=1, keepdim=True)                    # (B, 1)
    if negatives is None:
        if B < 2:
            raise ValueError("in-batch negatives need a batch of at least 2")
        neg = _off_diagonal(query @ key.T)                          # (B, B-1)
    elif negatives.ndim == 2:
        if negatives.shape[1] != D:
            raise ValueError(f"negatives must be (M, {D}), got {tuple(negatives.shape)}")
        neg = query @ negatives.T                                   # (B, M)
    elif negatives.ndim == 3:
        if negatives.shape[0] != B or negatives.shape[2] != D:
            raise ValueError(f"negatives must be ({B}, M, {D}), got {tuple(negatives.shape)}")
        neg = torch.einsum("bd,bmd->bm", query, negatives)          # (B, M)
    else:
        raise ValueError(f"negatives must be (M, D) or (B, M, D), got {tuple(negatives.shape)}")
    return info_nce_from_similarities(pos, neg, tau, reduction)


def _off_diagonal(sim: torch.Tensor) -> torch.Tensor:
    """Row ``i`` of a square ``(B, B)`` matrix without its diagonal entry: ``(B, B-1)``."""
    B = sim.shape[0]
    return sim[~torch.eye(B, dtype=torch.bool, device=sim.device)].view(B, B - 1)


def info_nce_from_similarities(pos: torch.Tensor, neg: torch.Tensor, tau: float,
                               reduction: str = "mean") -> torch.Tensor:
    """Eq. (1) from precomputed similarities: ``pos`` ``(B, 1)`` = f(x).f(y), ``neg`` ``(B, M)``
    = f(x).f(x_i^-). Cross-entropy of the logits ``[pos, neg] / tau`` with the positive first."""
    if pos.ndim != 2 or pos.shape[1] != 1 or neg.ndim != 2 or neg.shape[0] != pos.shape[0]:
        raise ValueError(f"pos must be (B, 1) and neg (B, M), got {tuple(pos.shape)} and {tuple(neg.shape)}")
    check_number(tau, "tau", positive=True)
    logits = torch.cat([pos, neg], dim=1) / tau                     # (B, 1 + M)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()                                     # the log-sum-exp in fp32
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target, reduction=reduction)


def info_nce_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""The InfoNCE lower bound on the mutual information, in nats (van den Oord et al. 2018;
    Eq. (2) of Tian et al. 2020, InfoMin):

    .. math:: I(v_1; v_2) \ge I_\text{NCE} = \log K - \mathcal{L}_\text{NCE},\qquad
       \mathcal{L}_\text{NCE} = -\mathbb{E}_i\left[\log \frac{e^{s_{ii}}}{\sum_{j=1}^{K} e^{s_{ij}}}\right]

    ``scores`` ``(K, K)``: the critic :math:`s_{ij} = f(v_1^i, v_2^j)` of ``K`` pairs drawn from
    the joint, the positives on the diagonal (for embeddings, ``z1 @ z2.T / tau``). Since
    :math:`\mathcal{L}_\text{NCE} \ge 0` the bound never exceeds its ceiling :math:`\log K`:
    a mutual information larger than that reads as (at most) ``log K``, whatever the critic.
    With the optimal critic :math:`s_{ij} = \log p(v_2^j | v_1^i) / p(v_2^j) + c(v_1^i)` it is
    tight up to :math:`O(e^{I}/K)` when :math:`I \ll \log K`.
    """
    check_features(scores, "scores")
    K = scores.shape[0]
    if scores.shape != (K, K) or K < 2:
        raise ValueError(f"scores must be a square (K, K) matrix with K >= 2, got {tuple(scores.shape)}")
    pos, neg = scores.diagonal()[:, None], _off_diagonal(scores)              # (K, 1), (K, K-1)
    return math.log(K) - info_nce_from_similarities(pos, neg, tau=1.0)


def contrastive_limit(query: torch.Tensor, key: torch.Tensor, negatives: torch.Tensor,
                      tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two terms of the limit in Theorem 1 of Wang & Isola (2020):

    .. math:: \lim_{M\to\infty} \mathcal{L}_\text{contrastive}(f;\tau,M) - \log M =
       -\frac{1}{\tau}\mathbb{E}[f(x)^\top f(y)] +
       \mathbb{E}_x\left[\log \mathbb{E}_{x^-}\left[e^{f(x^-)^\top f(x)/\tau}\right]\right]

    The first term favours alignment, the second uniformity. Expectations over :math:`x^-` are
    taken over the rows of ``negatives`` ``(N, D)`` (the data distribution). Returns
    ``(align_term, uniform_term)``; their sum is the limit.
    """
    check_features(negatives, "negatives")
    align_term = -(query * key).sum(dim=1).mean() / tau
    log_mean = torch.logsumexp(query @ negatives.T / tau, dim=1) - math.log(len(negatives))
    return align_term, log_mean.mean()
