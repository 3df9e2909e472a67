"""Chapter 01 (book/01-cmc): Contrastive Multiview Coding.

Tian, Krishnan & Isola, "Contrastive Multiview Coding", ECCV 2020 (arXiv 1906.05849); official
code HobbitLong/CMC. One crop of an image is split into views by colour channels (L | ab in Lab,
Y | CbCr in YCbCr, single channels for more views); one encoder per view maps its view to a
128-d unit vector; memory banks of every sample's embedding per view supply the negatives of the
NCE (or softmax) objective; a linear probe on the frozen encoders' features, each view's and
all of them concatenated, measures what was learned.

Notebooks: 01-method (views, :func:`view_correlation`, the objective), 02-two-view-cmc
(:func:`train` with NCE and softmax, :func:`supervised`, :func:`evaluate`), 03-more-views
(:func:`run_views`: core view and full graph over 2-4 views), 04-colour-spaces (:func:`run_spaces`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..data import Compose, RandomResizedCrop
from ..data.colorspaces import ColorViews
from ..eval import extract_features, linear_probe
from ..losses import MultiviewContrast
from ..models import MultiviewEncoder
from ..run.scales import configure
from ..train import fit_multiview, fit_supervised, make_generator
from .common import CifarData, cifar_data, schedule

DATASETS = ("cifar10",)       # what a run reads (the GPU staging plan copies these)
# seconds each notebook's `short` run may take on one H100/H200: estimates from the encoders'
# cost (about 2.5 s per half-width ResNet-18 and epoch of CIFAR-10), not yet measured
SHORT_BUDGET_S = {"method": 15, "two_view": 170, "views": 150, "spaces": 80}

_SMALL = dict(name="small", width=16, stem_stride=2)
# smoke: a small CNN per view on 2,000 images, about 18 s a model on 2 cores. Measured (seed 0,
# probe on the concatenated features, random encoders 36.6 %): K 1024, 10 epochs, crops from 0.2
# learn nothing (36.5 NCE / 37.8 softmax); K 256, 40 epochs, lr 0.1, crops from 0.5 reach 39.8 with
# both criteria. Each row of a bank is refreshed once an epoch, so a memory bank needs epochs.
_SMOKE = dict(encoder=_SMALL, out_dim=128, train_per_class=200, test_per_class=100, epochs=40, batch_size=64,
              lr=0.1, weight_decay=1e-4, warmup_epochs=0, lr_milestones=None, lr_decay=0.1, K=256, tau=0.07,
              momentum=0.5, z_momentum=0.9, crop_scale=0.5, probe_epochs=40)
# the official recipe (train_CMC.py), on CIFAR-10 with CIFAR ResNet-50s of half width per view
# (CMC's "ResNet v1": the stages at half width, the stem at 64 channels): K 16384, T 0.07, m 0.5,
# 128-d, batch 128, 240 epochs, SGD lr 0.03, momentum 0.9, wd 1e-4, x0.1 at 120/160/200,
# RandomResizedCrop from 0.08 (train_CMC.py sets crop_low 0.08 for every ResNet on ImageNet)
_PAPER = dict(encoder=dict(name="resnet50", width=0.5, stem_channels=64), out_dim=128, train_per_class=None,
              test_per_class=None,
              epochs=240, batch_size=128, lr=0.03, weight_decay=1e-4, warmup_epochs=0,
              lr_milestones=[120, 160, 200], lr_decay=0.1, K=16384, tau=0.07, momentum=0.5, z_momentum=0.9,
              crop_scale=0.08, probe_epochs=100)
# one GPU window: CIFAR ResNet-18 per view at half width, batch 512, warm-up + cosine, crops from 0.2
# (0.08 is for 224x224 ImageNet crops; on 32x32 images 0.2 keeps objects in the crop); 10 epochs on
# all of CIFAR-10 for the two-view comparison, 8 epochs on half of it for the view and colour-space
# sweeps (nine models between them). Not yet measured on a GPU: see SHORT_BUDGET_S.
_SHORT = dict(_PAPER, encoder=dict(name="resnet18", width=0.5, stem_channels=64), epochs=10, batch_size=512,
              lr=0.12, lr_milestones=None, warmup_epochs=1, crop_scale=0.2, probe_epochs=30)
_SHORT_SWEEP = dict(_SHORT, train_per_class=2500, epochs=8)

# notebook 3: the number of views (2, 3, 4) with the core view L or the full graph; the 4th view is
# HSV saturation (CIFAR has no depth or segmentation: the paper's NYU views are not available)
VIEW_SETS = [("L|ab", "core"), ("L|a|b", "core"), ("L|a|b", "full"), ("L|a|b|S", "core"), ("L|a|b|S", "full")]
# notebook 4: two-view splits of four colour spaces (the official dataset.py has Lab and YCbCr)
SPACES = ["L|ab", "Y|CbCr", "V|HS", "R|GB"]

CONFIGS = {
    "method": {scale: dict(train_per_class=cfg["train_per_class"] or 5000,
                           test_per_class=cfg["test_per_class"] or 1000, K=cfg["K"], tau=cfg["tau"], n_show=4)
               for scale, cfg in (("smoke", _SMOKE), ("short", _SHORT), ("paper", _PAPER))},
    "two_view": {"smoke": dict(_SMOKE, views="L|ab"), "short": dict(_SHORT, views="L|ab"),
                 "paper": dict(_PAPER, views="L|ab")},
    # smoke: 30 epochs (five models, the largest with four encoders and six pairs)
    "views": {"smoke": dict(_SMOKE, epochs=30, view_sets=VIEW_SETS, criterion="nce"),
              "short": dict(_SHORT_SWEEP, view_sets=VIEW_SETS, criterion="nce"),
              "paper": dict(_PAPER, view_sets=VIEW_SETS, criterion="nce")},
    "spaces": {"smoke": dict(_SMOKE, spaces=SPACES, criterion="nce"),
               "short": dict(_SHORT_SWEEP, spaces=SPACES, criterion="nce"),
               "paper": dict(_PAPER, spaces=SPACES, criterion="nce")},
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


def crop_augment(cfg) -> Compose:
    """CMC's view of an image before the colour split: RandomResizedCrop (scale ``crop_scale``-1) + flip."""
    return Compose([RandomResizedCrop(32, (cfg.crop_scale, 1.0), flip_p=0.5)])


