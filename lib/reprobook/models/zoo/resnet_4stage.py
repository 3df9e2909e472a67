"""RepDistiller's ``ResNet50`` (HobbitLong/RepDistiller ``models/resnetv2.py``; "v2" is only the
file name, the blocks are ordinary post-activation ones).

A 4-stage bottleneck ResNet-50 for 32x32 inputs: 3x3 stem with 64 channels and no max-pool,
[3, 4, 6, 3] bottlenecks of widths 64/128/256/512 (outputs x4) at 32/16/8/4 pixels, global
average pool, pre-logit width 2048. This is the layout of
:func:`reprobook.models.resnet_cifar.resnet50`, so its ``Bottleneck`` is reused (via
:class:`~reprobook.models.zoo.resnet.PreactBottleneck`); the module names follow the official file,
so its checkpoints (e.g. the CRD teacher ``ResNet50``) load unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import feature_output, run_stage
from .resnet import PreactBottleneck, make_stage


class ResNet4Stage(nn.Module):
    """Bottleneck ResNet with stages ``num_blocks`` of widths 64/128/256/512 (x4 out)."""

    def __init__(self, num_blocks: list[int], num_classes: int = 100):
        super().__init__()
        block = PreactBottleneck
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = make_stage(block, 64, 64, num_blocks[0], stride=1)
        self.layer2 = make_stage(block, 64 * block.expansion, 128, num_blocks[1], stride=2)
        self.layer3 = make_stage(block, 128 * block.expansion, 256, num_blocks[2], stride=2)
        self.layer4 = make_stage(block, 256 * block.expansion, 512, num_blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feat_dim = 512 * block.expansion
        self.linear = nn.Linear(self.feat_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.bn1, self.layer1, self.layer2, self.layer3, self.layer4])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [self.layer1[-1].bn3, self.layer2[-1].bn3, self.layer3[-1].bn3, self.layer4[-1].bn3]

    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        f0 = torch.relu(self.bn1(self.conv1(x)))      # (B, 64, 32, 32)
        f1, f1_pre = run_stage(self.layer1, f0)       # (B, 256, 32, 32)
        f2, f2_pre = run_stage(self.layer2, f1)       # (B, 512, 16, 16)
        f3, f3_pre = run_stage(self.layer3, f2)       # (B, 1024, 8, 8)
        f4, f4_pre = run_stage(self.layer4, f3)       # (B, 2048, 4, 4)
        f5 = torch.flatten(self.avgpool(f4), 1)       # (B, 2048) pre-logit
        logits = self.linear(f5)                      # (B, num_classes)
        return feature_output(logits, [f0, f1, f2, f3, f4, f5],
                              [f0, f1_pre, f2_pre, f3_pre, f4_pre, f5], is_feat, preact)


def ResNet50(num_classes: int = 100) -> ResNet4Stage:  # noqa: N802 (the official name)
    return ResNet4Stage([3, 4, 6, 3], num_classes)
