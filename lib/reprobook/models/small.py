"""A small convolutional encoder for smoke runs on CPU (about 100x cheaper than a ResNet-18)."""
from __future__ import annotations

import torch
from torch import nn


class SmallConvNet(nn.Module):
    """conv(3->w, stride s) - conv(w->2w, stride 2) - conv(2w->4w, stride 2) - global pool.

    Three 3x3 conv layers with batch norm and ReLU, then global average pooling: the
    ``feat_dim = 4 * width`` features play the role of the ResNet's pooled features. With
    ``stem_stride=2`` the first layer already halves the resolution (about 3x cheaper again,
    for smoke runs on 2 CPU cores).
    """

    def __init__(self, width: int = 16, in_channels: int = 3, stem_stride: int = 1):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feat_dim = 4 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, 3, H, W) -> (B, feat_dim)
        return self.features(x)
