"""Chapter 03 (book/03-hypersphere): alignment and uniformity on the hypersphere.

Wang & Isola, "Understanding Contrastive Representation Learning through Alignment and
Uniformity on the Hypersphere", ICML 2020 (arXiv 2005.10242); official code SsnL/align_uniform.

Encoders are trained with one of four objectives and evaluated by the same three numbers:
``L_align`` on positive pairs of held-out images, ``L_uniform`` on their features, and the
top-1 accuracy of a linear probe on the encoder's frozen features.

* ``random``: no training (the initialisation);
* ``supervised``: cross-entropy of a linear classifier on the normalised embedding;
* ``contrastive``: the symmetric InfoNCE loss with in-batch negatives and temperature ``tau``;
* ``align_uniform``: ``w * L_align(alpha) + lam * (L_uniform(z1; t) + L_uniform(z2; t)) / 2``
  (``w = align_weight``, 1 by default; ``lam = 0`` is alignment alone, ``w = 0`` uniformity alone).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..data import eval_transform, simclr_augment, standard_augment
from ..eval import extract_features
from ..losses import align_loss, contrastive_limit, info_nce, info_nce_from_similarities, uniform_loss
from ..models import ContrastiveModel, build_encoder
from ..run.scales import configure
from ..train import fit_supervised, fit_two_views, make_generator
from .common import CifarData, cifar_data, probe_frozen, schedule

OBJECTIVES = ("random", "supervised", "contrastive", "align_uniform")
DATASETS = ("cifar10",)   # what a run reads (the GPU staging plan copies these)
HPARAM_DEFAULTS = {"tau": 0.5, "lam": 1.0, "alpha": 2.0, "t": 2.0, "align_weight": 1.0}

# ---------------------------------------------------------------- configurations
_SMALL = dict(name="small", width=16, stem_stride=2)
# the official view (examples/stl10/main.py): RandomResizedCrop(scale=(aug_scale, 1)) + flip,
# ColorJitter(0.4, 0.4, 0.4, 0.4) always applied, RandomGrayscale(0.2); at every scale, since it
# also defines the positive pairs on which L_align is measured
_VIEW = dict(jitter=(0.4, 0.4, 0.4, 0.4), jitter_p=1.0, gray_p=0.2)
_SMOKE = dict(_VIEW, encoder=_SMALL, hidden_dim=None, batch_size=128, lr=0.1, weight_decay=5e-4,
              warmup_epochs=0, lr_milestones=None, lr_decay=0.1, aug_scale=0.2, probe_epochs=40, eval_points=1000)
# one GPU: SGD lr 0.5 at batch 512 with 2 warm-up epochs and cosine decay, weight decay 5e-4,
# crops of scale 0.2-1 (as SupContrast's CIFAR views: 0.08 is for 64x64 STL-10 crops)
_SHORT = dict(_VIEW, encoder=dict(name="resnet18"), hidden_dim=512, train_per_class=None, test_per_class=None,
              batch_size=512, lr=0.5, weight_decay=5e-4, warmup_epochs=2, lr_milestones=None, lr_decay=0.1,
              aug_scale=0.2, probe_epochs=30, eval_points=4096)
# the official STL-10 recipe (examples/stl10/main.py), on CIFAR-10 with a CIFAR ResNet-18:
# batch 768, lr 0.12 per 256, x0.1 at epochs 155/170/185, weight decay 1e-4, 200 epochs
_PAPER = dict(_VIEW, encoder=dict(name="resnet18"), hidden_dim=512, train_per_class=None, test_per_class=None,
              batch_size=768, lr=0.12 * 768 / 256, weight_decay=1e-4, warmup_epochs=0,
              lr_milestones=[155, 170, 185], lr_decay=0.1, aug_scale=0.08, probe_epochs=100, eval_points=10000)

CONFIGS = {
    "method": {
        "smoke": dict(_SMOKE, train_per_class=100, test_per_class=100, out_dim=32, epochs=8, tau=0.5,
                      ms=[1, 4, 16, 64, 256, 1024, 4096], draws=8),
        "short": dict(_SHORT, out_dim=128, epochs=15, tau=0.5, ms=[1, 4, 16, 64, 256, 1024, 4096, 16384],
                      draws=8),
        "paper": dict(_PAPER, out_dim=128, epochs=200, tau=0.5, ms=[1, 4, 16, 64, 256, 1024, 4096, 16384],
                      draws=8),
    },
    "plots": {
        "smoke": dict(_SMOKE, train_per_class=300, test_per_class=100, out_dim=2, epochs=10, tau=0.5, lam=1.0,
                      alpha=2.0, t=2.0),
        "short": dict(_SHORT, out_dim=2, epochs=15, tau=0.5, lam=1.0, alpha=2.0, t=2.0),
        "paper": dict(_PAPER, out_dim=2, epochs=200, tau=0.5, lam=1.0, alpha=2.0, t=2.0),
    },
    "sweep": {
        "smoke": dict(_SMOKE, train_per_class=150, test_per_class=100, out_dim=32, epochs=8,
                      taus=[0.1, 0.3, 1.0], lams=[0.3, 1.0, 3.0], alpha=2.0, t=2.0),
        "short": dict(_SHORT, out_dim=128, epochs=8, taus=[0.1, 0.3, 1.0], lams=[0.3, 1.0, 3.0],
                      alpha=2.0, t=2.0),
        "paper": dict(_PAPER, out_dim=128, epochs=200, taus=[0.07, 0.2, 0.5, 1.0], lams=[0.3, 1.0, 3.0],
                      alpha=2.0, t=2.0),
    },
    "direct": {
        "smoke": dict(_SMOKE, train_per_class=300, test_per_class=100, out_dim=32, epochs=15, tau=0.5,
                      lam=1.0, alpha=2.0, t=2.0),
        "short": dict(_SHORT, out_dim=128, epochs=30, tau=0.2, lam=1.0, alpha=2.0, t=2.0),
        "paper": dict(_PAPER, out_dim=128, epochs=200, tau=0.2, lam=1.0, alpha=2.0, t=2.0),
    },
}


#: Seconds each notebook's ``short`` run may take on one H100/H200 (a chapter, data staging and
#: installs included, must fit 8 minutes: one lent GPU window). Estimated, not yet measured (no GPU
#: was lent when they were set), from DESIGN.md's measured throughput of a CIFAR ResNet-18 on an
#: H200 with GPU-resident data, bf16 and channels_last: 60-77k views/s, i.e. ~1.5 s per two-view
#: epoch of CIFAR-10 and ~0.8 s per supervised one, plus ~3 s per linear probe and ~10 s of kernel
#: start and data loading per notebook. method: 15 contrastive epochs; plots: 3 trained encoders x
#: 15 epochs; sweep: 9 trained encoders x 8 epochs; direct: 2 x 30 epochs.
SHORT_BUDGET_S = {"method": 45, "plots": 90, "sweep": 150, "direct": 120}

#: Reference numbers, read from the official repositories' READMEs (see ../shared/papers/REFERENCE.md):
#: linear-probe top-1 (%) of the paper's direct objective and of the contrastive loss.
PAPER_NUMBERS = [
    dict(dataset="STL-10", encoder="AlexNet (BN), 200 epochs", objective="align + uniform (α=2, t=2)",
         top1=83.19, source="SsnL/align_uniform, examples/stl10"),
    dict(dataset="ImageNet-100", encoder="ResNet-50 (MoCo)", objective="MoCo contrastive, τ=0.07",
         top1=73.12, source="SsnL/moco_align_uniform README"),
    dict(dataset="ImageNet-100", encoder="ResNet-50 (MoCo)", objective="contrastive, τ=0.2",
         top1=75.54, source="SsnL/moco_align_uniform README"),
    dict(dataset="ImageNet-100", encoder="ResNet-50 (MoCo)", objective="2·align + uniform (t=2)",
         top1=75.44, source="SsnL/moco_align_uniform README"),
    dict(dataset="ImageNet-100", encoder="ResNet-50 (MoCo)", objective="3·align + uniform (t=3)",
         top1=75.62, source="SsnL/moco_align_uniform README"),
]


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks (``method``, ``plots``, ``sweep``,
    ``direct``) at ``scale``."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    return configure(CONFIGS[notebook], scale, **overrides)


def load(cfg, seed: int = 0, device="auto") -> CifarData:
    return cifar_data("cifar10", cfg.train_per_class, cfg.test_per_class, seed, device)


def view_augment(cfg, data: CifarData):
    """The chapter's two-view augmentation (one view per call), the official one by default."""
    return simclr_augment(mean=data.mean, std=data.std, scale=(cfg.aug_scale, 1.0), jitter=tuple(cfg.jitter),
                          jitter_p=cfg.jitter_p, gray_p=cfg.gray_p)


