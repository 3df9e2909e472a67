"""RepDistiller's CIFAR ResNets (HobbitLong/RepDistiller ``models/resnet.py``).

Three stages of basic blocks at 32x32, 16x16 and 8x8, ``n = (depth - 2) / 6`` blocks per stage:

* ``resnet8 ... resnet110``: stem 16, stage widths 16/32/64, pre-logit width 64;
* ``resnet8x4``, ``resnet32x4``: stem 32, stage widths 64/128/256, pre-logit width 256.

The blocks are :class:`reprobook.models.resnet_cifar.BasicBlock` (same layout as the official
``BasicBlock``); the official ``downsample`` shortcut is named ``shortcut`` there, and a load hook
renames ``.downsample.`` keys so the official checkpoints (e.g. the CRD teachers resnet56,
resnet110, resnet32x4) load unchanged.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..resnet_cifar import BasicBlock, Bottleneck
from ._common import feature_output, run_stage


class PreactBasicBlock(BasicBlock):
    """:class:`BasicBlock` that can also return its sum before the final ReLU (the official
    ``is_last`` output, used for ``preact=True`` features)."""

    def forward_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.relu(self.bn1(self.conv1(x)))
        preact = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(preact), preact


class PreactBottleneck(Bottleneck):
    """:class:`Bottleneck` (1x1 -> 3x3 -> 1x1, expansion 4) with the same ``forward_preact``."""

    def forward_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        preact = self.bn3(self.conv3(out)) + self.shortcut(x)
        return F.relu(preact), preact


def make_stage(block, cin: int, planes: int, n: int, stride: int) -> nn.Sequential:
    """``n`` blocks, the first with ``stride`` (and a 1x1 projection shortcut if the shape changes)."""
    blocks = []
    for s in [stride] + [1] * (n - 1):
        blocks.append(block(cin, planes, s))
        cin = planes * block.expansion
    return nn.Sequential(*blocks)


def _rename_official_keys(module, state_dict, prefix, *args):
    """Load hook: the official ``layerK.i.downsample.*`` keys are our ``layerK.i.shortcut.*``."""
    for key in [k for k in state_dict if k.startswith(prefix) and ".downsample." in k]:
        state_dict[key.replace(".downsample.", ".shortcut.")] = state_dict.pop(key)


class CifarResNet(nn.Module):
    """3-stage basic-block ResNet for 32x32 inputs; ``widths = [stem, stage1, stage2, stage3]``."""

    def __init__(self, depth: int, widths: list[int], num_classes: int = 100):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_stage(PreactBasicBlock, widths[0], widths[1], n, stride=1)
        self.layer2 = make_stage(PreactBasicBlock, widths[1], widths[2], n, stride=2)
        self.layer3 = make_stage(PreactBasicBlock, widths[2], widths[3], n, stride=2)
        self.avgpool = nn.AvgPool2d(8)                 # 8x8 -> 1x1 for 32x32 inputs, as the official
        self.feat_dim = widths[3]
        self.fc = nn.Linear(self.feat_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.register_load_state_dict_pre_hook(_rename_official_keys)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.bn1, self.relu, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        """The last BN of each stage (its output plus the shortcut is the stage's preact)."""
        return [self.layer1[-1].bn2, self.layer2[-1].bn2, self.layer3[-1].bn2]

    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        f0 = self.relu(self.bn1(self.conv1(x)))        # (B, w0, 32, 32)
        f1, f1_pre = run_stage(self.layer1, f0)       # (B, w1, 32, 32)
        f2, f2_pre = run_stage(self.layer2, f1)       # (B, w2, 16, 16)
        f3, f3_pre = run_stage(self.layer3, f2)       # (B, w3, 8, 8)
        f4 = torch.flatten(self.avgpool(f3), 1)       # (B, w3) pre-logit
        logits = self.fc(f4)                          # (B, num_classes)
        return feature_output(logits, [f0, f1, f2, f3, f4], [f0, f1_pre, f2_pre, f3_pre, f4], is_feat, preact)


_THIN = [16, 16, 32, 64]
_X4 = [32, 64, 128, 256]


def resnet8(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(8, _THIN, num_classes)


def resnet14(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(14, _THIN, num_classes)


def resnet20(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(20, _THIN, num_classes)


def resnet32(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(32, _THIN, num_classes)


def resnet44(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(44, _THIN, num_classes)


def resnet56(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(56, _THIN, num_classes)


def resnet110(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(110, _THIN, num_classes)


def resnet8x4(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(8, _X4, num_classes)


def resnet32x4(num_classes: int = 100) -> CifarResNet:
    return CifarResNet(32, _X4, num_classes)
