r"""CMC's objective over several views, one memory bank per view (Tian et al. 2019, Sec. 3.2-3.3).

Book: book/01-cmc/01-method (the graphs) and 03-more-views (core view against full graph).

For two views :math:`V_1, V_2` the objective is symmetric,
:math:`\mathcal{L}(V_1, V_2) = \mathcal{L}_{V_1}^{V_2} + \mathcal{L}_{V_2}^{V_1}`, where
:math:`\mathcal{L}_{V_1}^{V_2}` contrasts a sample's view-1 feature against the view-2 bank (its
own row the positive, ``K`` uniform rows the negatives). With ``M`` views (Eq. 6 and 7):

* **core view**: every view against the first, :math:`\sum_{j=2}^{M} \mathcal{L}(V_1, V_j)`;
* **full graph**: every pair, :math:`\sum_{1 \le i < j \le M} \mathcal{L}(V_i, V_j)`.

Each direction uses the NCE criterion (with its own running partition estimate) or the softmax
criterion of :mod:`reprobook.losses.nce`. As the official ``NCEAverage``, both directions of a
pair share the drawn indices, and the banks are updated with momentum after the scores are
computed.
"""
from __future__ import annotations

import math
from itertools import combinations

import torch
from torch import nn

from ._checks import as_integers, as_labels, check_normalized, check_number
from .contrastive import info_nce
from .nce import MemoryBank, PartitionEstimate, nce_loss, softmax_bank_loss

GRAPHS = ("core", "full")
CRITERIA = ("nce", "softmax")


def view_pairs(n_views: int, graph: str = "core") -> list[tuple[int, int]]:
    """The pairs of views contrasted: ``(0, j)`` for the core view, every ``i < j`` for the full graph."""
    if graph not in GRAPHS:
        raise ValueError(f"unknown graph {graph!r}; valid: {', '.join(GRAPHS)}")
    if n_views < 2:
        raise ValueError(f"contrasting views needs at least 2 views, got {n_views}")
    return [(0, j) for j in range(1, n_views)] if graph == "core" else list(combinations(range(n_views), 2))


