"""CIFAR ResNets: width scaling, and the stem CMC's half-width encoders keep at 64 channels."""
import torch

from reprobook.models import build_encoder


def test_width_scales_stages_and_stem_unless_the_stem_is_given():
    half = build_encoder("resnet50", width=0.5, in_channels=1)
    assert half.conv1.out_channels == 32 and half.feat_dim == 1024           # 2048 * 0.5
    cmc = build_encoder("resnet50", width=0.5, in_channels=1, stem_channels=64)
    assert cmc.conv1.out_channels == 64 and cmc.feat_dim == 1024
    assert cmc.layers[0][0].conv1.in_channels == 64                             # layer1 reads the 64-channel stem
    assert cmc(torch.randn(2, 1, 32, 32)).shape == (2, 1024)
