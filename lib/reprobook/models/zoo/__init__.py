"""Teacher and student networks of CRD (Tian, Krishnan & Isola, "Contrastive Representation
Distillation", ICLR 2020), after the official HobbitLong/RepDistiller ``models/``.

``MODELS`` has exactly the names of the official ``models/__init__.py`` ``model_dict``; every
builder takes ``num_classes=100``. Every model has the official interface:

* ``model(x)`` -> logits ``(B, num_classes)``;
* ``model(x, is_feat=True, preact=False)`` -> ``(feats, logits)``: the official list of
  intermediate features, whose last entry is the pooled pre-logit vector the classifier reads;
  ``preact=True`` swaps stage outputs for their pre-ReLU versions where the official does;
* ``feat_dim`` (pre-logit width), ``get_feat_modules()`` and ``get_bn_before_relu()``.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from .mobilenetv2 import mobile_half
from .resnet import resnet8, resnet8x4, resnet14, resnet20, resnet32, resnet32x4, resnet44, resnet56, resnet110
from .resnet_4stage import ResNet50
from .shufflenet import ShuffleV1, ShuffleV2
from .vgg import vgg8, vgg11, vgg13, vgg16, vgg19
from .wrn import wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2

MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet8": resnet8, "resnet14": resnet14, "resnet20": resnet20, "resnet32": resnet32,
    "resnet44": resnet44, "resnet56": resnet56, "resnet110": resnet110,
    "resnet8x4": resnet8x4, "resnet32x4": resnet32x4,
    "ResNet50": ResNet50,
    "wrn_16_1": wrn_16_1, "wrn_16_2": wrn_16_2, "wrn_40_1": wrn_40_1, "wrn_40_2": wrn_40_2,
    "vgg8": vgg8, "vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19,
    "MobileNetV2": mobile_half,
    "ShuffleV1": ShuffleV1, "ShuffleV2": ShuffleV2,
}


def build_model(name: str, num_classes: int = 100) -> nn.Module:
    """The CRD model called ``name`` in the official ``model_dict`` (e.g. ``"resnet32x4"``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return MODELS[name](num_classes=num_classes)


__all__ = ["MODELS", "build_model"]