# ---------------------------------------------------------------- objectives
def contrastive_objective(tau: float):
    """Symmetric InfoNCE (Eq. 1) with in-batch negatives; also logs L_align and L_uniform."""
    def objective(z1, z2, y):
        loss = (info_nce(z1, z2, tau=tau, check=False) + info_nce(z2, z1, tau=tau, check=False)) / 2
        return loss, _monitor(z1, z2)
    return objective


def align_uniform_objective(lam: float, alpha: float = 2.0, t: float = 2.0, align_weight: float = 1.0):
    """``w L_align(alpha) + lam (L_uniform(z1; t) + L_uniform(z2; t)) / 2`` (Eqs. 2-3; the official
    STL-10 example has ``w = lam = 1``; the ImageNet-100 runs of SsnL/moco_align_uniform use
    ``w = 2, 3, 4`` with ``lam = 1``)."""
    def objective(z1, z2, y):
        a = align_loss(z1, z2, alpha, check=False)
        u = (uniform_loss(z1, t, check=False) + uniform_loss(z2, t, check=False)) / 2
        return align_weight * a + lam * u, {"align": a.detach(), "uniform": u.detach()}
    return objective


def _monitor(z1, z2):
    with torch.no_grad():
        return {"align": align_loss(z1, z2, check=False), "uniform": uniform_loss(z1, check=False)}


