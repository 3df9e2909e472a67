"""Projection heads and the encoder + head composition used by the contrastive chapters."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class L2Norm(nn.Module):
    """Project onto the unit hypersphere: ``x / ||x||_2`` along ``dim``."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=self.dim)


def mlp_head(in_dim: int, hidden_dim: int | None, out_dim: int) -> nn.Module:
    """``Linear(in, hidden) - ReLU - Linear(hidden, out)``; a plain ``Linear`` when hidden is None."""
    if hidden_dim is None:
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


class ContrastiveModel(nn.Module):
    """``encoder`` -> ``head`` -> L2 normalisation.

    ``forward`` returns the normalised embedding ``z`` ``(B, out_dim)`` on the hypersphere;
    ``features`` the encoder's pooled features ``(B, feat_dim)`` used for linear evaluation.
    """

    def __init__(self, encoder: nn.Module, out_dim: int = 128, hidden_dim: int | None = None,
                 normalize: bool = True):
        super().__init__()
        self.encoder = encoder
        self.head = mlp_head(encoder.feat_dim, hidden_dim, out_dim)
        self.normalize = normalize

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.encoder(x))
        return F.normalize(z.float(), dim=1) if self.normalize else z
