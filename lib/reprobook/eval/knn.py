"""k-nearest-neighbour classification on frozen, L2-normalised features."""
from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_accuracy(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                 test_labels: torch.Tensor, k: int = 200, tau: float | None = 0.1,
                 num_classes: int | None = None, chunk: int = 1024) -> float:
    """Top-1 % of a cosine-similarity kNN vote.

    With ``tau`` each of the ``k`` neighbours votes with weight ``exp(s / tau)`` (the weighted
    vote of Wu et al. 2018, used across the contrastive papers); with ``tau=None`` a plain
    majority vote.
    """
    if train_feats.ndim != 2 or test_feats.ndim != 2 or train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {tuple(train_feats.shape)} "
                         f"and {tuple(test_feats.shape)}")
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    k = min(k, len(train_feats))
    train = F.normalize(train_feats.float(), dim=1)
    correct = 0
    for s in range(0, len(test_feats), chunk):
        q = F.normalize(test_feats[s:s + chunk].float(), dim=1)
        sim, idx = (q @ train.T).topk(k, dim=1)                       # (b, k)
        weight = torch.ones_like(sim) if tau is None else torch.exp(sim / tau)
        votes = torch.zeros(len(q), num_classes, device=q.device)
        votes.scatter_add_(1, train_labels[idx], weight)
        correct += (votes.argmax(1) == test_labels[s:s + chunk]).sum().item()
    return 100.0 * correct / max(1, len(test_feats))
