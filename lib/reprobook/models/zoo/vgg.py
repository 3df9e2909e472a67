"""VGG with batch norm for CIFAR (HobbitLong/RepDistiller ``models/vgg.py``, the ``vgg*_bn``
builders; the fully connected layers of ImageNet VGG are replaced by one linear layer).

Five blocks of conv3x3(+bias)-BN-ReLU layers; the block widths (``_CONFIGS``) are 64/128/256/512/512.
Max-pools follow blocks 0-2; for 32x32 inputs block 3 is *not* pooled (the official pools it only
for 64x64 inputs), so blocks 3 and 4 both run at 4x4, then global average pool, pre-logit 512.
vgg8 (the official configuration "S") has one conv per block; vgg11/13/16/19 use the conv layers
of the standard configurations A/B/D/E (the names count ImageNet VGG's three FC layers). Each
block ends with its BN (the last ReLU is applied in ``forward``), which gives the ``preact=True``
features.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ._common import feature_output

_CONFIGS = {
    "S": [[64], [128], [256], [512], [512]],                                      # vgg8
    "A": [[64], [128], [256, 256], [512, 512], [512, 512]],                       # vgg11
    "B": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],              # vgg13
    "D": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],  # vgg16
    "E": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],                 # vgg19
}


def _conv_block(widths: list[int], cin: int) -> nn.Sequential:
    """conv3x3-BN-ReLU per width, without the final ReLU."""
    layers = []
    for w in widths:
        layers += [nn.Conv2d(cin, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        cin = w
    return nn.Sequential(*layers[:-1])


class VGG(nn.Module):
    def __init__(self, config: list[list[int]], num_classes: int = 100):
        super().__init__()
        cins = [3] + [widths[-1] for widths in config[:-1]]
        self.block0, self.block1, self.block2, self.block3, self.block4 = (
            _conv_block(widths, cin) for widths, cin in zip(config, cins))
        self.pool0 = nn.MaxPool2d(2, 2)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.pool3 = nn.MaxPool2d(2, 2)               # used only for 64x64 inputs
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.feat_dim = config[-1][-1]
        self.classifier = nn.Linear(self.feat_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):   # official: normal(0, sqrt(2 / (k*k*out))), i.e. He fan-out
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.block0, self.pool0, self.block1, self.pool1, self.block2, self.pool2,
                              self.block3, self.pool3, self.block4, self.pool4])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [self.block1[-1], self.block2[-1], self.block3[-1], self.block4[-1]]

    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        h = x.shape[2]
        f0 = F.relu(self.block0(x))                   # (B, 64, 32, 32)
        f1_pre = self.block1(self.pool0(f0))          # (B, 128, 16, 16)
        f1 = F.relu(f1_pre)
        f2_pre = self.block2(self.pool1(f1))          # (B, 256, 8, 8)
        f2 = F.relu(f2_pre)
        f3_pre = self.block3(self.pool2(f2))          # (B, 512, 4, 4)
        f3 = F.relu(f3_pre)
        f4_pre = self.block4(self.pool3(f3) if h == 64 else f3)  # (B, 512, 4, 4)
        f4 = F.relu(f4_pre)
        f5 = torch.flatten(self.pool4(f4), 1)         # (B, 512) pre-logit
        logits = self.classifier(f5)                  # (B, num_classes)
        return feature_output(logits, [f0, f1, f2, f3, f4, f5],
                              [f0, f1_pre, f2_pre, f3_pre, f4_pre, f5], is_feat, preact)


def vgg8(num_classes: int = 100) -> VGG:
    return VGG(_CONFIGS["S"], num_classes)


def vgg11(num_classes: int = 100) -> VGG:
    return VGG(_CONFIGS["A"], num_classes)


def vgg13(num_classes: int = 100) -> VGG:
    return VGG(_CONFIGS["B"], num_classes)


def vgg16(num_classes: int = 100) -> VGG:
    return VGG(_CONFIGS["D"], num_classes)


def vgg19(num_classes: int = 100) -> VGG:
    return VGG(_CONFIGS["E"], num_classes)