class ViewsClassifier(nn.Module):
    """The supervised reference: the same per-view encoders, their features concatenated, a
    linear classifier on top, trained end to end with cross-entropy."""

    def __init__(self, views: ColorViews, encoders: MultiviewEncoder, n_classes: int):
        super().__init__()
        self.views, self.encoders = views, encoders
        self.fc = nn.Linear(sum(encoders.feat_dims), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, 3, 32, 32) in [0, 1] -> (B, classes)
        return self.fc(self.encoders.features(self.views(x)))


def supervised(cfg, data: CifarData, seed: int = 0, views: str | None = None, epochs: int | None = None,
               progress: bool = True) -> Trained:
    """The supervised reference of :func:`train`: the same encoders, crops, optimiser and epochs,
    cross-entropy on the labels instead of the contrastive objective."""
    split = ColorViews.parse(cfg.views if views is None else views)
    torch.manual_seed(seed)
    encoders = make_model(cfg, split, data.device)
    model = ViewsClassifier(split, encoders, len(data.classes)).to(data.device)
    epochs = cfg.epochs if epochs is None else epochs
    result = fit_supervised(model, data.train_x, data.train_y, augment=crop_augment(cfg), lr=cfg.lr,
                            generator=make_generator(seed, data.device), progress=progress,
                            desc=f"supervised {' | '.join(split.names)}", **schedule(cfg, epochs))
    hparams = {"views": " | ".join(split.names), "criterion": "cross-entropy", "graph": "-", "epochs": epochs}
    return Trained(split, encoders, None, result.history, hparams)


def train(cfg, data: CifarData, seed: int = 0, views: str | None = None, criterion: str = "nce",
          graph: str = "core", epochs: int | None = None, progress: bool = True) -> Trained:
    """Train one encoder per view of ``views`` (default ``cfg.views``) with the memory-bank
    ``criterion`` (``nce`` or ``softmax``) over the ``graph`` of views (``core`` or ``full``);
    ``epochs=0`` returns the randomly initialised encoders (the random reference)."""
    split = ColorViews.parse(cfg.views if views is None else views)
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
    result = fit_multiview(model, contrast, split, data.train_x, data.train_y, augment=crop_augment(cfg), lr=cfg.lr,
                           generator=make_generator(seed, data.device), progress=progress,
                           desc=f"CMC {' | '.join(split.names)} ({criterion})", **schedule(cfg, epochs))
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


@torch.no_grad()
def view_correlation(images: torch.Tensor, spec: str) -> float:
    """How much the first view of ``spec`` shares linearly with the others: the mean absolute
    Pearson correlation, over all pixels of ``images`` (uint8 ``(N, 3, H, W)``), between each
    channel of the first view and each channel of the other views."""
    views = ColorViews.parse(spec)
    if len(views) < 2:
        raise ValueError(f"the correlation between views needs at least two views, got {spec!r}")
    chans = [c.double().flatten() for v in views(images) for c in v.transpose(0, 1)]   # one (N*H*W,) per channel
    first = views.channels[0]
    corr = torch.corrcoef(torch.stack(chans))                                          # (C, C)
    return float(corr[:first, first:].abs().mean())


def run_views(cfg, data: CifarData, seed: int = 0, progress: bool = True) -> list[dict]:
    """Notebook 3: one CMC model per ``(views, graph)`` of ``cfg.view_sets``, each probed; rows
    with ``n_views``, ``graph``, every view's probe and the concatenated one."""
    rows = []
    for item in cfg.view_sets:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise ValueError(f"view_sets holds (views, graph) pairs such as ('L|a|b', 'full'), got {item!r}")
        spec, graph = item
        trained = train(cfg, data, seed, views=spec, criterion=cfg.criterion, graph=graph, progress=progress)
        result = evaluate(trained, data, cfg, seed)
        rows.append(dict(result, n_views=len(trained.views), spec=spec))
    return rows


def run_spaces(cfg, data: CifarData, seed: int = 0, progress: bool = True) -> list[dict]:
    """Notebook 4: two-view CMC on each split of ``cfg.spaces`` (``"L|ab"``, ``"Y|CbCr"``, ...),
    probed on the first view, the second and both; plus the views' linear correlation."""
    rows = []
    for spec in cfg.spaces:
        if len(ColorViews.parse(spec)) != 2:
            raise ValueError(f"spaces holds two-view splits such as 'Y|CbCr', got {spec!r}")
        trained = train(cfg, data, seed, views=spec, criterion=cfg.criterion, progress=progress)
        result = evaluate(trained, data, cfg, seed)
        first, second = trained.views.names
        rows.append(dict(split=spec, probe_first=result[f"probe_{first}"], probe_second=result[f"probe_{second}"],
                         probe_concat=result["probe_concat"], correlation=view_correlation(data.train_x, spec)))
    return rows