class MultiviewContrast(nn.Module):
    """``forward(features, index)``: ``features`` a list of ``V`` tensors ``(B, D)`` (L2-normalised,
    one per view, row ``b`` of every view the same sample), ``index`` ``(B,)`` the samples' rows
    in the banks. Returns ``(loss, stats)`` with the loss summed over pairs and directions and
    ``stats`` the mean positive probability per direction (a training monitor).

    ``sample_idx`` ``(B, 1 + K)`` (optional): the bank rows to score, the positive first, used
    instead of the uniform draws and shared by every pair and direction (CRD's class-aware
    negatives, :func:`reprobook.data.contrast_sampler.contrast_indices`). The banks are still
    updated at ``index``."""

    def __init__(self, n_views: int, n_data: int, dim: int = 128, K: int = 16384, tau: float = 0.07,
                 momentum: float = 0.5, criterion: str = "nce", graph: str = "core",
                 z_momentum: float | None = 0.9, exclude_positive: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_number(tau, "tau", positive=True)
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; valid: {', '.join(CRITERIA)}")
        if int(K) < 1 or int(K) >= n_data:
            raise ValueError(f"K must be in [1, n_data) = [1, {n_data}), got {K}")
        self.pairs = view_pairs(n_views, graph)
        self.n_views, self.n_data, self.K, self.tau = n_views, int(n_data), int(K), float(tau)
        self.criterion, self.graph, self.exclude_positive = criterion, graph, exclude_positive
        self.banks = nn.ModuleList(MemoryBank(n_data, dim, momentum, generator) for _ in range(n_views))
        # one partition estimate per direction (query view -> bank view), as the official Z_l, Z_ab
        self.partitions = nn.ModuleDict({f"{i}->{j}": PartitionEstimate(n_data, z_momentum)
                                         for a, b in self.pairs for i, j in ((a, b), (b, a))})

    def _direction(self, query: torch.Tensor, bank: int, idx: torch.Tensor, key: str):
        scores = self.banks[bank].scores(query, idx, self.tau)                   # (B, 1 + K)
        if self.criterion == "softmax":
            loss = softmax_bank_loss(scores)
            p_pos = torch.softmax(scores.detach().float(), dim=1)[:, 0].mean()
        else:
            log_z = self.partitions[key](scores)
            loss = nce_loss(scores, self.n_data, log_z)
            p_pos = torch.exp(scores.detach().float()[:, 0] - log_z.float()).mean()
        return loss, p_pos

    def log_partitions(self) -> dict[str, tuple[float, float]]:
        """Per direction ``i->j`` of the NCE criterion: ``(first, current)`` estimates of
        log Z, the official one-shot value and the running one now."""
        return {key: (float(p.log_z_first), float(p.log_z)) for key, p in self.partitions.items()}

    def _check_sample_idx(self, sample_idx, B: int) -> torch.Tensor:
        sample_idx = as_integers(sample_idx, "sample_idx", "integer bank rows")
        if sample_idx.shape != (B, 1 + self.K):
            raise ValueError(f"sample_idx must be (B, 1 + K) = ({B}, {1 + self.K}) with the positive first, "
                             f"got {tuple(sample_idx.shape)}")
        rows = self.banks[0]._check_index(sample_idx.reshape(-1), "sample_idx")   # every bank has n_data rows
        return rows.long().view(B, 1 + self.K)

    def forward(self, features: list[torch.Tensor], index, generator: torch.Generator | None = None,
                sample_idx: torch.Tensor | None = None):
        if len(features) != self.n_views:
            raise ValueError(f"expected {self.n_views} views, got {len(features)}")
        B = features[0].shape[0]
        if any(f.shape != features[0].shape for f in features):
            raise ValueError(f"every view must have the same shape, got {[tuple(f.shape) for f in features]}")
        for v, f in enumerate(features):
            check_normalized(f, f"features[{v}]")
        index = as_labels(index, B, features[0].device, "index")
        if sample_idx is not None:
            sample_idx = self._check_sample_idx(sample_idx, B)
        total, stats = features[0].new_zeros(()), {}
        for a, b in self.pairs:
            idx = (sample_idx if sample_idx is not None      # shared by both directions
                   else self.banks[b].sample(index, self.K, generator, self.exclude_positive))
            for i, j in ((a, b), (b, a)):
                key = f"{i}->{j}"
                loss, p_pos = self._direction(features[i], j, idx, key)
                total = total + loss
                stats[f"p_pos {key}"] = p_pos
                if self.criterion == "nce":
                    stats[f"log_z {key}"] = self.partitions[key].log_z.float()
        for v, f in enumerate(features):
            self.banks[v].update(index, f)
        return total, stats


class CrossViewInfoNCE(nn.Module):
    r"""The objective of :class:`MultiviewContrast` with in-batch negatives instead of memory
    banks (the InfoNCE of :func:`reprobook.losses.contrastive.info_nce`, as SimCLR and the
    InfoMin chapter's smoke runs): for each pair of the ``graph`` and both directions, a view's
    feature against the other view's features of the batch, its own the positive (``B - 1``
    negatives). Same call as :class:`MultiviewContrast`: ``forward(features, index, generator)``
    returns ``(loss, stats)``; ``index`` and ``generator`` are accepted and unused (no bank).
    ``stats`` holds the mean positive probability per direction and the batch's
    :math:`I_\text{NCE} = \log B - \mathcal{L}` per pair (nats, ceiling ``log B``)."""

    def __init__(self, n_views: int, tau: float = 0.07, graph: str = "core"):
        super().__init__()
        check_number(tau, "tau", positive=True)
        self.pairs, self.n_views, self.tau, self.graph = view_pairs(n_views, graph), n_views, float(tau), graph

    def forward(self, features: list[torch.Tensor], index=None, generator: torch.Generator | None = None):
        if len(features) != self.n_views:
            raise ValueError(f"expected {self.n_views} views, got {len(features)}")
        if any(f.shape != features[0].shape for f in features):
            raise ValueError(f"every view must have the same shape, got {[tuple(f.shape) for f in features]}")
        for v, f in enumerate(features):
            check_normalized(f, f"features[{v}]")
        B = features[0].shape[0]
        total, stats = features[0].new_zeros(()), {}
        for a, b in self.pairs:
            pair = features[0].new_zeros(())
            for i, j in ((a, b), (b, a)):
                loss = info_nce(features[i], features[j], tau=self.tau, check=False)
                pair = pair + loss
                with torch.no_grad():
                    logits = features[i].detach().float() @ features[j].detach().float().T / self.tau
                    stats[f"p_pos {i}->{j}"] = torch.softmax(logits, dim=1).diagonal().mean()
            total = total + pair
            stats[f"i_nce {a}-{b}"] = math.log(B) - pair.detach() / 2
        return total, stats
