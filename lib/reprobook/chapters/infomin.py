"""Chapter 04 (book/04-infomin): What Makes for Good Views for Contrastive Learning?

Tian, Sun, Poole, Krishnan, Schmid & Isola, NeurIPS 2020 (arXiv 2005.10243); official code
HobbitLong/PyContrast. The InfoMin principle: the best views share exactly the information the
downstream task needs and nothing more, so as the views' mutual information falls, accuracy
first rises, peaks at a sweet spot and then falls (the *reverse-U*).

Every model here is CMC's (book/01-cmc): one encoder per view, the InfoNCE objective between the
views (in-batch negatives, :class:`reprobook.losses.CrossViewInfoNCE`, or CMC's memory banks,
:class:`reprobook.losses.MultiviewContrast`), and the same two measurements: the views'
:math:`I_\\text{NCE}` on held-out pairs (:func:`reprobook.eval.estimate_mi`) and a linear probe
on the frozen encoders' concatenated features.

Notebooks: 01-method (the estimator on Gaussians, the view families, the flow),
02-reverse-u (:func:`run_family` for patches, colour splits and blur),
03-learned-views (:func:`learn_views`, :func:`views_over_training`),
04-augmentation (:func:`run_augmentations`).
"""
from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data import Normalize, load_cifar, load_stl10
from ..data.colorspaces import convert
from ..data.randaugment import augmentation_ladder
from ..data.views import FlowViews, resize_whole, view_family
from ..eval import (correlated_gaussians, estimate_mi, estimate_mi_from_critic, extract_features, gaussian_log_ratio,
                    linear_probe, rho_for_mi)
from ..losses import CrossViewInfoNCE, MultiviewContrast
from ..models import ContrastiveModel, MultiviewEncoder, SmallConvNet, build_encoder
from ..models.flow import PixelFlow
from ..run.scales import configure
from ..train import fit_multiview, fit_two_views, fit_view_generator, make_generator, resolve_device
from .common import cifar_data, schedule

DATASETS = ("cifar10",)       # what a `short` run reads (the GPU staging plan copies these)
# seconds each notebook's `short` run may take on one H100/H200: estimates (about 1.2 s per
# epoch of CIFAR-10 for two half-width ResNet-18s at batch 512), not yet measured
SHORT_BUDGET_S = {"method": 10, "reverse_u": 170, "learned": 130, "augmentation": 110}

_SMALL = dict(name="small", width=16, stem_stride=2)
# smoke: a small CNN per view on 2,000 CIFAR-10 images, in-batch InfoNCE (B - 1 negatives learn
# in a few epochs, where a memory bank needs tens: book/01-cmc), I_NCE on groups of 128 test pairs;
# the probe reads 5,000 training images and is tested on 5,000 (features are cheap, and a probe
# tested on 1,000 images alone moves by 1.5 points: its binomial standard error)
_SMOKE = dict(dataset="cifar10", encoder=_SMALL, out_dim=64, hidden_dim=None, train_per_class=200,
              probe_per_class=500, test_per_class=500, size=32, epochs=15, batch_size=128, lr=0.05, weight_decay=1e-4,
              warmup_epochs=0, lr_milestones=None,
              lr_decay=0.1, objective="batch", K=None, tau=0.1, momentum=0.5, crop_scale=0.5, probe_epochs=40,
              mi_K=128)
# one GPU window: half-width CIFAR ResNet-18 per view on all of CIFAR-10 (half of it for the
# sweeps), batch 512, warm-up + cosine, I_NCE on groups of 1,024 test pairs
_SHORT = dict(_SMOKE, encoder=dict(name="resnet18", width=0.5, stem_channels=64), out_dim=128, train_per_class=2500,
              probe_per_class=None, test_per_class=None, epochs=8, batch_size=512, lr=0.2, warmup_epochs=1,
              probe_epochs=30, mi_K=1024)
