r"""Noise-contrastive estimation with a memory bank (Wu et al. 2018; Tian et al., CMC 2019).

Shared by the CMC, CRD and InfoMin chapters. Book: book/01-cmc/01-method (the objective, the
partition estimate) and 02-two-view-cmc (both criteria trained).

A :class:`MemoryBank` keeps one L2-normalised row per training sample (``N × D``), updated with
momentum ``m`` from the features of the current batch:
:math:`v_i \leftarrow \mathrm{normalize}(m\,v_i + (1-m)\,f_i)`. For a query :math:`f` of sample
``i`` (one view), the *positive* is the bank row of ``i`` in the **other** view and the ``K``
negatives are rows drawn uniformly from that bank (:math:`P_n = 1/N`), as the official
``NCEAverage`` of HobbitLong/CMC does.

Two criteria over the same scores :math:`s_k = v_k^\top f / \tau`:

* **NCE** (Eq. 3 of CMC with the noise distribution :math:`P_n`): with
  :math:`P(k) = e^{s_k} / Z` the model's unnormalised density and
  :math:`h(k) = P(k) / (P(k) + K P_n)` the probability that ``k`` came from the data,

  .. math:: \mathcal{L}_\mathrm{NCE} = -\mathbb{E}\Big[\log h(\text{pos}) +
            \sum_{j=1}^{K} \log\big(1 - h(\text{neg}_j)\big)\Big].

  The partition :math:`Z` is unknown. The official code estimates it once, from the first batch,
  as :math:`Z \approx N\,\overline{e^{s}}` and keeps it fixed, an estimate known to be unstable
  (the first batch sees a random bank). Here it is a running average of the same estimator,
  :math:`Z \leftarrow \mu Z + (1-\mu) N\,\overline{e^{s}}` (``z_momentum``; 0 recomputes it
  every batch, and ``z_momentum=None`` reproduces the official one-shot estimate).
* **softmax** (InfoNCE over the bank): the cross-entropy of the ``1 + K`` logits with the
  positive first, :func:`~reprobook.losses.contrastive.info_nce_from_similarities`.
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ._checks import as_labels, check_features, check_number
from .contrastive import info_nce_from_similarities


class MemoryBank(nn.Module):
    """``N`` unit-norm rows of dimension ``D`` (a buffer: saved with the model, never trained)."""

    def __init__(self, size: int, dim: int, momentum: float = 0.5, generator: torch.Generator | None = None):
        super().__init__()
        if int(size) < 2 or int(dim) < 1:
            raise ValueError(f"a memory bank needs size >= 2 and dim >= 1, got {size} x {dim}")
        check_number(momentum, "momentum")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        stdv = 1.0 / math.sqrt(dim / 3)               # the official initialisation, then normalised
        rows = torch.rand(size, dim, generator=generator) * 2 * stdv - stdv
        self.register_buffer("rows", nn.functional.normalize(rows, dim=1))    # (N, D)

    @property
    def size(self) -> int:
        return self.rows.shape[0]

    def sample(self, index: torch.Tensor, K: int, generator: torch.Generator | None = None,
               exclude_positive: bool = True) -> torch.Tensor:
        """Indices ``(B, 1 + K)``: each sample's own row first, then ``K`` uniform draws.

        With ``exclude_positive`` a draw equal to the sample itself is replaced by another uniform
        draw (the official code keeps such collisions; at N = 50,000 and K = 16,384 a sample meets one
        with probability 1 - exp(-K/N), about 28 %)."""
        index = self._check_index(index)
        if int(K) < 1:
            raise ValueError(f"K (the number of negatives) must be >= 1, got {K}")
        B, device = len(index), self.rows.device
        if exclude_positive:         # uniform over the other N - 1 rows: draw in [0, N-1), skip own index
            draws = torch.randint(self.size - 1, (B, K), generator=generator, device=device)
            draws = draws + (draws >= index[:, None]).long()
        else:
            draws = torch.randint(self.size, (B, K), generator=generator, device=device)
        return torch.cat([index[:, None], draws], dim=1)

    def scores(self, query: torch.Tensor, idx: torch.Tensor, tau: float) -> torch.Tensor:
        """``(B, 1 + K)`` logits :math:`v_k^\\top f / \\tau` of ``query`` ``(B, D)`` against the rows ``idx``."""
        check_features(query, "query", values=False)
        check_number(tau, "tau", positive=True)
        if query.shape[1] != self.rows.shape[1]:
            raise ValueError(f"query has dimension {query.shape[1]}, the bank {self.rows.shape[1]}")
        if idx.ndim != 2 or idx.shape[0] != query.shape[0]:
            raise ValueError(f"idx must be (B, 1 + K) with B = {query.shape[0]}, got {tuple(idx.shape)}")
        dtype = torch.promote_types(query.dtype, torch.float32)       # never bf16/fp16, even under autocast
        with torch.autocast(query.device.type, enabled=False):
            weight = self.rows[idx].to(dtype)                           # (B, 1 + K, D)
            return torch.einsum("bkd,bd->bk", weight, query.to(dtype)) / tau     # (B, 1 + K)

    @torch.no_grad()
    def update(self, index: torch.Tensor, features: torch.Tensor) -> None:
        """:math:`v_i \\leftarrow \\mathrm{normalize}(m v_i + (1-m) f_i)` for the batch's samples."""
        index = self._check_index(index)
        check_features(features, "features")
        if len(features) != len(index) or features.shape[1] != self.rows.shape[1]:
            raise ValueError(f"features must be ({len(index)}, {self.rows.shape[1]}), got {tuple(features.shape)}")
        mixed = self.rows[index] * self.momentum + features.detach().to(self.rows.dtype) * (1 - self.momentum)
        self.rows.index_copy_(0, index, nn.functional.normalize(mixed, dim=1))

    def _check_index(self, index, name: str = "index") -> torch.Tensor:
        """``index`` ``(n,)`` as integer rows of this bank, on its device (else a clear error)."""
        index = as_labels(index, len(index), self.rows.device, name)
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= self.size):
            raise ValueError(f"{name} must lie in [0, {self.size}), got [{int(index.min())}, {int(index.max())}]")
        return index


