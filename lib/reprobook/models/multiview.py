"""One encoder per view (CMC): each view's channels through its own encoder, head and L2 norm."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .heads import ContrastiveModel


class MultiviewEncoder(nn.Module):
    """``V`` encoders built from one spec (``{"name": "small", "width": 16}``, ``{"name":
    "resnet18", "width": 0.5}``, ...), the ``v``-th reading ``in_channels[v]`` channels.

    ``forward(views)`` gives the normalised embeddings ``[(B, out_dim)] * V`` the contrastive
    objective compares; ``features(views)`` the encoders' pooled features concatenated
    ``(B, sum feat_dim)``, what CMC's linear evaluation reads (L and ab features together).
    """

    def __init__(self, encoder: dict, in_channels: Sequence[int], out_dim: int = 128, hidden_dim: int | None = None):
        super().__init__()
        from . import build_encoder

        if not in_channels or any(int(c) < 1 for c in in_channels):
            raise ValueError(f"in_channels must list the channels of each view, got {in_channels}")
        self.nets = nn.ModuleList(ContrastiveModel(build_encoder(**encoder, in_channels=int(c)), out_dim, hidden_dim)
                                  for c in in_channels)
        self.feat_dims = [net.encoder.feat_dim for net in self.nets]

    def _check(self, views):
        if len(views) != len(self.nets):
            raise ValueError(f"expected {len(self.nets)} views, got {len(views)}")

    def forward(self, views: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        self._check(views)
        return [net(v) for net, v in zip(self.nets, views)]

    def features(self, views: Sequence[torch.Tensor]) -> torch.Tensor:
        self._check(views)
        return torch.cat([net.features(v) for net, v in zip(self.nets, views)], dim=1)
