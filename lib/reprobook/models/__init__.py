"""Encoders and heads."""
from .alexnet import AlexNetCMC
from .heads import ContrastiveModel, L2Norm, mlp_head
from .multiview import MultiviewEncoder
from .resnet12 import Conv4, ResNet12, resnet12
from .resnet_cifar import ResNetCIFAR, resnet18, resnet34, resnet50, resnet101
from .small import SmallConvNet
from .zoo import MODELS as DISTILL_MODELS, build_model

ENCODERS = {"small": SmallConvNet, "alexnet": AlexNetCMC, "resnet18": resnet18, "resnet34": resnet34,
            "resnet50": resnet50, "resnet101": resnet101, "resnet12": resnet12, "conv4": Conv4}


def build_encoder(name: str, **kwargs):
    """An encoder by name (``small``, ``resnet18``, ...) and its keyword arguments, e.g.
    ``build_encoder(**{"name": "small", "width": 16})``; unknown names are a clear error."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; valid: {', '.join(ENCODERS)}")
    return ENCODERS[name](**kwargs)
