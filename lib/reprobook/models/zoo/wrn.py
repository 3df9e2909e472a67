"""Wide ResNets WRN-d-k (HobbitLong/RepDistiller ``models/wrn.py``; Zagoruyko & Komodakis 2016).

Pre-activation basic blocks (BN-ReLU-conv3x3, twice), ``n = (depth - 4) / 6`` per stage, stem
conv of 16 channels, stage widths 16k/32k/64k at 32/16/8 pixels, a final BN-ReLU, pre-logit width
64k. ``wrn_16_1``/``wrn_16_2``/``wrn_40_1``/``wrn_40_2`` are depth 16/40, widen factor 1/2. Module
names follow the official file (``block1.layer.0.convShortcut`` ...), so its checkpoints load.

As the blocks are pre-activation, the official ``preact=True`` features are the stage outputs
passed through the *next* BN (without ReLU); those BNs are called a second time to get them, so
in train mode that call also updates their running statistics once more, as in the official code.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ._common import feature_output


class WideBasicBlock(nn.Module):
    """BN-ReLU-conv3x3(stride)-BN-ReLU-[dropout]-conv3x3 plus the input, or a 1x1 conv of the
    activated input when the width changes."""

    def __init__(self, cin: int, cout: int, stride: int, drop_rate: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop_rate = drop_rate
        # official name; None when the width is unchanged (then the stride is 1 too)
        self.convShortcut = None if cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.relu(self.bn1(x))
        shortcut = x if self.convShortcut is None else self.convShortcut(act)
        out = F.relu(self.bn2(self.conv1(act)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return shortcut + self.conv2(out)


class WideStage(nn.Module):
    """``n`` wide blocks, the first one with ``stride`` (official ``NetworkBlock``)."""

    def __init__(self, n: int, cin: int, cout: int, stride: int, drop_rate: float = 0.0):
        super().__init__()
        self.layer = nn.Sequential(*[WideBasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1, drop_rate)
                                     for i in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth: int, widen_factor: int, num_classes: int = 100, drop_rate: float = 0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.block1 = WideStage(n, widths[0], widths[1], 1, drop_rate)
        self.block2 = WideStage(n, widths[1], widths[2], 2, drop_rate)
        self.block3 = WideStage(n, widths[2], widths[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.feat_dim = widths[3]
        self.fc = nn.Linear(self.feat_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):   # official: normal(0, sqrt(2 / (k*k*out))), i.e. He fan-out
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.block1, self.block2, self.block3])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        """The BNs that read the stage outputs: first BN of stages 2 and 3, and the final BN."""
        return [self.block2.layer[0].bn1, self.block3.layer[0].bn1, self.bn1]

    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        f0 = self.conv1(x)                            # (B, 16, 32, 32), no BN/ReLU yet
        f1 = self.block1(f0)                          # (B, 16k, 32, 32)
        f2 = self.block2(f1)                          # (B, 32k, 16, 16)
        f3 = self.block3(f2)                          # (B, 64k, 8, 8)
        out = F.relu(self.bn1(f3))
        f4 = torch.flatten(F.avg_pool2d(out, 8), 1)   # (B, 64k) pre-logit
        logits = self.fc(f4)                          # (B, num_classes)
        if is_feat and preact:                        # official: re-apply the BNs that follow each stage
            pre = [f0, *[bn(f) for bn, f in zip(self.get_bn_before_relu(), (f1, f2, f3))], f4]
        else:
            pre = None
        return feature_output(logits, [f0, f1, f2, f3, f4], pre, is_feat, preact)


def wrn_16_1(num_classes: int = 100) -> WideResNet:
    return WideResNet(16, 1, num_classes)


def wrn_16_2(num_classes: int = 100) -> WideResNet:
    return WideResNet(16, 2, num_classes)


def wrn_40_1(num_classes: int = 100) -> WideResNet:
    return WideResNet(40, 1, num_classes)


def wrn_40_2(num_classes: int = 100) -> WideResNet:
    return WideResNet(40, 2, num_classes)
