"""Chapter 06 (book/06-rfs): Rethinking Few-Shot Image Classification: a Good Embedding Is All You Need?

Tian, Wang, Krishnan, Tenenbaum & Isola, ECCV 2020 (arXiv 2003.11539); official code
WangYueFt/rfs. No meta-learning: one network is trained with cross-entropy on all the base
(meta-training) classes at once, frozen, and each few-shot episode of novel classes is solved by
a logistic regression on its L2-normalised features (**RFS-simple**). Self-distillation in
born-again generations (a same-architecture student trained on ``gamma * CE + alpha * KD``
against the previous generation) improves the embedding further (**RFS-distill**).

Notebooks: 01-method (the splits, an episode, :func:`untrained_baselines`, :func:`running_interval`),
02-benchmarks (:func:`born_again` and :func:`benchmark` on CIFAR-FS and FC100),
03-ablations (:func:`ablation`, :func:`compare_classifiers`, :func:`compare_embeddings`, and
:func:`benchmark`'s accuracy by generation), 04-features (:func:`cluster_scores`, :func:`projection`
of novel-class features).
"""
from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data import (FEWSHOT_DATASETS, RFS_CIFAR_MEAN, RFS_CIFAR_STD, eval_transform, fewshot_augment,
                    load_fewshot)
from ..data.fewshot import FEWSHOT_NUM_CLASSES, IMAGES_PER_CLASS, canonical_name
from ..eval import (FEWSHOT_CLASSIFIERS, EpisodeSampler, FewShotResult, evaluate_episodes, extract_features,
                    project_2d)
from ..eval.fewshot import Episode
from ..losses.distill import build_distiller
from ..models import Conv4, ResNet12, resnet12
from ..run.scales import configure, require_int
from ..train import fit_distill, fit_supervised, make_generator, resolve_device
from ..train.cache import cached
from .common import schedule

DATASETS = ("cifar100", "splits")     # the images and the class lists a `short` run reads
# seconds each notebook's `short` run may take on one H100/H200: estimates (ResNet-12 at batch 256
# on all of CIFAR-FS and FC100, about 5 s per epoch, 48 epochs; the logistic regressions, a few ms
# each on the CPU, about a minute per notebook), not yet measured
SHORT_BUDGET_S = {"method": 15, "benchmark": 270, "ablations": 100, "features": 25}

MODELS = {"resnet12": resnet12, "conv4": Conv4}
EMBEDDINGS = ("features", "logits")
METHOD_LABELS = {"simple": "RFS-simple", "distill": "RFS-distill"}
DATASET_LABELS = {"cifar-fs": "CIFAR-FS", "fc100": "FC100"}

#: the paper's Table 2 (CIFAR-FS, FC100; ResNet-12), 5-way accuracy % and 95 % half-width:
#: {(dataset, method): {shot: (mean, ci95)}} (shared/papers/REFERENCE.md)
PAPER_TABLE = {
    ("cifar-fs", "simple"): {1: (71.5, 0.8), 5: (86.0, 0.5)},
    ("cifar-fs", "distill"): {1: (73.9, 0.8), 5: (86.9, 0.5)},
    ("fc100", "simple"): {1: (42.6, 0.7), 5: (59.1, 0.6)},
    ("fc100", "distill"): {1: (44.6, 0.7), 5: (60.9, 0.6)},
}

# DropBlock's keep rate falls from 1 to 0.9 over 40,000 forward passes in the official code, which
# counts the per-epoch validate() passes too (base-class accuracy over the training images at batch
# 32: twice the training steps, at batch 64); ours counts training passes only, so the same anneal
# (to 0.9 by epoch ~22 of 90) takes 40,000 * 600 / (600 + 1,200) training steps on CIFAR-FS (FC100:
# 13,325), and proportionally fewer on a shorter schedule
PAPER_ANNEAL_STEPS = 13_333


def anneal_steps_for(epochs: int, batch_size: int = 64, paper_epochs: int = 90) -> int:
    """DropBlock's anneal for ``epochs`` epochs at ``batch_size``: the official fraction of the run."""
    return max(1, round(PAPER_ANNEAL_STEPS * epochs / paper_epochs * 64 / batch_size))


