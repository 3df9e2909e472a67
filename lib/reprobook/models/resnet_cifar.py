"""ResNets for 32x32 inputs (3x3 stem, no max-pool), as in SupContrast / CRD / RFS.

``resnet18``/``resnet34`` use basic blocks, ``resnet50``/``resnet101`` bottlenecks; the pooled
feature sizes are 512 and 2048. ``width`` scales every stage (CMC's half/double widths).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != 4 * planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, 4 * planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(4 * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """Backbone returning pooled features ``(B, feat_dim)``."""

    def __init__(self, block, num_blocks, width: float = 1.0, in_channels: int = 3, stem_channels: int | None = None):
        super().__init__()
        widths = [int(64 * width * 2 ** k) for k in range(4)]
        # the stem scales with the width unless given (CMC's half-width ResNets keep a 64-channel stem)
        self.cin = widths[0] if stem_channels is None else int(stem_channels)
        self.conv1 = nn.Conv2d(in_channels, self.cin, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.cin)
        self.layers = nn.Sequential(*[self._stage(block, w, n, 1 if k == 0 else 2)
                                      for k, (w, n) in enumerate(zip(widths, num_blocks))])
        self.feat_dim = widths[-1] * block.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, block, planes, n, stride):
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(block(self.cin, planes, s))
            self.cin = planes * block.expansion
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, 3, 32, 32) -> (B, feat_dim)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


def resnet18(**kw) -> ResNetCIFAR:
    return ResNetCIFAR(BasicBlock, [2, 2, 2, 2], **kw)


def resnet34(**kw) -> ResNetCIFAR:
    return ResNetCIFAR(BasicBlock, [3, 4, 6, 3], **kw)


def resnet50(**kw) -> ResNetCIFAR:
    return ResNetCIFAR(Bottleneck, [3, 4, 6, 3], **kw)


def resnet101(**kw) -> ResNetCIFAR:
    return ResNetCIFAR(Bottleneck, [3, 4, 23, 3], **kw)
