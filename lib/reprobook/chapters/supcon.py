"""Chapter 05 (book/05-supcon): supervised contrastive learning.

Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020 (arXiv 2004.11362); official
code HobbitLong/SupContrast. Three ways to train one encoder:

* ``cross_entropy``: encoder + linear classifier, trained end to end (the official ``main_ce.py``);
* ``supcon``: :class:`~reprobook.losses.SupConLoss` with labels on two views, then a linear
  classifier on the frozen encoder;
* ``simclr``: the same loss without labels (NT-Xent), then a linear classifier.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..data import Compose, Normalize, RandomResizedCrop, corrupt, eval_transform, simclr_augment
from ..eval import accuracy, extract_features
from ..losses import SupConLoss
from ..models import ContrastiveModel, build_encoder
from ..run.scales import configure
from ..train import fit_supervised, fit_two_views, make_generator, maybe_compile
from .common import CifarData, cifar_data, probe_frozen

METHODS = ("cross_entropy", "supcon", "simclr")
# what a run with the default parameters reads (dataset=cifar100 needs that too); frost: the
# pictures of CIFAR-10-C's frost corruption (notebook 3)
DATASETS = ("cifar10", "frost")

#: linear-evaluation top-1 (%) of the official README (ResNet-50), the paper's Table 2 recipe
PAPER_TOP1 = {
    "cifar10": {"cross_entropy": 95.0, "supcon": 96.0, "simclr": 93.6},
    "cifar100": {"cross_entropy": 75.3, "supcon": 76.5, "simclr": 70.7},
}

# base_tau: SupConLoss scales the loss by tau / base_tau with base_tau = 0.07 (the official
# default, kept by main_supcon.py), so SupCon at tau 0.1 and SimCLR at tau 0.5 train with 1.43x
# and 7.14x the gradient of the plain mean; every scale keeps that scaling.
# ce_lr / ce_epochs: the cross-entropy baseline's own lr and length (None: the shared ones).
# warmup_above_batch: warm up only for batches larger than this (the official rule; None: always).
_SMALL = dict(name="small", width=16, stem_stride=2)
_SMOKE = dict(dataset="cifar10", encoder=_SMALL, out_dim=128, batch_size=128, lr=0.1, weight_decay=1e-4,
              warmup_epochs=0, warmup_above_batch=None, tau=0.1, simclr_tau=0.5, base_tau=0.07, ce_lr=None,
              ce_epochs=None, probe_epochs=40, compile=False)
_SHORT = dict(dataset="cifar10", encoder=dict(name="resnet18"), out_dim=128, train_per_class=None,
              test_per_class=None, batch_size=1024, lr=0.5, weight_decay=1e-4, warmup_epochs=2,
              warmup_above_batch=None, tau=0.1, simclr_tau=0.5, base_tau=0.07, ce_lr=None, ce_epochs=None,
              probe_epochs=30, compile=False)   # compiling each of ~20 models would eat the budget
# the official recipe: ResNet-50, batch 1024, lr 0.5 cosine, 1000 epochs, 10 warm-up epochs when the
# batch exceeds 256, tau 0.1 (SimCLR 0.5), base_tau 0.07; cross-entropy: lr 0.8 (README), 500 epochs (main_ce.py)
_PAPER = dict(_SHORT, encoder=dict(name="resnet50"), epochs=1000, warmup_epochs=10, warmup_above_batch=256,
              ce_lr=0.8, ce_epochs=500, probe_epochs=100, compile=True)

CONFIGS = {
    "method": {
        "smoke": dict(_SMOKE, train_per_class=100, test_per_class=100, epochs=8),
        "short": dict(_SHORT, epochs=10),
        "paper": dict(_PAPER),
    },
    "compare": {
        "smoke": dict(_SMOKE, train_per_class=300, test_per_class=100, epochs=12),
        "short": dict(_SHORT, epochs=20),
        "paper": dict(_PAPER),
    },
    "robustness": {
        "smoke": dict(_SMOKE, train_per_class=300, test_per_class=50, epochs=12),
        "short": dict(_SHORT, epochs=20, test_per_class=200),   # 2,000 test images x 95 corrupted copies
        "paper": dict(_PAPER),
    },
    "stability": {
        "smoke": dict(_SMOKE, train_per_class=100, test_per_class=100, epochs=8, taus=[0.05, 0.1, 0.3, 1.0],
                      batch_sizes=[32, 64, 128]),
        "short": dict(_SHORT, epochs=6, taus=[0.05, 0.1, 0.5], batch_sizes=[256, 512, 1024]),
        "paper": dict(_PAPER, taus=[0.05, 0.1, 0.3, 0.5, 1.0], batch_sizes=[256, 512, 1024, 2048, 6144]),
    },
}


#: Seconds each notebook's ``short`` run may take on one H100/H200 (a chapter, data staging and
#: installs included, must fit 8 minutes: one lent GPU window). Estimated, not yet measured (no GPU
#: was lent when they were set), from DESIGN.md's measured 60-77k views/s of a CIFAR ResNet-18 on an
#: H200 (~1.5 s per two-view epoch of CIFAR-10, ~0.8 s per cross-entropy epoch), ~3 s per linear
#: probe and ~10 s of kernel start and data loading per notebook. method: 10 SupCon epochs; compare:
#: 3 methods x 20 epochs; robustness: 2 x 20 epochs and 19 x 5 corrupted copies of 2,000 test
#: images; stability: 3 temperatures + 3 batch sizes x 2 methods, 6 epochs each.
SHORT_BUDGET_S = {"method": 40, "compare": 100, "robustness": 120, "stability": 110}


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks (``method``, ``compare``,
    ``robustness``, ``stability``) at ``scale``."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    return configure(CONFIGS[notebook], scale, **overrides)


def load(cfg, seed: int = 0, device="auto") -> CifarData:
    return cifar_data(cfg.dataset, cfg.train_per_class, cfg.test_per_class, seed, device)


def two_crop_augment(data: CifarData, size: int = 32):
    """The official TwoCropTransform's view: RandomResizedCrop(32, 0.2-1) + flip,
    ColorJitter(0.4, 0.4, 0.4, 0.1) p=0.8, grayscale p=0.2 (each call draws one view)."""
    return simclr_augment(size, data.mean, data.std, scale=(0.2, 1.0))


def crop_flip_augment(data: CifarData, size: int = 32):
    """The cross-entropy baseline's augmentation (official main_ce.py): RandomResizedCrop + flip."""
    return Compose([RandomResizedCrop(size, (0.2, 1.0), flip_p=0.5), Normalize(data.mean, data.std)],
                   channels_last=True)