# ---------------------------------------------------------------- training
@dataclass
class Trained:
    """An encoder trained with one objective: the model, its history, and what it was."""

    name: str
    objective: str
    model: ContrastiveModel
    history: list = field(default_factory=list)
    hparams: dict = field(default_factory=dict)


def make_model(cfg, device) -> ContrastiveModel:
    return ContrastiveModel(build_encoder(**cfg.encoder), cfg.out_dim, cfg.hidden_dim).to(device)


def train_encoder(cfg, data: CifarData, objective: str, seed: int = 0, name: str | None = None,
                  progress: bool = True, **hparams) -> Trained:
    """Train a fresh encoder (same initialisation for the same ``seed``) with ``objective``.

    ``hparams`` override the configuration's ``tau``, ``lam``, ``alpha``, ``t``, ``align_weight``
    for this run.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    hp = {k: hparams.get(k, cfg.get(k, default)) for k, default in HPARAM_DEFAULTS.items()}
    unknown = set(hparams) - set(hp)
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {sorted(unknown)}; valid: {', '.join(HPARAM_DEFAULTS)}")
    name = name or objective
    torch.manual_seed(seed)
    model = make_model(cfg, data.device)
    g = make_generator(seed, data.device)
    common = dict(schedule(cfg), lr=cfg.lr, generator=g, progress=progress, desc=name)
    if objective == "random":
        return Trained(name, objective, model, [], {})
    if objective == "supervised":
        classifier = nn.Sequential(model, nn.Linear(cfg.out_dim, len(data.classes))).to(data.device)
        aug = standard_augment(mean=data.mean, std=data.std)
        result = fit_supervised(classifier, data.train_x, data.train_y, augment=aug, **common)
        return Trained(name, objective, model, result.history, {})
    aug = view_augment(cfg, data)
    if objective == "contrastive":
        fn, used = contrastive_objective(hp["tau"]), {"tau": hp["tau"]}
    else:
        fn = align_uniform_objective(hp["lam"], hp["alpha"], hp["t"], hp["align_weight"])
        used = {"align_weight": hp["align_weight"], "lam": hp["lam"], "alpha": hp["alpha"], "t": hp["t"]}
    result = fit_two_views(model, fn, data.train_x, data.train_y, augment=aug, **common)
    return Trained(name, objective, model, result.history, used)


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def embed(model: ContrastiveModel, images: torch.Tensor, data: CifarData) -> torch.Tensor:
    """Normalised embeddings ``(N, out_dim)`` of un-augmented images."""
    return extract_features(model, images, eval_transform(data.mean, data.std))


@torch.no_grad()
def positive_pairs(model: ContrastiveModel, data: CifarData, cfg, seed: int = 0):
    """Embeddings of two augmented views of each held-out image: the positive pairs of L_align."""
    aug = view_augment(cfg, data)
    g = make_generator(10_000 + seed, data.device)
    images = data.test_x[: cfg.eval_points]
    z1 = extract_features(model, images, lambda x: aug(x, g))
    z2 = extract_features(model, images, lambda x: aug(x, g))
    return z1, z2


def evaluate(trained: Trained, data: CifarData, cfg, seed: int = 0, probe_on: str = "encoder") -> dict:
    """``align`` (alpha = 2) and ``uniform`` (t = 2) on held-out images, and linear-probe top-1 %
    on the frozen ``encoder`` features (as the paper's Fig. 5) or on the normalised ``embedding``
    itself (as its Fig. 3 for 2-d features)."""
    if probe_on not in ("encoder", "embedding"):
        raise ValueError(f"probe_on must be 'encoder' or 'embedding', got {probe_on!r}")
    model = trained.model
    z1, z2 = positive_pairs(model, data, cfg, seed)
    z = embed(model, data.test_x[: cfg.eval_points], data)
    probe = probe_frozen(model.encoder if probe_on == "encoder" else model, data, cfg.probe_epochs, seed)
    return {"name": trained.name, "objective": trained.objective, **trained.hparams,
            "align": align_loss(z1, z2).item(), "uniform": uniform_loss(z).item(), "probe_acc": probe.test_acc}


# ---------------------------------------------------------------- the sweep (Fig. 5)
def sweep_specs(cfg) -> list[tuple[str, str, dict]]:
    """The encoders of the align/uniform-vs-accuracy sweep: ``(name, objective, hparams)``.

    Random and supervised references, the contrastive loss at each ``tau`` in ``cfg.taus``,
    align + lam * uniform at each ``lam`` in ``cfg.lams``, and the two degenerate extremes:
    alignment alone (collapse) and uniformity alone (no invariance).
    """
    specs = [("random", "random", {}), ("supervised", "supervised", {})]
    specs += [(f"contrastive τ={tau:g}", "contrastive", {"tau": tau}) for tau in cfg.taus]
    specs += [(f"align+{lam:g}·uniform", "align_uniform", {"lam": lam}) for lam in cfg.lams]
    specs += [("align only", "align_uniform", {"lam": 0.0}),
              ("uniform only", "align_uniform", {"align_weight": 0.0})]
    return specs


def run_sweep(cfg, data: CifarData, seed: int = 0, progress: bool = True) -> list[dict]:
    """Train and evaluate every encoder of :func:`sweep_specs`; one result dict per encoder."""
    rows = []
    for name, objective, hp in sweep_specs(cfg):
        trained = train_encoder(cfg, data, objective, seed, name=name, progress=progress, **hp)
        rows.append(evaluate(trained, data, cfg, seed))
    return rows


# ---------------------------------------------------------------- Theorem 1, numerically
@torch.no_grad()
def contrastive_gap(z1: torch.Tensor, z2: torch.Tensor, bank: torch.Tensor, tau: float, ms, draws: int = 8,
                    seed: int = 0) -> dict:
    """``L_contrastive(M) - log M`` for each ``M`` in ``ms`` (negatives drawn i.i.d. from ``bank``,
    averaged over ``draws`` draws), against the limit of Theorem 1 computed on ``bank``.

    Returns ``{"limit", "align_term", "uniform_term", "m", "value", "gap"}``.
    """
    g = torch.Generator(device="cpu").manual_seed(seed)
    align_term, uniform_term = contrastive_limit(z1, z2, bank, tau)
    limit = (align_term + uniform_term).item()
    pos = (z1 * z2).sum(dim=1, keepdim=True)                          # (Q, 1)
    sims = z1 @ bank.T                                                # (Q, N): all candidate negatives
    values = []
    for m in ms:
        per_draw = []
        for _ in range(draws):
            idx = torch.randint(0, len(bank), (len(z1), m), generator=g).to(bank.device)
            per_draw.append(info_nce_from_similarities(pos, sims.gather(1, idx), tau).item() - math.log(m))
        values.append(sum(per_draw) / draws)
    return {"limit": limit, "align_term": align_term.item(), "uniform_term": uniform_term.item(),
            "m": list(ms), "value": values, "gap": [v - limit for v in values]}
