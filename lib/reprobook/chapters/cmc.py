"""Chapter 01 (book/01-cmc, in progress): Contrastive Multiview Coding.

Tian, Krishnan & Isola, "Contrastive Multiview Coding", ECCV 2020 (arXiv 1906.05849); official
code HobbitLong/CMC. One crop of an image is split into views by colour channels (L | ab in Lab,
Y | CbCr in YCbCr, single channels for more views); one encoder per view maps its view to a
128-d unit vector; memory banks of every sample's embedding per view supply the negatives of the
NCE (or softmax) objective; a linear probe on the frozen encoders' features, each view's and
all of them concatenated, measures what was learned.

The notebooks (to come) call :func:`train` and :func:`evaluate`; see issue #10 for the plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..data import Compose, RandomResizedCrop
from ..data.colorspaces import ColorViews
from ..eval import extract_features, linear_probe
from ..losses import MultiviewContrast
from ..models import MultiviewEncoder
from ..run.scales import configure
from ..train import fit_multiview, make_generator
from .common import CifarData, cifar_data

DATASETS = ("cifar10",)       # what a run reads (the GPU staging plan copies these)

_SMALL = dict(name="small", width=16, stem_stride=2)
# smoke: a small CNN per view on 2,000 images, about 18 s a model on 2 cores. Measured (seed 0,
# probe on the concatenated features, random encoders 36.6 %): K 1024, 10 epochs, crops from 0.2
# learn nothing (36.5 NCE / 37.8 softmax); K 256, 40 epochs, lr 0.1, crops from 0.5 reach 39.8 with
# both criteria. Each row of a bank is refreshed once an epoch, so a memory bank needs epochs.
_SMOKE = dict(encoder=_SMALL, out_dim=128, train_per_class=200, test_per_class=100, epochs=40, batch_size=64,
              lr=0.1, weight_decay=1e-4, warmup_epochs=0, lr_milestones=None, lr_decay=0.1, K=256, tau=0.07,
              momentum=0.5, z_momentum=0.9, crop_scale=0.5, probe_epochs=40)
# the official recipe (train_CMC.py), on CIFAR-10 with CIFAR ResNets of half width per view
# (CMC's "ResNet v1"): K 16384, T 0.07, m 0.5, 128-d, batch 128, 240 epochs, SGD lr 0.03,
# momentum 0.9, wd 1e-4, x0.1 at 120/160/200, RandomResizedCrop from 0.2
_PAPER = dict(encoder=dict(name="resnet50", width=0.5), out_dim=128, train_per_class=None, test_per_class=None,
              epochs=240, batch_size=128, lr=0.03, weight_decay=1e-4, warmup_epochs=0,
              lr_milestones=[120, 160, 200], lr_decay=0.1, K=16384, tau=0.07, momentum=0.5, z_momentum=0.9,
              crop_scale=0.2, probe_epochs=100)
# one GPU window: CIFAR ResNet-18 per view at half width, 20 epochs (not yet measured on a GPU)
_SHORT = dict(_PAPER, encoder=dict(name="resnet18", width=0.5), epochs=20, batch_size=512, lr=0.12,
              lr_milestones=None, warmup_epochs=1, probe_epochs=30)

CONFIGS = {
    "two_view": {"smoke": dict(_SMOKE, views="L|ab"), "short": dict(_SHORT, views="L|ab"),
                 "paper": dict(_PAPER, views="L|ab")},
}


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks at ``scale``."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    return configure(CONFIGS[notebook], scale, **overrides)


def load(cfg, seed: int = 0, device="auto") -> CifarData:
    return cifar_data("cifar10", cfg.train_per_class, cfg.test_per_class, seed, device)


@dataclass
class Trained:
    """A CMC model: its views, encoders, memory-bank objective and training history."""

    views: ColorViews
    model: MultiviewEncoder
    contrast: MultiviewContrast | None
    history: list = field(default_factory=list)
    hparams: dict = field(default_factory=dict)


def make_model(cfg, views: ColorViews, device) -> MultiviewEncoder:
    return MultiviewEncoder(cfg.encoder, views.channels, cfg.out_dim).to(device)


def train(cfg, data: CifarData, seed: int = 0, views: str | None = None, criterion: str = "nce",
          graph: str = "core", epochs: int | None = None, progress: bool = True) -> Trained:
    """Train one encoder per view of ``views`` (default ``cfg.views``) with the memory-bank
    ``criterion`` (``nce`` or ``softmax``) over the ``graph`` of views (``core`` or ``full``);
    ``epochs=0`` returns the randomly initialised encoders (the random reference)."""
    split = ColorViews.parse(views or cfg.views)
    torch.manual_seed(seed)
    model = make_model(cfg, split, data.device)
    n = len(data.train_x)
    if cfg.K >= n:
        raise ValueError(f"K = {cfg.K} negatives need more than {cfg.K} training images, got {n}")
    contrast = MultiviewContrast(len(split), n, cfg.out_dim, cfg.K, cfg.tau, cfg.momentum, criterion, graph,
                                 cfg.z_momentum, generator=make_generator(seed, "cpu")).to(data.device)
    epochs = cfg.epochs if epochs is None else epochs
    hparams = {"views": " | ".join(split.names), "criterion": criterion, "graph": graph, "epochs": epochs}
    if epochs == 0:
        return Trained(split, model, None, [], hparams)
    augment = Compose([RandomResizedCrop(32, (cfg.crop_scale, 1.0), flip_p=0.5)])
    result = fit_multiview(model, contrast, split, data.train_x, data.train_y, augment=augment, epochs=epochs,
                           batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                           warmup_epochs=cfg.warmup_epochs, lr_milestones=cfg.lr_milestones, lr_decay=cfg.lr_decay,
                           generator=make_generator(seed, data.device), progress=progress,
                           desc=f"CMC {' | '.join(split.names)} ({criterion})")
    return Trained(split, model, contrast, result.history, hparams)


@torch.no_grad()
def view_features(trained: Trained, images: torch.Tensor) -> list[torch.Tensor]:
    """Each view's frozen encoder features ``[(N, feat_dim)] * V`` of un-augmented images."""
    return [extract_features(net.encoder, images, lambda x, v=v: trained.views(x)[v])    # uint8 in
            for v, net in enumerate(trained.model.nets)]


def evaluate(trained: Trained, data: CifarData, cfg, seed: int = 0) -> dict:
    """Linear-probe top-1 % on each view's features and on all of them concatenated (the
    paper's protocol: the concatenation of L and ab features)."""
    train_f, test_f = view_features(trained, data.train_x), view_features(trained, data.test_x)
    out = dict(trained.hparams)
    g = make_generator(seed, data.device)
    for name, a, b in zip(trained.views.names, train_f, test_f):
        out[f"probe_{name}"] = linear_probe(a, data.train_y, b, data.test_y, epochs=cfg.probe_epochs,
                                            generator=g).test_acc
    out["probe_concat"] = linear_probe(torch.cat(train_f, 1), data.train_y, torch.cat(test_f, 1), data.test_y,
                                       epochs=cfg.probe_epochs, generator=g).test_acc
    return out