# the official recipe: train_supervised.py / train_distillation.py with the CIFAR schedule of the
# repository's issue #5 (90 epochs, x0.1 at 45, 60, 75: the thread was not readable offline; forks'
# run scripts for CIFAR-FS / FC100 use exactly these); SGD lr 0.05,
# momentum 0.9, wd 5e-4, batch 64; transform D (crop, jitter, flip); ResNet-12 with DropBlock
# (drop rate 0.1, block 2); distillation -r 0.5 -a 0.5 (gamma CE + alpha KD, T 4), two born-again
# generations; eval_fewshot.py: 5-way, 15 queries, support augmented 5x, L2-normalised features,
# logistic regression; 600 episodes in the official code, 1,000 here at paper scale (this book's
# choice, for tighter intervals)
_PAPER = dict(datasets=["cifar-fs", "fc100"], model="resnet12",
              model_kw={"dropblock_mask": "official", "anneal_steps": PAPER_ANNEAL_STEPS},
              train_per_class=None, eval_per_class=None, epochs=90, batch_size=64, lr=0.05, weight_decay=5e-4,
              lr_milestones=[45, 60, 75], lr_decay=0.1, warmup_epochs=0, generations=2, gamma=0.5, alpha=0.5,
              kd_T=4.0, n_way=5, shots=[1, 5], n_query=15, n_episodes=1000, n_aug=5, classifier="LR",
              normalize=True, embedding="features")
# one GPU window: ResNet-12 on all of both datasets, 12 epochs with the schedule's proportions,
# batch 256 with the lr scaled linearly (0.05 x 4; batch 64 leaves a GPU mostly idle), one
# distilled generation (an estimate, not yet measured: see SHORT_BUDGET_S)
_SHORT = dict(_PAPER, model_kw={"dropblock_mask": "official", "anneal_steps": anneal_steps_for(12, 256)}, epochs=12,
              batch_size=256, lr=0.2, lr_milestones=[6, 8, 10], generations=1, n_episodes=600)
# smoke: the official Conv-4 at half width (32 channels: three times faster on a CPU) on 100
# images of each base class, 12 epochs with the schedule's proportions, two generations; episodes
# from 100 images of each novel class (still 600 episodes: a logistic regression costs milliseconds)
_SMOKE = dict(_PAPER, model="conv4", model_kw={"width": 32}, train_per_class=100, eval_per_class=100, epochs=12,
              lr_milestones=[6, 8, 10], n_episodes=600)