# the paper's views are studied on STL-10 with CMC's machinery; our `paper` scale: STL-10, 64-px
# crops of the 96-px images, train+unlabeled for the contrastive stage, the 5,000 labelled images
# for the probe; CMC's memory bank (softmax criterion, K 16384, m 0.5; T 0.1, CMC's README value
# for STL-10), 128-d, batch 128, SGD lr 0.03, 240 epochs with x0.1 at 120/160/200, crops from 0.2
# (train_CMC.py); half-width ResNet-18s. The paper does not list its STL-10 settings: these are
# CMC's (shared/papers/REFERENCE.md), not verified against the InfoMin experiments.
_PAPER = dict(_SMOKE, dataset="stl10", encoder=dict(name="resnet18", width=0.5, stem_channels=64), out_dim=128,
              train_per_class=None, probe_per_class=None, test_per_class=None, size=64, epochs=240, batch_size=128,
              lr=0.03, lr_milestones=[120, 160, 200], objective="bank", K=16384, tau=0.1, crop_scale=0.2,
              probe_epochs=100, mi_K=1024)

# notebook 2: the view families and the values swept (patch side: half the image)
FAMILY_VALUES = {"patch": [0, 4, 8, 12, 16], "color": ["R|GB", "Y|CbCr", "L|ab", "H|SV"], "blur": [0.0, 0.75, 1.5, 3.0]}
_PAPER_FAMILIES = {"patch": [0, 8, 16, 24, 32], "color": ["R|GB", "Y|CbCr", "L|ab", "H|SV"],
                   "blur": [0.0, 1.5, 3.0, 6.0]}

# notebook 3: the flow (2 blocks, hidden 16 at smoke: each training step of the fresh encoders runs
# it on the batch) trained adversarially, snapshots re-trained and probed
_FLOW = dict(input_space="rgb", flow_blocks=2, flow_hidden=16, flow_lr=1e-3, adversary_weight=1.0, flow_epochs=9,
             snapshots=4)
# notebook 4: the augmentation ladder, one encoder for both views (SimCLR / MoCo style) with an MLP
# head of the encoder's width (PyContrast: Linear(dim_in, dim_in)), tau 0.15 as PyContrast's InfoMin
# preset; the loss is the mean of both directions (the official one has one direction, q against k)
_AUG = dict(tau=0.15)

CONFIGS = {
    "method": {scale: dict(cfg, mi_values=[0.25, 0.5, 1, 2, 3, 4, 5, 6, 8, 10], mi_Ks=[16, 128, 1024], mi_dim=4,
                           mi_pairs=8192, mi_groups=32, families=FAMILY_VALUES, train_per_class=10,
                           probe_per_class=None, test_per_class=10)
               # no training here: the paper scale draws its examples from CIFAR-10 as well
               for scale, cfg in (("smoke", _SMOKE), ("short", _SHORT), ("paper", _SMOKE))},
    "reverse_u": {"smoke": dict(_SMOKE, families=FAMILY_VALUES), "short": dict(_SHORT, families=FAMILY_VALUES),
                  "paper": dict(_PAPER, families=_PAPER_FAMILIES)},
    "learned": {"smoke": dict(_SMOKE, **_FLOW), "short": dict(_SHORT, **dict(_FLOW, flow_hidden=32, flow_epochs=8)),
                "paper": dict(_PAPER, **dict(_FLOW, flow_hidden=32, flow_epochs=100))},
    "augmentation": {"smoke": dict(_SMOKE, **_AUG, hidden_dim=64, lr=0.1),
                     "short": dict(_SHORT, **_AUG, hidden_dim=256),
                     # PyContrast's InfoMin run (docs/RUN.md): batch 256, lr 0.03 cosine, 200 epochs
                     "paper": dict(_PAPER, **_AUG, hidden_dim=256, objective="batch", batch_size=256, lr=0.03,
                                   epochs=200, lr_milestones=None)},
}


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks at ``scale``."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    return configure(CONFIGS[notebook], scale, **overrides)


