"""ShuffleNet V1 and V2 for CIFAR (HobbitLong/RepDistiller ``models/ShuffleNetv1.py`` and
``models/ShuffleNetv2.py``).

Both use a 1x1 stem to 24 channels at 32x32 (no stride, no max-pool), three stages that each
start by halving the resolution (32 -> 16 -> 8 -> 4), a 4x4 average pool and a linear classifier.

* ``ShuffleV1``: groups 3, stage outputs 240/480/960 with 4/8/4 units, pre-logit 960.
* ``ShuffleV2``: net size 1x, stage outputs 116/232/464 with 1 down-sampling + 3/7/3 units, then
  1x1 conv-BN-ReLU to 1024, pre-logit 1024.

Neither supports ``get_bn_before_relu`` (the official raises ``NotImplementedError``). Module names
follow the official files.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ._common import feature_output, run_stage


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(N, g*c, H, W) -> view (N, g, c, H, W) -> swap g and c -> (N, c*g, H, W)."""
    n, ch, h, w = x.shape
    return x.reshape(n, groups, ch // groups, h, w).transpose(1, 2).reshape(n, ch, h, w)


class ShuffleUnitV1(nn.Module):
    """Grouped 1x1 -> channel shuffle -> 3x3 depthwise(stride) -> grouped 1x1; added to the input,
    or concatenated with its 3x3 average pool when the stride is 2 (official ``Bottleneck``)."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int):
        super().__init__()
        self.stride = stride
        mid = cout // 4
        self.g1 = 1 if cin == 24 else groups          # the stem output (24 channels) is not grouped
        self.conv1 = nn.Conv2d(cin, mid, 1, groups=self.g1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)

    def forward_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = channel_shuffle(F.relu(self.bn1(self.conv1(x))), self.g1)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.stride == 2:
            preact = torch.cat([out, F.avg_pool2d(x, 3, stride=2, padding=1)], 1)
        else:
            preact = out + x
        return F.relu(preact), preact

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_preact(x)[0]


class ShuffleNetV1(nn.Module):
    def __init__(self, out_planes=(240, 480, 960), num_blocks=(4, 8, 4), groups: int = 3, num_classes: int = 100):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        cin = 24
        stages = []
        for cout, n in zip(out_planes, num_blocks):
            # the first unit concatenates its pooled input, so it only computes cout - cin channels
            units = [ShuffleUnitV1(cin, cout - cin, 2, groups)] + [ShuffleUnitV1(cout, cout, 1, groups)
                                                                     for _ in range(n - 1)]
            stages.append(nn.Sequential(*units))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.feat_dim = out_planes[-1]
        self.linear = nn.Linear(self.feat_dim, num_classes)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.bn1, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self):
        raise NotImplementedError('ShuffleNet currently is not supported for "Overhaul" teacher')

    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        f0 = F.relu(self.bn1(self.conv1(x)))          # (B, 24, 32, 32)
        f1, f1_pre = run_stage(self.layer1, f0)       # (B, 240, 16, 16)
        f2, f2_pre = run_stage(self.layer2, f1)       # (B, 480, 8, 8)
        f3, f3_pre = run_stage(self.layer3, f2)       # (B, 960, 4, 4)
        f4 = torch.flatten(F.avg_pool2d(f3, 4), 1)    # (B, 960) pre-logit
        logits = self.linear(f4)                      # (B, num_classes)
        return feature_output(logits, [f0, f1, f2, f3, f4], [f0, f1_pre, f2_pre, f3_pre, f4], is_feat, preact)


class ShuffleUnitV2(nn.Module):
    """Split the channels in halves; the second goes 1x1-BN-ReLU, 3x3 depthwise-BN, 1x1-BN-ReLU;
    concatenate with the first and shuffle (official ``BasicBlock``). Its preact is the concatenation
    before the last ReLU and *before* the shuffle, as in the official code."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels // 2
        self.conv1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)

    def forward_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = x.shape[1] // 2
        x1, x2 = x[:, :c], x[:, c:]
        out = F.relu(self.bn1(self.conv1(x2)))
        branch = self.bn3(self.conv3(self.bn2(self.conv2(out))))
        out = channel_shuffle(torch.cat([x1, F.relu(branch)], 1), 2)
        return out, torch.cat([x1, branch], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_preact(x)[0]


class DownUnitV2(nn.Module):
    """Stride-2 unit: left 3x3 depthwise-BN, 1x1-BN-ReLU; right 1x1-BN-ReLU, 3x3 depthwise-BN,
    1x1-BN-ReLU; concatenate (each half ``cout / 2``) and shuffle (official ``DownBlock``)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = cout // 2
        self.conv1 = nn.Conv2d(cin, cin, 3, 2, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv2 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, 3, 2, 1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = F.relu(self.bn3(self.conv3(x)))
        right = F.relu(self.bn5(self.conv5(self.bn4(self.conv4(right)))))
        return channel_shuffle(torch.cat([left, right], 1), 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, out_channels=(116, 232, 464, 1024), num_blocks=(3, 7, 3), num_classes: int = 100):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        cin = 24
        stages = []
        for cout, n in zip(out_channels[:3], num_blocks):
            stages.append(nn.Sequential(DownUnitV2(cin, cout), *[ShuffleUnitV2(cout) for _ in range(n)]))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.conv2 = nn.Conv2d(cin, out_channels[3], 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels[3])
        self.feat_dim = out_channels[3]
        self.linear = nn.Linear(self.feat_dim, num_classes)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.bn1, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self):
        raise NotImplementedError('ShuffleNetV2 currently is not supported for "Overhaul" teacher')

    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        f0 = F.relu(self.bn1(self.conv1(x)))          # (B, 24, 32, 32)
        f1, f1_pre = run_stage(self.layer1, f0)       # (B, 116, 16, 16)
        f2, f2_pre = run_stage(self.layer2, f1)       # (B, 232, 8, 8)
        f3, f3_pre = run_stage(self.layer3, f2)       # (B, 464, 4, 4)
        out = F.relu(self.bn2(self.conv2(f3)))        # (B, 1024, 4, 4)
        f4 = torch.flatten(F.avg_pool2d(out, 4), 1)   # (B, 1024) pre-logit
        logits = self.linear(f4)                      # (B, num_classes)
        return feature_output(logits, [f0, f1, f2, f3, f4], [f0, f1_pre, f2_pre, f3_pre, f4], is_feat, preact)


def ShuffleV1(num_classes: int = 100) -> ShuffleNetV1:  # noqa: N802 (the official name)
    return ShuffleNetV1(num_classes=num_classes)


def ShuffleV2(num_classes: int = 100) -> ShuffleNetV2:  # noqa: N802 (the official name)
    return ShuffleNetV2(num_classes=num_classes)