CONFIGS = {
    # no training: the splits, an episode, and the protocol on pixels and an untrained network
    "method": {scale: dict(cfg, eval_per_class=100, n_aug=0) for scale, cfg in
               (("smoke", _SMOKE), ("short", _SMOKE), ("paper", _SMOKE))},
    "benchmark": {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER},
    "ablations": {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER},
    "features": {"smoke": dict(_SMOKE, projection_classes=10, projection_per_class=50),
                 "short": dict(_SHORT, projection_classes=10, projection_per_class=100),
                 "paper": dict(_PAPER, projection_classes=10, projection_per_class=100)},
}


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks at ``scale``, checked."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    datasets = overrides.get("datasets")
    if isinstance(datasets, (list, tuple)) and datasets:     # any accepted spelling: "CIFAR-FS", "cifar_fs"
        names, unknown = [], []
        for d in datasets:
            try:
                names.append(canonical_name(d))
            except ValueError:
                unknown.append(d)
        if unknown:
            raise ValueError(f"unknown datasets {unknown}; valid: {', '.join(FEWSHOT_DATASETS)}")
        overrides = dict(overrides, datasets=names)
    if "model" in overrides and "model_kw" not in overrides and overrides["model"] != CONFIGS[notebook].get(
            scale, {}).get("model"):
        overrides = dict(overrides, model_kw={})   # the scale's model_kw belongs to the scale's model
    cfg = configure(CONFIGS[notebook], scale, **overrides)
    if isinstance(cfg.datasets, str) or not cfg.datasets:
        raise TypeError(f"datasets must be a non-empty list of names, got {cfg.datasets!r}")
    if cfg.model not in MODELS:
        raise ValueError(f"unknown model {cfg.model!r}; valid: {', '.join(MODELS)}")
    accepted = set(inspect.signature(MODELS[cfg.model]).parameters) - {"num_classes"}
    if "kw" in accepted:                                    # resnet12(**kw) -> ResNet12's arguments
        accepted = set(inspect.signature(ResNet12).parameters) - {"num_classes"}
    if not isinstance(cfg.model_kw, dict) or set(cfg.model_kw) - accepted:
        raise ValueError(f"model_kw {cfg.model_kw!r} does not fit {cfg.model}; its options: {', '.join(sorted(accepted))}")
    if cfg.embedding not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {cfg.embedding!r}; valid: {', '.join(EMBEDDINGS)}")
    if isinstance(cfg.shots, (int, str)) or not cfg.shots:
        raise TypeError(f"shots must be a non-empty list of integers, got {cfg.shots!r}")
    for key in ("epochs", "batch_size", "n_way", "n_query"):
        require_int(key, cfg[key])
    for i, shot in enumerate(cfg.shots):
        require_int(f"shots[{i}]", shot)
    for key in ("generations", "n_aug"):
        require_int(key, cfg[key], minimum=0)
    require_int("n_episodes (the confidence interval needs two)", cfg.n_episodes, minimum=2)
    require_int("n_way (an episode tells classes apart)", cfg.n_way, minimum=2)
    for key in ("train_per_class", "eval_per_class"):
        if cfg[key] is not None and require_int(key, cfg[key]) > IMAGES_PER_CLASS:
            raise ValueError(f"{key} must be None (all) or at most {IMAGES_PER_CLASS}, got {cfg[key]}")
    novel = min(FEWSHOT_NUM_CLASSES[d]["test"] for d in cfg.datasets)
    if cfg.n_way > novel:
        raise ValueError(f"n_way={cfg.n_way} is more than the {novel} novel classes of {', '.join(cfg.datasets)}")
    per_class = cfg.eval_per_class or IMAGES_PER_CLASS
    if max(cfg.shots) + cfg.n_query > per_class:
        raise ValueError(f"an episode needs n_shot + n_query = {max(cfg.shots) + cfg.n_query} images of a class, "
                         f"but eval_per_class gives {per_class}")
    if cfg.classifier not in FEWSHOT_CLASSIFIERS:
        raise ValueError(f"unknown classifier {cfg.classifier!r}; valid: {', '.join(FEWSHOT_CLASSIFIERS)}")
    if not isinstance(cfg.normalize, bool):
        raise TypeError(f"normalize must be True or False, got {cfg.normalize!r}")
    for key, positive in (("lr", True), ("kd_T", True), ("weight_decay", False), ("gamma", False), ("alpha", False)):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (positive and value == 0):
            raise ValueError(f"{key} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
    return cfg


# ---------------------------------------------------------------- data
@dataclass
class FewShotData:
    """The base (training) classes' images and the novel (test) classes' images of one few-shot
    dataset, uint8 ``(N, 3, 32, 32)`` on ``device``, labels 0..C-1 per split."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_classes: tuple[str, ...]
    test_classes: tuple[str, ...]
    device: torch.device
    mean: tuple[float, ...] = RFS_CIFAR_MEAN
    std: tuple[float, ...] = RFS_CIFAR_STD

    def __post_init__(self):
        self.name = canonical_name(self.name)
        for split, x, y, classes in (("train", self.train_x, self.train_y, self.train_classes),
                                     ("test", self.test_x, self.test_y, self.test_classes)):
            if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
                raise ValueError(f"{split}_x must be uint8 images (N, 3, H, W), got {x.dtype} {tuple(x.shape)}")
            if y.ndim != 1 or len(y) != len(x):
                raise ValueError(f"{split}_y must have shape ({len(x)},) to match {split}_x, got {tuple(y.shape)}")
            if len(y) and (y.is_floating_point() or int(y.min()) < 0 or int(y.max()) >= len(classes)):
                raise ValueError(f"{split}_y must be integer labels 0..{len(classes) - 1} ({len(classes)} "
                                 f"{split} classes)")

    @property
    def label(self) -> str:
        return DATASET_LABELS[self.name]

    def digest(self) -> str:
        """A hash of the training images and labels (what a trained network depends on)."""
        h = hashlib.sha256()
        for t in (self.train_x, self.train_y):
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def describe(self) -> str:
        return (f"{self.label}: {len(self.train_x)} images of {len(self.train_classes)} base classes, "
                f"{len(self.test_x)} images of {len(self.test_classes)} novel classes, on {self.device}")


def load(name: str, cfg, seed: int = 0, device="auto") -> FewShotData:
    """The train (base) and test (novel) splits of ``name``: ``cfg.train_per_class`` /
    ``cfg.eval_per_class`` images of each class (None: all 600), the same ones for a seed."""
    name, device = canonical_name(name), resolve_device(device)
    splits = []
    for split, per_class in (("train", cfg.train_per_class), ("test", cfg.eval_per_class)):
        ds = load_fewshot(name, split)
        if per_class is None and "partial" in ds.note:
            raise ValueError(f"{name} {split}: a run on the whole split needs every CIFAR-100 shard, but {ds.note}")
        splits.append(ds.subset(per_class=per_class, seed=seed) if per_class is not None else ds)
    (tx, ty), (vx, vy) = splits[0].tensors(device), splits[1].tensors(device)
    return FewShotData(name, tx, ty, vx, vy, splits[0].classes, splits[1].classes, device)


def augment(data: FewShotData):
    """The official training transform of CIFAR-FS / FC100 (transform D), with their normalisation."""
    return fewshot_augment(mean=data.mean, std=data.std)


# ---------------------------------------------------------------- models
def build(cfg, num_classes: int) -> nn.Module:
    """The configured embedding network (``cfg.model`` with ``cfg.model_kw``) with a classifier
    over ``num_classes`` base classes."""
    return MODELS[cfg.model](num_classes=num_classes, **cfg.model_kw)


TRAIN_KEYS = ("model", "model_kw", "train_per_class", "epochs", "batch_size", "lr", "weight_decay", "lr_milestones",
              "lr_decay", "warmup_epochs")
DISTILL_KEYS = ("gamma", "alpha", "kd_T")


def _generation_seed(seed: int, generation: int) -> int:
    return 1000 * seed + generation           # distinct initialisations and batches per generation


def train_generation(cfg, data: FewShotData, generation: int, teacher: nn.Module | None = None, seed: int = 0,
                     progress: bool = True, checkpoint=None) -> tuple[nn.Module, list]:
    """Generation 0 (``teacher`` None): cross-entropy on the base classes (rfs
    ``train_supervised.py``). Generation k >= 1: a fresh network of the same architecture trained
    on ``gamma * CE + alpha * KD(T = kd_T)`` against the frozen generation k - 1
    (``train_distillation.py`` with ``--distill kd``). Returns ``(model, history)``."""
    if (generation == 0) != (teacher is None):
        raise ValueError("generation 0 trains without a teacher; every later generation needs one")
    s = _generation_seed(seed, generation)
    torch.manual_seed(s)
    model = build(cfg, len(data.train_classes)).to(data.device)
    g = make_generator(s, data.device)
    common = dict(augment=augment(data), lr=cfg.lr, generator=g, progress=progress, checkpoint=checkpoint,
                  **schedule(cfg))
    if teacher is None:
        result = fit_supervised(model, data.train_x, data.train_y, desc=f"{data.label} gen 0", **common)
    else:
        # KD's loss is the distiller term here: its weight (the official alpha) is beta
        distiller = build_distiller("kd", None, None, gamma=cfg.gamma, beta=cfg.alpha, T=cfg.kd_T)
        result = fit_distill(model, teacher, distiller, data.train_x, data.train_y,
                             desc=f"{data.label} gen {generation}", **common)
    return model.eval(), result.history


def born_again(cfg, data: FewShotData, seed: int = 0, progress: bool = True):
    """Generations 0..``cfg.generations`` on ``data``, each distilled from the one before, each
    trained once and shared with the chapter's later notebooks (:func:`reprobook.train.cache.cached`).
    Returns ``(models, histories)``: lists indexed by generation."""
    models, histories, digest = [], [], data.digest()
    for k in range(cfg.generations + 1):
        teacher = models[-1] if models else None

        def fit(model, checkpoint, k=k, teacher=teacher):
            trained, history = train_generation(cfg, data, k, teacher, seed, progress, checkpoint)
            model.load_state_dict(trained.state_dict())
            return {"history": history}

        keys = TRAIN_KEYS + (DISTILL_KEYS if k else ())
        model, info, _ = cached(build(cfg, len(data.train_classes)).to(data.device), fit, chapter="06-rfs",
                                dataset=data.name, generation=k, config={key: cfg[key] for key in keys}, seed=seed,
                                n_train=len(data.train_x), data=digest)
        models.append(model.eval())
        histories.append(info["history"])
    return models, histories


# ---------------------------------------------------------------- evaluation
def embedder(model: nn.Module, kind: str = "features"):
    """What the episodes see of ``model``: the pooled features (``model.embed``) or the base-class
    logits (``model(x)``, the official ``meta_test(use_logit=True)``)."""
    if kind not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {kind!r}; valid: {', '.join(EMBEDDINGS)}")
    model.eval()
    if kind == "logits" and getattr(model, "num_classes", 0) == 0:
        raise ValueError("embedding 'logits' needs a model with a classifier")
    return model.embed if kind == "features" else model


@dataclass
class NovelFeatures:
    """Features of the novel classes' images: ``query`` ``(N, D)`` through the test transform,
    ``support`` ``(n_aug, N, D)`` through the training transform (None: supports use ``query``)."""

    query: torch.Tensor
    support: torch.Tensor | None


def novel_features(model: nn.Module, data: FewShotData, n_aug: int, kind: str = "features",
                   seed: int = 0) -> NovelFeatures:
    """The features of every novel-class image, extracted once for all episodes (the official
    code extracts them per episode), in float32 (no autocast, as the official evaluation):
    ``n_aug`` augmented copies for the supports (0: none)."""
    encode = embedder(model, kind)
    with torch.no_grad():
        query = extract_features(encode, data.test_x, eval_transform(data.mean, data.std), amp=False)
        support = None
        if n_aug:
            aug, g = augment(data), make_generator(seed, data.device)
            support = torch.stack([extract_features(encode, data.test_x, lambda x: aug(x, g), amp=False)
                                   for _ in range(n_aug)])
    return NovelFeatures(query, support)


def episodes(data: FewShotData, cfg, n_shot: int, seed: int = 0) -> Episode:
    """The ``cfg.n_episodes`` episodes of ``n_shot`` shots on ``data``'s novel classes: the same
    for every model and classifier of a seed."""
    return EpisodeSampler(data.test_y, cfg.n_way, n_shot, cfg.n_query, generator=10_000 * seed + n_shot
                          ).sample_many(cfg.n_episodes)


def few_shot(features: NovelFeatures, data: FewShotData, cfg, seed: int = 0, classifier: str | None = None,
             normalize: bool | None = None, augmented: bool = True) -> dict[int, FewShotResult]:
    """Accuracy of ``features`` on the episodes of each of ``cfg.shots``: ``{shot: FewShotResult}``.
    ``classifier`` / ``normalize`` default to the configured protocol; ``augmented=False``
    fits on the un-augmented supports even when ``features`` has augmented copies."""
    if len(features.query) != len(data.test_y):
        raise ValueError(f"features of {len(features.query)} images, but {data.label} has {len(data.test_y)} novel "
                         f"images: features of another dataset?")
    support = features.support if augmented else None
    return {shot: evaluate_episodes(features.query, episodes=episodes(data, cfg, shot, seed),
                                    support_features=support, classifier=classifier or cfg.classifier,
                                    normalize=cfg.normalize if normalize is None else normalize)
            for shot in cfg.shots}


def accuracy_columns(results: dict[int, FewShotResult]) -> dict[str, float]:
    """``{"1-shot": mean, "1-shot ±": ci95, ...}`` for a table row."""
    row = {}
    for shot, r in results.items():
        row[f"{shot}-shot"] = r.mean
        row[f"{shot}-shot ±"] = r.ci95
    return row


def benchmark(cfg, seed: int = 0, device="auto", progress: bool = True):
    """Notebook 2: on each of ``cfg.datasets``, the generations of :func:`born_again`, each
    evaluated by the configured protocol. Returns ``(table, by_generation, histories)``:
    ``table`` one row per dataset and method (RFS-simple: generation 0, RFS-distill: the last)
    beside the paper's numbers, ``by_generation`` one row per dataset and generation, and the
    training histories ``{dataset: [history per generation]}``."""
    rows, gen_rows, all_histories = [], [], {}
    for name in cfg.datasets:
        data = load(name, cfg, seed, device)
        models, histories = born_again(cfg, data, seed, progress)
        all_histories[name] = histories
        per_gen = []
        for k, model in enumerate(models):
            res = few_shot(novel_features(model, data, cfg.n_aug, cfg.embedding, seed), data, cfg, seed)
            per_gen.append(res)
            gen_rows.append({"dataset": data.label, "generation": k, **accuracy_columns(res)})
        for method, res in (("simple", per_gen[0]), ("distill", per_gen[-1])):
            if method == "distill" and cfg.generations == 0:
                continue
            paper = PAPER_TABLE[(name, method)]
            row = {"dataset": data.label, "method": METHOD_LABELS[method], **accuracy_columns(res)}
            row.update({f"{shot}-shot (paper)": paper[shot][0] for shot in cfg.shots if shot in paper})
            rows.append(row)
    return (pd.DataFrame(rows).set_index(["dataset", "method"]),
            pd.DataFrame(gen_rows).set_index(["dataset", "generation"]), all_histories)


#: notebook 3's cumulative ablation (the paper's Table 4): each row adds one ingredient
ABLATION_STEPS = (
    ("NN", dict(classifier="NN", normalize=False, augmented=False, generation=0)),
    ("LR", dict(classifier="LR", normalize=False, augmented=False, generation=0)),
    ("+ L2 normalisation", dict(classifier="LR", normalize=True, augmented=False, generation=0)),
    ("+ support augmentation", dict(classifier="LR", normalize=True, augmented=True, generation=0)),
    ("+ distillation", dict(classifier="LR", normalize=True, augmented=True, generation=-1)),
)


def ablation(cfg, seed: int = 0, device="auto", progress: bool = True) -> pd.DataFrame:
    """Notebook 3: the cumulative ablation of :data:`ABLATION_STEPS` on each dataset, one row per
    step, columns ``"<dataset> <shot>-shot"`` (accuracy %) and their ``±`` half-widths. Without
    distilled generations (or augmented supports) that step's row is left out."""
    columns = {}
    for name in cfg.datasets:
        data = load(name, cfg, seed, device)
        models, _ = born_again(cfg, data, seed, progress)
        feats = {}
        for step, opts in ABLATION_STEPS:
            if (opts["generation"] == -1 and cfg.generations == 0) or (opts["augmented"] and cfg.n_aug == 0):
                continue                     # no distilled generation / no augmented supports configured
            gen = opts["generation"] % len(models)
            if gen not in feats:
                feats[gen] = novel_features(models[gen], data, cfg.n_aug, cfg.embedding, seed)
            res = few_shot(feats[gen], data, cfg, seed, classifier=opts["classifier"], normalize=opts["normalize"],
                           augmented=opts["augmented"])
            for shot, r in res.items():
                columns.setdefault(f"{data.label} {shot}-shot", {})[step] = r.mean
                columns.setdefault(f"{data.label} {shot}-shot ±", {})[step] = r.ci95
    table = pd.DataFrame(columns)
    table.index.name = "protocol"
    return table


def compare_classifiers(cfg, seed: int = 0, device="auto", progress: bool = True,
                        classifiers=("LR", "centroid", "NN", "Cosine")) -> pd.DataFrame:
    """Notebook 3: each classifier, with and without L2 normalisation, on RFS-simple's features
    (the configured support augmentation and embedding), the same episodes for all: rows
    ``(dataset, classifier)``, columns ``"<shot>-shot"`` with and without ``" (no L2)"``."""
    if isinstance(classifiers, str):
        raise TypeError(f"classifiers must be a list of names, got the string {classifiers!r}")
    unknown = [c for c in classifiers if c not in FEWSHOT_CLASSIFIERS]
    if unknown:
        raise ValueError(f"unknown classifiers {unknown}; valid: {', '.join(FEWSHOT_CLASSIFIERS)}")
    rows = []
    for name in cfg.datasets:
        data = load(name, cfg, seed, device)
        models, _ = born_again(cfg, data, seed, progress)
        feats = novel_features(models[0], data, cfg.n_aug, cfg.embedding, seed)
        for clf in classifiers:
            row = {"dataset": data.label, "classifier": clf}
            for normalize, suffix in ((True, ""), (False, " (no L2)")):
                for shot, r in few_shot(feats, data, cfg, seed, classifier=clf, normalize=normalize).items():
                    row[f"{shot}-shot{suffix}"] = r.mean
            rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "classifier"])