# ---------------------------------------------------------------- data
@dataclass
class ViewData:
    """Images for the contrastive stage (``contrast_x``, labels ``-1`` where unlabelled) and
    for the linear probe (``train_*``, ``test_*``), uint8 ``(N, 3, H, W)`` on ``device``."""

    name: str
    contrast_x: torch.Tensor
    contrast_y: torch.Tensor
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: torch.device

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    def describe(self) -> str:
        return (f"{self.name}: {len(self.contrast_x)} images for the views, {len(self.train_x)} / {len(self.test_x)} "
                f"labelled train / test images of {self.image_size} px, {len(self.classes)} classes, on {self.device}")


def load(cfg, seed: int = 0, device="auto") -> ViewData:
    """CIFAR-10 or STL-10 (train+unlabeled for the views, train and test for the probe), as
    ``cfg.dataset`` says. On CIFAR-10 the views are learned from ``train_per_class`` training
    images per class and the probe reads ``probe_per_class`` (None: the same images), tested on
    ``test_per_class`` (None: whole splits)."""
    if cfg.dataset == "cifar10":
        views = cifar_data("cifar10", cfg.train_per_class, cfg.test_per_class, seed, device)
        probe_x, probe_y = (views.train_x, views.train_y) if cfg.probe_per_class is None else (
            load_cifar("cifar10", "train").subset(per_class=cfg.probe_per_class, seed=seed).tensors(views.device))
        return ViewData("cifar10", views.train_x, views.train_y, probe_x, probe_y, views.test_x, views.test_y,
                        views.classes, views.mean, views.std, views.device)
    device = resolve_device(device)
    if cfg.dataset == "stl10":
        views, train, test = load_stl10("train+unlabeled"), load_stl10("train"), load_stl10("test")
        (cx, cy), (tx, ty), (vx, vy) = views.tensors(device), train.tensors(device), test.tensors(device)
        # STL-10 statistics as CMC's STL-10 loader (the ImageNet ones)
        return ViewData("stl10", cx, cy, tx, ty, vx, vy, train.classes, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                        device)
    raise ValueError(f"unknown dataset {cfg.dataset!r}; valid: cifar10, stl10")


def family(kind: str, value, cfg, data: ViewData):
    """One view family of notebook 2 at ``value``, sized for ``data`` and ``cfg``."""
    if kind == "patch":
        return view_family("patch", value, patch=data.image_size // 2, size=cfg.size, image_size=data.image_size,
                           mean=data.mean, std=data.std)
    if kind == "blur":
        return view_family("blur", value, size=cfg.size, crop_scale=cfg.crop_scale, mean=data.mean, std=data.std)
    return view_family(kind, value, size=cfg.size, crop_scale=cfg.crop_scale)


