"""The example chapter (book/00-example): a supervised encoder and a linear probe, end to end.

It exists to prove the whole path (data -> train -> evaluate -> plot -> report) and to be
the pattern the ten chapters follow: ``CONFIGS`` per scale, functions the notebook calls.
"""
from __future__ import annotations

import torch
from torch import nn

from ..data import standard_augment
from ..models import build_encoder
from ..run.scales import configure
from ..train import fit_supervised, make_generator
from .common import CifarData, cifar_data, probe_frozen

DATASETS = ("cifar10",)   # what a run reads (the GPU staging plan copies these)

CONFIGS = {
    "smoke": dict(encoder=dict(name="small", width=16, stem_stride=2), train_per_class=200,
                  test_per_class=100, epochs=8, batch_size=64, lr=0.05, probe_epochs=30),
    "short": dict(encoder=dict(name="resnet18"), train_per_class=None, test_per_class=None, epochs=15,
                  batch_size=512, lr=0.4, probe_epochs=30),
    "paper": dict(encoder=dict(name="resnet18"), train_per_class=None, test_per_class=None, epochs=200,
                  batch_size=128, lr=0.1, probe_epochs=100),
}


def config(scale: str, **overrides):
    return configure(CONFIGS, scale, **overrides)


def load(cfg, seed: int = 0, device="auto") -> CifarData:
    return cifar_data("cifar10", cfg.train_per_class, cfg.test_per_class, seed, device)


def make_classifier(cfg, num_classes: int, device) -> nn.Module:
    encoder = build_encoder(**cfg.encoder)
    return nn.Sequential(encoder, nn.Linear(encoder.feat_dim, num_classes)).to(device)


def train_classifier(cfg, data: CifarData, seed: int = 0, progress: bool = True):
    """Train encoder + linear classifier with cross-entropy; return (model, TrainResult)."""
    torch.manual_seed(seed)
    model = make_classifier(cfg, len(data.classes), data.device)
    g = make_generator(seed, data.device)
    aug = standard_augment(mean=data.mean, std=data.std)
    result = fit_supervised(model, data.train_x, data.train_y, augment=aug, epochs=cfg.epochs,
                            batch_size=cfg.batch_size, lr=cfg.lr, generator=g, progress=progress)
    return model, result


def probe(cfg, encoder: nn.Module, data: CifarData, seed: int = 0) -> float:
    """Linear-probe top-1 % of a frozen encoder's features."""
    return probe_frozen(encoder, data, cfg.probe_epochs, seed).test_acc