@dataclass
class Trained:
    method: str
    encoder: nn.Module
    classifier: nn.Module | None          # only for cross-entropy (trained end to end)
    history: list = field(default_factory=list)
    hparams: dict = field(default_factory=dict)


def train(cfg, data: CifarData, method: str, seed: int = 0, progress: bool = True, form: str = "out",
          **overrides) -> Trained:
    """Train an encoder with ``method``; ``overrides`` may set ``tau``, ``batch_size``, ``epochs``, ``lr``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    unknown = set(overrides) - {"tau", "batch_size", "epochs", "lr"}
    if unknown:
        raise ValueError(f"unknown override(s) {sorted(unknown)}; valid: tau, batch_size, epochs, lr")
    ce = method == "cross_entropy"
    base_lr = cfg.ce_lr if ce and cfg.ce_lr is not None else cfg.lr
    base_epochs = cfg.ce_epochs if ce and cfg.ce_epochs is not None else cfg.epochs
    hp = {"batch_size": overrides.get("batch_size", cfg.batch_size), "epochs": overrides.get("epochs", base_epochs)}
    hp["lr"] = overrides.get("lr", base_lr * hp["batch_size"] / cfg.batch_size)   # linear scaling
    warm = cfg.warmup_above_batch is None or hp["batch_size"] > cfg.warmup_above_batch
    torch.manual_seed(seed)
    encoder = build_encoder(**cfg.encoder).to(data.device)
    g = make_generator(seed, data.device)
    common = dict(epochs=hp["epochs"], batch_size=hp["batch_size"], lr=hp["lr"], weight_decay=cfg.weight_decay,
                  warmup_epochs=cfg.warmup_epochs if warm else 0, generator=g, progress=progress, desc=method)
    if ce:
        classifier = nn.Linear(encoder.feat_dim, len(data.classes)).to(data.device)
        model = maybe_compile(nn.Sequential(encoder, classifier), cfg.compile)
        result = fit_supervised(model, data.train_x, data.train_y, augment=crop_flip_augment(data), **common)
        return Trained(method, encoder, classifier, result.history, hp)
    tau = overrides.get("tau", cfg.tau if method == "supcon" else cfg.simclr_tau)
    model = ContrastiveModel(encoder, cfg.out_dim, hidden_dim=encoder.feat_dim).to(data.device)
    model = maybe_compile(model, cfg.compile)
    loss = SupConLoss(tau=tau, base_tau=cfg.base_tau, form=form)
    use_labels = method == "supcon"

    def objective(z1, z2, y):
        return loss(torch.stack([z1, z2], dim=1), y if use_labels else None, check=False)

    result = fit_two_views(model, objective, data.train_x, data.train_y, augment=two_crop_augment(data), **common)
    return Trained(method, encoder, None, result.history, {**hp, "tau": tau, "base_tau": cfg.base_tau, "form": form})


def linear_eval(trained: Trained, data: CifarData, cfg, seed: int = 0, test_x: torch.Tensor | None = None):
    """Top-1 % on ``test_x`` (default: the clean test set). Cross-entropy models use their own
    classifier; contrastive ones a linear probe fitted on frozen clean training features.
    Returns ``(accuracy, predict)`` where ``predict(images)`` gives logits for other test sets."""
    tf = eval_transform(data.mean, data.std)
    if trained.classifier is not None:
        net = nn.Sequential(trained.encoder, trained.classifier)

        def predict(x):
            return extract_features(net, x, tf)
    else:
        probe = probe_frozen(trained.encoder, data, cfg.probe_epochs, seed)

        def predict(x):
            with torch.no_grad():
                return probe.classifier(extract_features(trained.encoder, x, tf))
    x = data.test_x if test_x is None else test_x
    return accuracy(predict(x), data.test_y), predict


def corruption_accuracy(predict, data: CifarData, severities=range(1, 6), seed: int = 0,
                        corruptions=None) -> dict[tuple[str, int], float]:
    """Top-1 % of ``predict`` on every (corruption, severity) of the test set (same noise for all models)."""
    from ..data import CORRUPTIONS

    out = {}
    for name in corruptions or CORRUPTIONS:
        for s in severities:
            x = corrupt(data.test_x, name, s, make_generator(seed + 1000 * s, "cpu"))
            out[(name, s)] = accuracy(predict(x), data.test_y)
    return out


# ---------------------------------------------------------------- the gradient argument (Sec. 3.2.3)
def positive_weights(z: torch.Tensor, labels: torch.Tensor, tau: float) -> dict[str, list]:
    r"""How each form weights the positives in the gradient with respect to an anchor ``z_i``.

    For both forms :math:`\partial\mathcal{L}_i/\partial z_i = \frac{1}{\tau}\big(\sum_{a\in A(i)}
    P_{ia} z_a - \sum_{p\in P(i)} w_{ip} z_p\big)`, with :math:`P_{ia}` the softmax over A(i). The
    weights on the positives differ: :math:`w^{out}_{ip} = 1/|P(i)|` (every positive counts the
    same) and :math:`w^{in}_{ip} = e^{z_i\cdot z_p/\tau}/\sum_{p'} e^{z_i\cdot z_{p'}/\tau}`
    (positives already close to the anchor dominate; hard positives are down-weighted).

    ``z`` ``(N, D)`` normalised embeddings (all views), ``labels`` ``(N,)``. Returns per
    (anchor, positive) pair its similarity and the two weights.
    """
    sim = z @ z.T
    out = {"similarity": [], "w_out": [], "w_in": []}
    for i in range(len(z)):
        pos = (labels == labels[i]).nonzero().squeeze(1)
        pos = pos[pos != i]
        if len(pos) == 0:
            continue
        s = sim[i, pos]
        out["similarity"] += s.tolist()
        out["w_out"] += [1.0 / len(pos)] * len(pos)
        out["w_in"] += torch.softmax(s / tau, dim=0).tolist()
    return out


def analytic_gradient(z: torch.Tensor, labels: torch.Tensor, i: int, tau: float, form: str) -> torch.Tensor:
    """The gradient of anchor ``i``'s loss with respect to ``z_i`` from the formula above
    (compared with autograd in the method notebook and the tests)."""
    sim = z @ z[i] / tau
    mask = torch.ones(len(z), dtype=torch.bool)
    mask[i] = False
    p_ia = torch.softmax(sim[mask], dim=0)
    pos = (labels == labels[i]) & mask
    w = (torch.full((int(pos.sum()),), 1.0 / int(pos.sum()), dtype=z.dtype) if form == "out"
         else torch.softmax(sim[pos], dim=0))
    return (p_ia @ z[mask] - w @ z[pos]) / tau