def _check_scores(scores: torch.Tensor) -> None:
    if scores.ndim != 2 or scores.shape[0] < 1 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (B, 1 + K) with B >= 1 and K >= 1, got {tuple(scores.shape)}")


def nce_loss(scores: torch.Tensor, n_data: int, log_z: torch.Tensor | float) -> torch.Tensor:
    r"""The NCE loss (see the module docstring) of ``scores`` ``(B, 1 + K)`` (positive first,
    logits :math:`s = v^\top f / \tau`) with noise :math:`P_n = 1 / N` (``n_data`` = N) and the
    log-partition ``log_z``. Computed in log space: :math:`\log h = s - \log Z -
    \mathrm{logaddexp}(s - \log Z, \log(K P_n))`, finite where the official ``exp`` overflows."""
    _check_scores(scores)
    if int(n_data) < 1:
        raise ValueError(f"n_data must be >= 1, got {n_data}")
    K = scores.shape[1] - 1
    log_p = scores.float() - log_z                                     # log P(k) = s_k - log Z
    log_noise = math.log(K / n_data)                                   # log(K P_n)
    log_denominator = torch.logaddexp(log_p, torch.full_like(log_p, log_noise))
    log_h_pos = (log_p - log_denominator)[:, 0]                        # log h(pos)
    log_1m_h_neg = (log_noise - log_denominator)[:, 1:]                # log(1 - h(neg_j))
    return -(log_h_pos + log_1m_h_neg.sum(1)).mean()


class PartitionEstimate(nn.Module):
    """The running estimate of :math:`\\log Z` for :func:`nce_loss` (one per view).

    ``z_momentum=None`` is the official one-shot estimate (first batch only); otherwise
    :math:`Z \\leftarrow \\mu Z + (1-\\mu) N \\overline{e^{s}}` each batch (the first sets it)."""

    def __init__(self, n_data: int, z_momentum: float | None = 0.9):
        super().__init__()
        if isinstance(n_data, bool) or not isinstance(n_data, numbers.Integral) or n_data < 1:
            raise ValueError(f"n_data (the number of training samples) must be a positive int, got {n_data!r}")
        if z_momentum is not None:
            check_number(z_momentum, "z_momentum")
            if not 0.0 <= z_momentum < 1.0:
                raise ValueError(f"z_momentum must be in [0, 1) or None, got {z_momentum}")
        self.n_data, self.z_momentum = int(n_data), z_momentum
        self.register_buffer("log_z", torch.tensor(float("nan"), dtype=torch.float64))
        # the first batch's estimate, which the official code keeps for the whole run
        self.register_buffer("log_z_first", torch.tensor(float("nan"), dtype=torch.float64))

    @torch.no_grad()
    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        # log(N mean(e^s)) = log N + logsumexp(s) - log(numel)
        batch = (math.log(self.n_data) + torch.logsumexp(scores.detach().double().flatten(), 0)
                 - math.log(scores.numel()))
        if torch.isnan(self.log_z):
            self.log_z.copy_(batch)
            self.log_z_first.copy_(batch)
        elif self.z_momentum is not None:
            mu = self.z_momentum
            self.log_z.copy_(torch.logaddexp(self.log_z + math.log(mu), batch + math.log(1 - mu))
                             if mu > 0 else batch)
        return self.log_z.to(scores.dtype)


def softmax_bank_loss(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE over the bank: cross-entropy of the ``(B, 1 + K)`` logits (already divided by
    tau) with the positive first."""
    _check_scores(scores)
    return info_nce_from_similarities(scores[:, :1], scores[:, 1:], tau=1.0)
