"""CMC's AlexNet-style encoder (official ``alexnet_half``, HobbitLong/CMC models/alexnet.py),
adapted to 32x32 CIFAR images.

The official encoder of one view is AlexNet at half width: five conv blocks (96, 256, 384, 384,
256 channels, halved; batch norm, ReLU, 3x3/2 max pools after blocks 1, 2 and 5) and two
fully-connected blocks fc6, fc7 (4096 halved, batch norm, ReLU); fc8 maps to the 128-d embedding.
For 224x224 inputs the first convolution is 11x11 with stride 4. On 32x32 images that would
leave nothing to pool, so here it is 3x3 with stride 1; the pools then take 32 -> 15 -> 7 -> 3.
Everything else keeps the official layout. fc8 is the projection head of
:class:`~reprobook.models.ContrastiveModel`, so ``feat_dim`` is fc7's width.
"""
from __future__ import annotations

import torch
from torch import nn

_CONV = (96, 256, 384, 384, 256)     # AlexNet's full-width conv channels
_FC = 4096                           # and fully-connected width


def _conv(cin: int, cout: int, k: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(3, 2)) if pool else nn.Sequential(*layers)


def _pooled(size: int) -> int:
    return (size - 3) // 2 + 1


class AlexNetCMC(nn.Module):
    """``width`` scales every layer (0.5: the official half-width encoder of one view)."""

    def __init__(self, width: float = 0.5, in_channels: int = 3, image_size: int = 32):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        c = [max(1, round(n * width)) for n in _CONV]
        fc = max(1, round(_FC * width))
        self.image_size = int(image_size)
        self.convs = nn.Sequential(_conv(in_channels, c[0], 3, True), _conv(c[0], c[1], 5, True),
                                   _conv(c[1], c[2], 3, False), _conv(c[2], c[3], 3, False),
                                   _conv(c[3], c[4], 3, True))
        side = _pooled(_pooled(_pooled(self.image_size)))
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for three 3x3/2 max pools")
        self.fcs = nn.Sequential(nn.Flatten(), nn.Linear(c[4] * side * side, fc), nn.BatchNorm1d(fc),
                                 nn.ReLU(inplace=True),
                                 nn.Linear(fc, fc), nn.BatchNorm1d(fc), nn.ReLU(inplace=True))
        self.feat_dim = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, C, 32, 32) -> (B, feat_dim)
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"AlexNetCMC was built for {self.image_size}x{self.image_size} images, "
                             f"got {tuple(x.shape[-2:])}")
        return self.fcs(self.convs(x))