# ---------------------------------------------------------------- the estimator and the families (notebook 1)
def estimator_on_gaussians(cfg, seed: int = 0) -> list[dict]:
    """:math:`I_\text{NCE}` with the optimal critic on ``cfg.mi_pairs`` correlated Gaussian pairs
    (``cfg.mi_dim`` dimensions) of each true MI in ``cfg.mi_values``, for each ``K`` in ``cfg.mi_Ks``."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for mi in cfg.mi_values:
        rho = rho_for_mi(cfg.mi_dim, mi)
        x, y = correlated_gaussians(cfg.mi_pairs, cfg.mi_dim, rho, g)
        for K in cfg.mi_Ks:
            est = estimate_mi_from_critic(lambda a, b: gaussian_log_ratio(x[a], y[b], rho), cfg.mi_pairs, K, g,
                                         cfg.mi_groups)
            rows.append(dict(true_mi=float(mi), K=K, estimate=est.nats, sd=est.sd, ceiling=est.ceiling))
    return rows


def family_examples(cfg, data: ViewData, images: torch.Tensor, seed: int = 0) -> dict[str, list[torch.Tensor]]:
    """For the figure of notebook 1: ``label -> [v1, v2]`` per image, in [0, 1] for display, one
    pair of each patch distance and blur sigma of ``cfg.families`` (the colour splits are
    book/01-cmc's figure)."""
    mean, std = (torch.tensor(v, device=images.device).view(1, 3, 1, 1) for v in (data.mean, data.std))
    out = {}
    for kind in ("patch", "blur"):
        for value in cfg.families[kind]:
            views = family(kind, value, cfg, data)
            v1, v2 = views(images, make_generator(seed, images.device))
            label = f"{'d' if kind == 'patch' else 'σ'} = {value}"
            out[label] = [t for a, b in zip(v1 * std + mean, v2 * std + mean) for t in (a, b)]
    return out


# ---------------------------------------------------------------- two encoders on a pair of views
@dataclass
class Trained:
    views: object                  # the view family (``channels``, ``__call__``, ``whole``)
    model: MultiviewEncoder
    contrast: nn.Module
    history: list = field(default_factory=list)


def make_contrast(cfg, n_data: int, generator=None) -> nn.Module:
    """The InfoNCE between two views: in-batch negatives (``objective="batch"``) or CMC's memory
    banks with the softmax criterion (``"bank"``, ``K`` negatives)."""
    if cfg.objective == "batch":
        return CrossViewInfoNCE(2, cfg.tau)
    if cfg.objective == "bank":
        if cfg.K >= n_data:
            raise ValueError(f"K = {cfg.K} negatives need more than {cfg.K} images, got {n_data}")
        return MultiviewContrast(2, n_data, cfg.out_dim, cfg.K, cfg.tau, cfg.momentum, "softmax", generator=generator)
    raise ValueError(f"unknown objective {cfg.objective!r}; valid: batch, bank")


def train_views(cfg, data: ViewData, views, seed: int = 0, progress: bool = True, desc: str | None = None) -> Trained:
    """One encoder per view of ``views`` (a view family), trained with :func:`make_contrast`."""
    torch.manual_seed(seed)
    model = MultiviewEncoder(cfg.encoder, views.channels, cfg.out_dim, cfg.hidden_dim).to(data.device)
    contrast = make_contrast(cfg, len(data.contrast_x), make_generator(seed, "cpu")).to(data.device)
    result = fit_multiview(model, contrast, lambda v: v, data.contrast_x, data.contrast_y, augment=views, lr=cfg.lr,
                           generator=make_generator(seed, data.device), progress=progress,
                           desc=desc or f"{views.family} {views.value}", **schedule(cfg))
    return Trained(views, model, contrast, result.history)


@torch.no_grad()
def embed_pairs(model: MultiviewEncoder, views, images: torch.Tensor, seed: int = 0, batch_size: int = 512):
    """``(z1, z2)`` ``(N, out_dim)``: the embeddings of one training-distribution pair of views
    of each image (drawn with a fixed seed, so every model is measured on the same pairs)."""
    model.eval()
    g = make_generator(seed + 10_000, images.device)
    out = [[], []]
    for k in range(0, len(images), batch_size):
        for acc, z in zip(out, model(views(images[k:k + batch_size], g))):
            acc.append(z.float())
    return torch.cat(out[0]), torch.cat(out[1])


def measure(trained: Trained, data: ViewData, cfg, seed: int = 0) -> dict:
    """The views' :math:`I_\\text{NCE}` on held-out pairs (nats, mean and sd over groups of
    ``cfg.mi_K``, ceiling ``log mi_K``) and the linear probe top-1 % on the concatenated
    features of both encoders over whole images."""
    z1, z2 = embed_pairs(trained.model, trained.views, data.test_x, seed)
    mi = estimate_mi(z1, z2, cfg.tau, cfg.mi_K, make_generator(seed, "cpu"))
    features = [extract_features(trained.model.features, x, trained.views.whole) for x in (data.train_x, data.test_x)]
    probe = linear_probe(features[0], data.train_y, features[1], data.test_y, epochs=cfg.probe_epochs,
                         num_classes=len(data.classes), generator=make_generator(seed, data.device))
    return {"i_nce": mi.nats, "i_nce_sd": mi.sd, "ceiling": mi.ceiling, "probe": probe.test_acc}


def run_family(cfg, data: ViewData, kind: str, seed: int = 0, progress: bool = True) -> list[dict]:
    """Notebook 2: one model per value of ``cfg.families[kind]``, each measured (:func:`measure`)."""
    if kind not in cfg.families:
        raise ValueError(f"family {kind!r} is not configured; configured: {', '.join(cfg.families)}")
    rows = []
    for value in cfg.families[kind]:
        views = family(kind, value, cfg, data)
        rows.append(dict(family=views.family, value=value, **measure(train_views(cfg, data, views, seed, progress),
                                                                        data, cfg, seed)))
    return rows


def sweet_spot(rows: list[dict]) -> dict:
    """The row of highest probe accuracy (the reverse-U's sweet spot)."""
    return max(rows, key=lambda r: r["probe"])


# ---------------------------------------------------------------- learned views (notebook 3)
class ViewClassifier(nn.Module):
    """The semi-supervised classifier :math:`c_k` of one view: a small CNN and a linear layer."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 16):
        super().__init__()
        self.net = SmallConvNet(width, in_channels, stem_stride=2)
        self.fc = nn.Linear(self.net.feat_dim, n_classes)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(v))


@dataclass
class LearnedViews:
    mode: str                      # "unsupervised" or "semi-supervised"
    snapshots: list                # [(epoch, PixelFlow)] frozen copies, epoch 0 the identity
    history: list = field(default_factory=list)


def learn_views(cfg, data: ViewData, semi_supervised: bool, seed: int = 0, progress: bool = True) -> LearnedViews:
    """Train a :class:`PixelFlow` adversarially against two encoders (and, ``semi_supervised``,
    with a classifier per view) for ``cfg.flow_epochs``, keeping ``cfg.snapshots`` evenly spaced
    frozen copies of the flow (the first the untrained identity). The game is one training run:
    between snapshots it resumes from its checkpoint (weights, optimiser moments, generators), so
    the snapshots do not change what is trained."""
    if not 2 <= cfg.snapshots <= cfg.flow_epochs + 1:
        raise ValueError(f"snapshots must lie in [2, flow_epochs + 1] = [2, {cfg.flow_epochs + 1}] (the start, "
                         f"the end and at most one per epoch), got {cfg.snapshots}")
    torch.manual_seed(seed)
    flow = PixelFlow(3, cfg.flow_blocks, cfg.flow_hidden).to(data.device)
    encoders = MultiviewEncoder(cfg.encoder, [flow.first, 3 - flow.first], cfg.out_dim, cfg.hidden_dim).to(data.device)
    contrast = make_contrast(cfg, len(data.contrast_x), make_generator(seed, "cpu")).to(data.device)
    classifiers = (nn.ModuleList(ViewClassifier(c, len(data.classes)) for c in (flow.first, 3 - flow.first))
                   .to(data.device) if semi_supervised else None)
    crop = FlowViews(flow, cfg.input_space, cfg.size, cfg.crop_scale).crop
    ends = torch.linspace(0, cfg.flow_epochs, cfg.snapshots).round().long().tolist()
    snapshots, history, g = [(0, _frozen(flow))], [], make_generator(seed, data.device)
    mode = "semi-supervised" if semi_supervised else "unsupervised"
    with tempfile.TemporaryDirectory() as tmp:
        for end in ends[1:]:
            result = fit_view_generator(
                flow, encoders, contrast, lambda x: convert(x, cfg.input_space), data.contrast_x, data.contrast_y,
                augment=crop, classifiers=classifiers, adversary_weight=cfg.adversary_weight, lr=cfg.lr,
                flow_lr=cfg.flow_lr, generator=g, checkpoint=Path(tmp) / "game.pt", progress=progress,
                desc=f"views ({mode}) to epoch {end}",
                # the adversarial game at a constant lr (no schedule to anneal)
                **dict(schedule(cfg), epochs=end, warmup_epochs=0, lr_milestones=[10 ** 9]))
            history = result.history
            snapshots.append((end, _frozen(flow)))
    return LearnedViews(mode, snapshots, history)


def _frozen(flow: PixelFlow) -> PixelFlow:
    return copy.deepcopy(flow).eval().requires_grad_(False)


def views_over_training(cfg, data: ViewData, learned: LearnedViews, seed: int = 0, progress: bool = True,
                        include_start: bool = True) -> list[dict]:
    """Each snapshot's views with fresh encoders (:func:`train_views`), measured (:func:`measure`);
    ``include_start=False`` skips the untrained identity flow (the same for every mode)."""
    rows = []
    for epoch, flow in learned.snapshots[0 if include_start else 1:]:
        views = FlowViews(flow, cfg.input_space, cfg.size, cfg.crop_scale, label=f"{learned.mode} epoch {epoch}")
        trained = train_views(cfg, data, views, seed, progress, desc=f"CMC on {views.value}")
        rows.append(dict(mode=learned.mode, epoch=epoch, **measure(trained, data, cfg, seed)))
    return rows


@torch.no_grad()
def channel_mixing(flow: PixelFlow, space: str = "rgb", device="cpu") -> torch.Tensor:
    """The flow's output channels over the colour cube: ``(3, 3)`` the least-squares linear map
    from the normalised input colour to each output channel (how the learned space mixes R, G, B)."""
    grid = torch.linspace(0, 1, 9, device=device)
    rgb = torch.cartesian_prod(grid, grid, grid).T.reshape(1, 3, 27, 27)            # every colour of a 9^3 grid
    x = convert(rgb, space)
    y = flow(x)
    X = torch.cat([x.flatten(2)[0].T, torch.ones(x[0, 0].numel(), 1, device=device)], 1)   # (P, 4)
    coef = torch.linalg.lstsq(X.double(), y.flatten(2)[0].T.double()).solution             # (4, 3)
    return coef[:3].T.float()


# ---------------------------------------------------------------- augmentations (notebook 4)
def run_augmentations(cfg, data: ViewData, seed: int = 0, progress: bool = True) -> list[dict]:
    """Notebook 4: one encoder (and MLP head) for both views, trained with each augmentation of
    :func:`reprobook.data.randaugment.augmentation_ladder` (in-batch InfoNCE, ``cfg.tau``); each
    measured as :func:`measure` does, the pair being two augmentations of the same image."""
    rows = []
    for name, augment in augmentation_ladder(cfg.size, data.mean, data.std).items():
        torch.manual_seed(seed)
        model = ContrastiveModel(build_encoder(**cfg.encoder), cfg.out_dim, cfg.hidden_dim).to(data.device)
        fit_two_views(model, symmetric_info_nce(cfg.tau), data.contrast_x, data.contrast_y, augment=augment,
                      lr=cfg.lr, generator=make_generator(seed, data.device), progress=progress, desc=f"aug {name}",
                      **schedule(cfg))
        pair = SharedEncoderPair(augment, cfg.size, data.mean, data.std)
        rows.append(dict(augmentation=name, **measure(Trained(pair, _Shared(model), None), data, cfg, seed)))
    return rows


def symmetric_info_nce(tau: float):
    """``objective(z1, z2, y)``: the mean of both directions of the in-batch InfoNCE (the
    gradient scale of one direction, the official loss, at the same lr)."""
    contrast = CrossViewInfoNCE(2, tau)

    def objective(z1, z2, y):
        loss, stats = contrast([z1, z2])
        return loss / 2, stats

    return objective


class SharedEncoderPair:
    """Two independent augmentations of each image (the views of notebook 4); ``whole`` the
    un-augmented image once (one encoder reads it)."""

    family = "augmentation"
    channels = (3, 3)

    def __init__(self, augment, size: int, mean, std):
        self.augment, self.size, self.norm = augment, size, Normalize(mean, std)

    def __call__(self, x, g=None):
        return [self.augment(x, g), self.augment(x, g)]

    def whole(self, x):
        return [self.norm(resize_whole(x, self.size))]


class _Shared(nn.Module):
    """A :class:`ContrastiveModel` with the interface :func:`measure` reads (a list of views in)."""

    def __init__(self, model: ContrastiveModel):
        super().__init__()
        self.net = model

    def forward(self, views):
        return [self.net(v) for v in views]

    def features(self, views):
        return self.net.features(views[0])