def compare_embeddings(cfg, seed: int = 0, device="auto", progress: bool = True) -> pd.DataFrame:
    """Notebook 3: RFS-simple's pooled features against its base-class logits (the official
    ``meta_test`` default), by the configured protocol: rows ``(dataset, embedding)``."""
    rows = []
    for name in cfg.datasets:
        data = load(name, cfg, seed, device)
        models, _ = born_again(cfg, data, seed, progress)
        for kind in EMBEDDINGS:
            res = few_shot(novel_features(models[0], data, cfg.n_aug, kind, seed), data, cfg, seed)
            dim = models[0].feat_dim if kind == "features" else models[0].num_classes
            rows.append({"dataset": data.label, "embedding": f"{kind} ({dim}-d)", **accuracy_columns(res)})
    return pd.DataFrame(rows).set_index(["dataset", "embedding"])


# ---------------------------------------------------------------- notebook 1: untrained features
class Pixels(nn.Module):
    """The identity embedding: an image's normalised pixels, flattened ``(B, 3 * H * W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    embed = forward


def untrained_baselines(cfg, data: FewShotData, seed: int = 0) -> pd.DataFrame:
    """Notebook 1: the protocol on features no training produced, the raw pixels and a randomly
    initialised ``cfg.model``: rows by embedding, :func:`accuracy_columns`."""
    torch.manual_seed(seed)
    nets = {"pixels": Pixels(), f"untrained {cfg.model}": build(cfg, 0).to(data.device)}
    rows = []
    for label, net in nets.items():
        res = few_shot(novel_features(net, data, cfg.n_aug, "features", seed), data, cfg, seed)
        rows.append({"embedding": label, **accuracy_columns(res)})
    return pd.DataFrame(rows).set_index("embedding")


def running_interval(result: FewShotResult) -> pd.DataFrame:
    """The mean and 95 % half-width over the first n episodes, for n = 2..E (how the interval
    narrows as episodes accumulate): columns ``episodes``, ``mean``, ``ci95``."""
    from ..eval import mean_confidence_interval

    if not isinstance(result, FewShotResult):
        raise TypeError(f"result must be one FewShotResult (e.g. few_shot(...)[1]), got {type(result).__name__}")
    rows = [(n, *mean_confidence_interval(result.accuracies[:n])) for n in range(2, len(result.accuracies) + 1)]
    return pd.DataFrame(rows, columns=["episodes", "mean", "ci95"])


# ---------------------------------------------------------------- notebook 4: the embedding's geometry
def cluster_scores(cfg, data: FewShotData, models: dict[str, nn.Module], seed: int = 0) -> pd.DataFrame:
    """How well each embedding of ``models`` separates the *novel* classes it never trained on:
    the silhouette score (cosine) of the L2-normalised features of every novel image by class, and
    the ratio of mean within-class to mean between-class cosine distance (lower: tighter)."""
    from sklearn.metrics import silhouette_score

    rows = []
    labels = data.test_y.cpu().numpy()
    for label, model in models.items():
        f = torch.nn.functional.normalize(novel_features(model, data, 0, "features", seed).query, dim=1)
        f = f.double().cpu()
        dist = 1 - f @ f.T                                                   # (N, N) cosine distances
        same = torch.from_numpy(labels[:, None] == labels[None, :])
        off = ~torch.eye(len(f), dtype=torch.bool)
        ratio = float(dist[same & off].mean() / dist[~same].mean())
        rows.append({"embedding": label, "silhouette": float(silhouette_score(f.numpy(), labels, metric="cosine")),
                     "within / between distance": ratio})
    return pd.DataFrame(rows).set_index("embedding")


def projection(cfg, data: FewShotData, model: nn.Module, method: str = "tsne", seed: int = 0):
    """2-d points of the novel-class features of ``model`` (L2-normalised) for the first
    ``cfg.projection_classes`` novel classes, ``cfg.projection_per_class`` images each:
    ``(points (n, 2), labels (n,))``."""
    labels = data.test_y.cpu().numpy()
    keep = np.concatenate([np.flatnonzero(labels == c)[:cfg.projection_per_class]
                           for c in range(min(cfg.projection_classes, len(data.test_classes)))])
    f = novel_features(model, data, 0, "features", seed).query[torch.from_numpy(keep).to(data.device)]
    return project_2d(torch.nn.functional.normalize(f, dim=1), method, seed), labels[keep]


def named_generations(models: list[nn.Module]) -> dict[str, nn.Module]:
    """``{"RFS-simple": generation 0, "RFS-distill": the last}`` (the latter only when distilled)."""
    out = {METHOD_LABELS["simple"]: models[0]}
    if len(models) > 1:
        out[METHOD_LABELS["distill"]] = models[-1]
    return out


def untrained(cfg, data: FewShotData, seed: int = 0) -> nn.Module:
    """A randomly initialised ``cfg.model`` (the reference an embedding's training is measured from)."""
    torch.manual_seed(seed)
    return build(cfg, len(data.train_classes)).to(data.device).eval()
