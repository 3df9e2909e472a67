"""MobileNetV2 at half width (HobbitLong/RepDistiller ``models/mobilenetv2.py``, ``mobile_half``).

Expansion ratio 6, width multiplier 0.5: stride-2 3x3 stem of 16 channels (32 -> 16 pixels),
seven groups of inverted residuals with outputs 8/12/16/32/48/80/160 (the official keeps the 1x1
expansion conv even in the first group, whose ratio is 1), a 1x1 conv to 1280, average pool,
pre-logit width 1280, and a classifier ``Sequential(Linear)``. The official ``forward`` ignores
``preact``: the same features are returned either way.
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import feature_output

# (expansion ratio, output channels at width 1, blocks, first stride); ratio "T" = expand_ratio
_SETTING = [(1, 16, 1, 1), ("T", 24, 2, 1), ("T", 32, 3, 2), ("T", 64, 4, 2), ("T", 96, 3, 1),
            ("T", 160, 3, 2), ("T", 320, 1, 1)]


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expand-BN-ReLU, 3x3 depthwise(stride)-BN-ReLU, 1x1 project-BN (linear bottleneck);
    the input is added when the stride is 1 and the width unchanged."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = cin * expand_ratio
        self.use_res_connect = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, expand_ratio: int = 6, width_mult: float = 0.5, num_classes: int = 100):
        super().__init__()
        cin = int(32 * width_mult)
        self.conv1 = _conv_bn_relu(3, cin, 3, 2)
        self.blocks = nn.ModuleList()
        for t, c, n, s in _SETTING:
            cout = int(c * width_mult)
            ratio = expand_ratio if t == "T" else t
            group = []
            for stride in [s] + [1] * (n - 1):
                group.append(InvertedResidual(cin, cout, stride, ratio))
                cin = cout
            self.blocks.append(nn.Sequential(*group))
        self.feat_dim = int(1280 * width_mult) if width_mult > 1.0 else 1280
        self.conv2 = _conv_bn_relu(cin, self.feat_dim, 1, 1)
        self.avgpool = nn.AvgPool2d(2, ceil_mode=True)  # official: input_size // 16 with input_size 32
        self.classifier = nn.Sequential(nn.Linear(self.feat_dim, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):   # official: normal(0, sqrt(2 / (k*k*out))), i.e. He fan-out
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.blocks])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        """The projection BNs ending groups 1, 2, 4 and 6 (those that give f1..f4)."""
        return [self.blocks[i][-1].conv[-1] for i in (1, 2, 4, 6)]

    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        f0 = self.conv1(x)                            # (B, 16, 16, 16)
        f1 = self.blocks[1](self.blocks[0](f0))       # (B, 12, 16, 16)
        f2 = self.blocks[2](f1)                       # (B, 16, 8, 8)
        f3 = self.blocks[4](self.blocks[3](f2))       # (B, 48, 4, 4)
        f4 = self.blocks[6](self.blocks[5](f3))       # (B, 160, 2, 2)
        f5 = torch.flatten(self.avgpool(self.conv2(f4)), 1)  # (B, 1280) pre-logit
        logits = self.classifier(f5)                  # (B, num_classes)
        feats = [f0, f1, f2, f3, f4, f5]
        return feature_output(logits, feats, feats, is_feat, preact)


def mobile_half(num_classes: int = 100) -> MobileNetV2:
    return MobileNetV2(expand_ratio=6, width_mult=0.5, num_classes=num_classes)
