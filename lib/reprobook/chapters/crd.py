"""Chapter 02 (book/02-crd): Contrastive Representation Distillation.

Tian, Krishnan & Isola, "Contrastive Representation Distillation", ICLR 2020 (arXiv 1910.10699);
official code HobbitLong/RepDistiller. A small student learns from a trained teacher through
the objective ``gamma * CE + alpha * KD + beta * distiller`` (``train_student.py``); CRD's
distiller is a contrastive objective between the student's and the teacher's penultimate
features, over memory banks of every training sample (the CMC machinery of
:mod:`reprobook.losses.nce`), with negatives from other classes.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data import eval_transform, standard_augment
from ..eval import extract_features, linear_probe
from ..data.contrast_sampler import MODES, contrast_indices
from ..losses import build_distiller
from ..models import build_model
from ..run.scales import configure, require_int
from ..train import fit_distill, fit_distill_init, fit_supervised, make_generator
from ..train.cache import cached
from .common import CifarData, cifar_data, schedule

DATASETS = ("cifar100", "cifar10")      # distillation on CIFAR-100; the transfer probe reads CIFAR-10

#: the methods of the paper's table: the distiller (None: the student alone, cross-entropy) and
#: overrides of its official weights (reprobook.losses.distill: gamma CE + alpha KD + beta distiller)
METHODS: dict[str, tuple[str | None, dict]] = {
    "student": (None, {}), "kd": ("kd", {}), "fitnet": ("fitnet", {}), "at": ("at", {}), "sp": ("sp", {}),
    "cc": ("cc", {}), "vid": ("vid", {}), "rkd": ("rkd", {}), "pkt": ("pkt", {}), "ab": ("ab", {}),
    "ft": ("ft", {}), "fsp": ("fsp", {}), "nst": ("nst", {}), "crd": ("crd", {}), "crd+kd": ("crd", {"alpha": 1.0}),
}
LABELS = {"student": "student alone", "kd": "KD", "fitnet": "FitNet", "at": "AT", "sp": "SP", "cc": "CC", "vid": "VID",
          "rkd": "RKD", "pkt": "PKT", "ab": "AB", "ft": "FT", "fsp": "FSP", "nst": "NST", "crd": "CRD",
          "crd+kd": "CRD + KD"}

#: CIFAR-100 top-1 (%) of the official README (HobbitLong/RepDistiller), teacher -> student: the
#: teacher and the student trained alone, then each distiller (the last epoch's accuracy, mean of runs)
PAPER_TABLE: dict[tuple[str, str], dict[str, float]] = {
    ('wrn_40_2', 'wrn_16_2'): {'teacher': 75.61, 'student': 73.26, 'kd': 74.92, 'fitnet': 73.58, 'at': 74.08,
        'sp': 73.83, 'cc': 73.56, 'vid': 74.11, 'rkd': 73.35, 'pkt': 74.54, 'ab': 72.5, 'ft': 73.25, 'fsp': 72.91,
        'nst': 73.68, 'crd': 75.48},
    ('wrn_40_2', 'wrn_40_1'): {'teacher': 75.61, 'student': 71.98, 'kd': 73.54, 'fitnet': 72.24, 'at': 72.77,
        'sp': 72.43, 'cc': 72.21, 'vid': 73.3, 'rkd': 72.22, 'pkt': 73.45, 'ab': 72.38, 'ft': 71.59, 'nst': 72.24,
        'crd': 74.14},
    ('resnet56', 'resnet20'): {'teacher': 72.34, 'student': 69.06, 'kd': 70.66, 'fitnet': 69.21, 'at': 70.55,
        'sp': 69.67, 'cc': 69.63, 'vid': 70.38, 'rkd': 69.61, 'pkt': 70.34, 'ab': 69.47, 'ft': 69.84, 'fsp': 69.95,
        'nst': 69.6, 'crd': 71.16},
    ('resnet110', 'resnet20'): {'teacher': 74.31, 'student': 69.06, 'kd': 70.67, 'fitnet': 68.99, 'at': 70.22,
        'sp': 70.04, 'cc': 69.48, 'vid': 70.16, 'rkd': 69.25, 'pkt': 70.25, 'ab': 69.53, 'ft': 70.22, 'fsp': 70.11,
        'nst': 69.53, 'crd': 71.46},
    ('resnet110', 'resnet32'): {'teacher': 74.31, 'student': 71.14, 'kd': 73.08, 'fitnet': 71.06, 'at': 72.31,
        'sp': 72.69, 'cc': 71.48, 'vid': 72.61, 'rkd': 71.82, 'pkt': 72.61, 'ab': 70.98, 'ft': 72.37, 'fsp': 71.89,
        'nst': 71.96, 'crd': 73.48},
    ('resnet32x4', 'resnet8x4'): {'teacher': 79.42, 'student': 72.5, 'kd': 73.33, 'fitnet': 73.5, 'at': 73.44,
        'sp': 72.94, 'cc': 72.97, 'vid': 73.09, 'rkd': 71.9, 'pkt': 73.64, 'ab': 73.17, 'ft': 72.86, 'fsp': 72.62,
        'nst': 73.3, 'crd': 75.51},
    ('vgg13', 'vgg8'): {'teacher': 74.64, 'student': 70.36, 'kd': 72.98, 'fitnet': 71.02, 'at': 71.43, 'sp': 72.68,
        'cc': 70.71, 'vid': 71.23, 'rkd': 71.48, 'pkt': 72.88, 'ab': 70.94, 'ft': 70.58, 'fsp': 70.23,
        'nst': 71.53, 'crd': 73.94},
    ('vgg13', 'MobileNetV2'): {'teacher': 74.64, 'student': 64.6, 'kd': 67.37, 'fitnet': 64.14, 'at': 59.4,
        'sp': 66.3, 'cc': 64.86, 'vid': 65.56, 'rkd': 64.52, 'pkt': 67.13, 'ab': 66.06, 'ft': 61.78, 'nst': 58.16,
        'crd': 69.73},
    ('ResNet50', 'MobileNetV2'): {'teacher': 79.34, 'student': 64.6, 'kd': 67.35, 'fitnet': 63.16, 'at': 58.58,
        'sp': 68.08, 'cc': 65.43, 'vid': 67.57, 'rkd': 64.43, 'pkt': 66.52, 'ab': 67.2, 'ft': 60.99, 'nst': 64.96,
        'crd': 69.11},
    ('ResNet50', 'vgg8'): {'teacher': 79.34, 'student': 70.36, 'kd': 73.81, 'fitnet': 70.69, 'at': 71.84,
        'sp': 73.34, 'cc': 70.25, 'vid': 70.3, 'rkd': 71.5, 'pkt': 73.01, 'ab': 70.65, 'ft': 70.29, 'nst': 71.28,
        'crd': 74.3},
    ('resnet32x4', 'ShuffleV1'): {'teacher': 79.42, 'student': 70.5, 'kd': 74.07, 'fitnet': 73.59, 'at': 71.73,
        'sp': 73.48, 'cc': 71.14, 'vid': 73.38, 'rkd': 72.28, 'pkt': 74.1, 'ab': 73.55, 'ft': 71.75, 'nst': 74.12,
        'crd': 75.11},
    ('resnet32x4', 'ShuffleV2'): {'teacher': 79.42, 'student': 71.82, 'kd': 74.45, 'fitnet': 73.54, 'at': 72.73,
        'sp': 74.56, 'cc': 71.29, 'vid': 73.4, 'rkd': 73.21, 'pkt': 74.69, 'ab': 74.31, 'ft': 72.5, 'nst': 74.68,
        'crd': 75.65},
    ('wrn_40_2', 'ShuffleV1'): {'teacher': 75.61, 'student': 70.5, 'kd': 74.83, 'fitnet': 73.73, 'at': 73.32,
        'sp': 74.52, 'cc': 71.38, 'vid': 73.61, 'rkd': 72.21, 'pkt': 73.89, 'ab': 73.34, 'ft': 72.03, 'nst': 74.89,
        'crd': 76.05},
}


#: a pair's name in configurations and notebook parameters: "teacher->student"
PAIRS = {f"{t}->{s}": (t, s) for t, s in PAPER_TABLE}
SMOKE_PAIRS = {"resnet20->resnet8": ("resnet20", "resnet8")}      # not in the paper: small enough for a CPU
SMALL_LR_MODELS = ("MobileNetV2", "ShuffleV1", "ShuffleV2")    # trained with lr 0.01 (train_student/teacher.py)

# the official recipe (train_teacher.py, train_student.py, scripts/run_cifar_distill.sh): 240 epochs,
# batch 64, SGD lr 0.05 (0.01 for MobileNetV2 / ShuffleNets), momentum 0.9, wd 5e-4, x0.1 at 150, 180,
# 210; RandomCrop(32, 4) + flip; KD T 4; CRD K 16384, T 0.07, m 0.5, 128-d, 'exact' positives; the
# init stage of AB, FT, FSP 30 epochs
_PAPER = dict(pair="resnet32x4->resnet8x4", classes=None, train_per_class=None, test_per_class=None,
              transfer_train_per_class=None, transfer_test_per_class=None, probe_epochs=100,
              teacher_epochs=240, epochs=240, init_epochs=30, batch_size=64, lr=0.05, weight_decay=5e-4,
              lr_milestones=[150, 180, 210], lr_decay=0.1, warmup_epochs=0, K=16384, mode="exact",
              methods=list(METHODS))
# one GPU window: the paper's headline pair on all of CIFAR-100 with a short schedule and six methods
# (an estimate, not yet measured on a GPU: teacher 20 epochs ~2 min, each student 10 epochs ~30 s
# with bf16 on an H100; see SHORT_BUDGET_S)
_SHORT = dict(_PAPER, probe_epochs=30, teacher_epochs=20, epochs=10, init_epochs=3, batch_size=128, lr=0.1,
              lr_milestones=None, warmup_epochs=1, methods=["student", "kd", "at", "pkt", "crd", "crd+kd"])
# smoke: a small pair on ten CIFAR-100 classes (every tenth class), on 2 CPU cores
_SMOKE = dict(_PAPER, pair="resnet20->resnet8", classes=list(range(0, 100, 10)), train_per_class=250,
              test_per_class=100, transfer_train_per_class=200, transfer_test_per_class=100, probe_epochs=40,
              teacher_epochs=12, epochs=6, init_epochs=2, batch_size=64, lr=0.05, lr_milestones=None,
              warmup_epochs=0, K=512, methods=["student", "kd", "crd", "crd+kd", "at", "pkt"])

# notebook 1 needs no training: the headline pair's feature shapes, the smoke data's labels
_METHOD = dict(pair="resnet32x4->resnet8x4", classes=list(range(0, 100, 10)), train_per_class=250, test_per_class=10,
               K=512, mode="exact", methods=list(METHODS), batch=64, feat_dim=256)

CONFIGS = {
    "method": {"smoke": _METHOD, "short": _METHOD, "paper": _METHOD},
    "distill": {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER},
    "structure": {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER},
    "transfer": {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER},
}
# the later notebooks reuse the models notebook 2 trained (reprobook.train.cache)
SHORT_BUDGET_S = {"method": 15, "distill": 340, "structure": 15, "transfer": 30}


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks at ``scale`` (``pair="t->s"`` picks
    any pair of :data:`PAIRS`)."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    cfg = configure(CONFIGS[notebook], scale, **overrides)
    if cfg.pair not in _all_pairs():
        raise ValueError(f"unknown pair {cfg.pair!r}; valid: {', '.join(_all_pairs())}")
    if isinstance(cfg.methods, str) or not all(isinstance(m, str) for m in cfg.methods):
        raise TypeError(f"methods must be a list of method names, got {cfg.methods!r}")
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; valid: {', '.join(METHODS)}")
    if cfg.mode not in MODES:
        raise ValueError(f"unknown CRD mode {cfg.mode!r}; valid: {', '.join(MODES)}")
    for key in (k for k in ("K", "epochs", "teacher_epochs", "batch_size") if k in cfg):
        require_int(key, cfg[key])
    return cfg


def _all_pairs() -> dict[str, tuple[str, str]]:
    return {**PAIRS, **SMOKE_PAIRS}


def pair_models(cfg) -> tuple[str, str]:
    """``(teacher, student)`` model names of ``cfg.pair``."""
    return _all_pairs()[cfg.pair]


def lr_for(model: str, cfg) -> float:
    """The official lr: 0.01 for MobileNetV2 and the ShuffleNets at paper scale, ``cfg.lr`` otherwise."""
    return 0.01 if (model in SMALL_LR_MODELS and cfg.scale == "paper") else cfg.lr


def load(cfg, seed: int = 0, device="auto") -> CifarData:
    return cifar_data("cifar100", cfg.train_per_class, cfg.test_per_class, seed, device, classes=cfg.classes)


def augment(data: CifarData):
    """RandomCrop(32, padding 4) + flip + the CIFAR-100 normalisation (the official loaders)."""
    return standard_augment(mean=data.mean, std=data.std)


def train_teacher(cfg, data: CifarData, seed: int = 0, progress: bool = True, checkpoint=None) -> nn.Module:
    """The teacher of ``cfg.pair``, trained with cross-entropy (``train_teacher.py``)."""
    name, _ = pair_models(cfg)
    torch.manual_seed(seed)
    model = build_model(name, num_classes=len(data.classes)).to(data.device)
    fit_supervised(model, data.train_x, data.train_y, augment=augment(data), lr=lr_for(name, cfg),
                   generator=make_generator(seed, data.device), progress=progress, checkpoint=checkpoint,
                   desc=f"teacher {name}", **schedule(cfg, cfg.teacher_epochs))
    return model.eval()


# what a teacher depends on (a change of a student setting must not retrain it)
TEACHER_KEYS = ("pair", "classes", "train_per_class", "teacher_epochs", "batch_size", "lr", "weight_decay",
                "lr_milestones", "lr_decay", "warmup_epochs")


def _key(cfg, data: CifarData, seed: int, role: str) -> dict:
    keys = TEACHER_KEYS if role == "teacher" else [k for k in cfg if k != "methods"]
    return dict(chapter="02-crd", role=role, config={k: cfg[k] for k in keys}, seed=seed, n_train=len(data.train_x))


def teacher_and_students(cfg, data: CifarData, seed: int = 0, progress: bool = True):
    """The teacher and one student per method of ``cfg.methods``, each trained once and then
    shared with the chapter's later notebooks (:func:`reprobook.train.cache.cached`). Returns
    ``(teacher, {method: student}, {method: history})``."""
    t_name, s_name = pair_models(cfg)

    def fit_teacher(model, checkpoint):
        trained = train_teacher(cfg, data, seed, progress, checkpoint=checkpoint)
        model.load_state_dict(trained.state_dict())
        return {}

    teacher, _, _ = cached(build_model(t_name, num_classes=len(data.classes)).to(data.device), fit_teacher,
                           **_key(cfg, data, seed, "teacher"))
    teacher.eval()
    students, histories = {}, {}
    for method in cfg.methods:
        def fit_student(model, checkpoint, method=method):
            trained, history = distill(cfg, data, teacher, method, seed, progress, checkpoint=checkpoint)
            model.load_state_dict(trained.state_dict())
            return {"history": history}

        student, info, _ = cached(build_model(s_name, num_classes=len(data.classes)).to(data.device), fit_student,
                                  method=method, **_key(cfg, data, seed, "student"))
        students[method], histories[method] = student.eval(), info["history"]
    return teacher, students, histories


def feature_shapes(model: nn.Module, device) -> list[tuple[int, ...]]:
    """The shapes ``(B, ...)`` of ``model(x, is_feat=True)``'s features on a batch of two 32x32 images."""
    was = model.training
    model.eval()
    with torch.no_grad():
        feats, _ = model(torch.zeros(2, 3, 32, 32, device=device), is_feat=True)
    model.train(was)
    return [tuple(f.shape) for f in feats]


def make_distiller(method: str, shapes_s, shapes_t, n_data: int, K: int):
    """The distiller of ``method`` (None for the student alone) for models with these feature
    shapes, with the official weights and the method's overrides; CRD's ``K`` is capped below
    ``n_data``."""
    key, overrides = METHODS[method]
    if key is None:
        return None
    options = dict(overrides, K=min(K, n_data - 1)) if key == "crd" else overrides
    return build_distiller(key, shapes_s, shapes_t, n_data=n_data, **options)


def distill(cfg, data: CifarData, teacher: nn.Module, method: str, seed: int = 0, progress: bool = True,
            checkpoint=None):
    """Train the student of ``cfg.pair`` with ``method`` (a key of :data:`METHODS`) against the
    frozen ``teacher``; returns ``(student, history)``. ``checkpoint``: a file the main stage
    saves every epoch and resumes from."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    _, name = pair_models(cfg)
    torch.manual_seed(seed)
    student = build_model(name, num_classes=len(data.classes)).to(data.device)
    key = METHODS[method][0]
    sample_fn = None
    g = make_generator(seed, data.device)
    distiller = make_distiller(method, feature_shapes(student, data.device), feature_shapes(teacher, data.device),
                               n_data=len(data.train_x), K=cfg.K)
    if distiller is not None:
        distiller.to(data.device)
        if key == "crd":
            labels = data.train_y

            def sample_fn(index):
                return contrast_indices(labels, index, distiller.crd.K, mode=cfg.mode, generator=g)
        resuming = checkpoint is not None and Path(checkpoint).exists()   # the main stage restores the student
        if distiller.needs_init and cfg.init_epochs and not resuming:
            fit_distill_init(student, teacher, distiller, data.train_x, data.train_y, augment=augment(data),
                             epochs=cfg.init_epochs, batch_size=cfg.batch_size, weight_decay=cfg.weight_decay,
                             lr=0.01 if key == "ft" and name.startswith(("resnet", "wrn")) else lr_for(name, cfg),
                             generator=g, progress=progress, desc=f"{method} init stage")
    result = fit_distill(student, teacher, distiller, data.train_x, data.train_y, augment=augment(data),
                         lr=lr_for(name, cfg), sample_fn=sample_fn, generator=g, progress=progress,
                         checkpoint=checkpoint, desc=f"{LABELS[method]}: {cfg.pair}", **schedule(cfg))
    return student.eval(), result.history


@torch.no_grad()
def accuracy(model: nn.Module, data: CifarData, batch_size: int = 500) -> float:
    """Top-1 (%) on the test split."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    model.eval()
    tf = eval_transform(data.mean, data.std)
    correct = 0
    for k in range(0, len(data.test_x), batch_size):
        out = model(tf(data.test_x[k:k + batch_size]))
        if out.shape[1] != len(data.classes):
            raise ValueError(f"the model has {out.shape[1]} outputs but the data {len(data.classes)} classes")
        correct += int((out.argmax(1) == data.test_y[k:k + batch_size]).sum())
    return 100.0 * correct / len(data.test_x)


def method_table(cfg, device="cpu") -> list[dict]:
    """One row per method of ``cfg.methods`` for ``cfg.pair``: its weights (gamma, alpha, beta),
    the features it reads, whether it needs pre-activations or an init stage, and the number of
    parameters it trains besides the student."""
    t_name, s_name = pair_models(cfg)
    shapes_s = feature_shapes(build_model(s_name).to(device), device)
    shapes_t = feature_shapes(build_model(t_name).to(device), device)
    rows = []
    for method in cfg.methods:
        d = make_distiller(method, shapes_s, shapes_t, n_data=cfg.K + 1, K=cfg.K)
        if d is None:
            rows.append(dict(method=LABELS[method], gamma=1.0, alpha=0.0, beta=0.0, reads="-", init_stage=False,
                             extra_params=0))
            continue
        extra = sum(p.numel() for m in d.trainable_modules("main") for p in m.parameters())
        rows.append(dict(method=LABELS[method], gamma=d.gamma, alpha=d.alpha, beta=d.beta, reads=d.reads or "logits",
                         init_stage=bool(d.needs_init), extra_params=extra))
    return rows


@torch.no_grad()
def null_space_demo(n: int = 64, d: int = 256, classes: int = 100, seed: int = 0) -> dict:
    """Why KD on logits misses structure: move student features ``(n, d)`` within the null space
    of the classifier ``W`` ``(classes, d)`` (possible since ``d > classes``): the logits, hence
    the KD loss against any teacher, are unchanged, while the features' pairwise cosine
    similarities change. Returns both similarity matrices and the numbers."""
    from ..losses import kd_loss

    if d <= classes:
        raise ValueError(f"the classifier has a null space only when d > classes, got d={d}, classes={classes}")
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(classes, d, generator=g, dtype=torch.float64) / d ** 0.5
    f = torch.relu(torch.randn(n, d, generator=g, dtype=torch.float64))            # student features
    teacher_logits = torch.randn(n, classes, generator=g, dtype=torch.float64) * 2
    null = torch.linalg.svd(W, full_matrices=True).Vh[classes:]                     # (d - classes, d), W null^T = 0
    moved = f + 3 * torch.randn(n, len(null), generator=g, dtype=torch.float64) @ null
    cos = lambda x: torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T  # noqa: E731
    before, after = cos(f), cos(moved)
    off = ~torch.eye(n, dtype=torch.bool)
    return {"similarity_before": before, "similarity_after": after,
            "kd_before": float(kd_loss(f @ W.T, teacher_logits, 4.0)),
            "kd_after": float(kd_loss(moved @ W.T, teacher_logits, 4.0)),
            "max_logit_change": float((moved @ W.T - f @ W.T).abs().max()),
            "mean_similarity_change": float((after - before)[off].abs().mean())}


def penultimate(model: nn.Module, images: torch.Tensor, data: CifarData) -> torch.Tensor:
    """The pooled pre-logit features ``(N, feat_dim)`` of ``model`` on un-augmented ``images``
    (normalised with ``data``'s statistics)."""
    return extract_features(lambda x: model(x, is_feat=True)[0][-1], images, eval_transform(data.mean, data.std))


@torch.no_grad()
def logits(model: nn.Module, images: torch.Tensor, data: CifarData) -> torch.Tensor:
    return extract_features(model, images, eval_transform(data.mean, data.std))


def _offdiag_corr(a: torch.Tensor, b: torch.Tensor) -> float:
    off = ~torch.eye(len(a), dtype=torch.bool, device=a.device)
    return float(torch.corrcoef(torch.stack([a[off].double(), b[off].double()]))[0, 1])


@torch.no_grad()
def structure(teacher: nn.Module, students: dict, data: CifarData, n_images: int = 500) -> dict:
    """How much of the teacher's structure each student carries, on ``n_images`` test images:

    * ``similarity_corr``: the correlation between the teacher's and the student's pairwise
      cosine-similarity matrices of penultimate features (1: the same geometry);
    * ``logit_corr_gap``: the mean absolute difference between the teacher's and the student's
      correlation matrices of class logits (the paper's Fig. 3; 0: the same class structure),
      with the matrices themselves in ``gaps`` for plotting."""
    if n_images < 3:
        raise ValueError(f"structure needs at least 3 images to correlate similarities, got n_images={n_images}")
    x = data.test_x[:n_images]
    cos = lambda f: torch.nn.functional.normalize(f, dim=1) @ torch.nn.functional.normalize(f, dim=1).T  # noqa: E731
    sim_t = cos(penultimate(teacher, x, data))
    corr_t = torch.corrcoef(logits(teacher, x, data).T.double())                  # (C, C)
    out = {"similarity_corr": {}, "logit_corr_gap": {}, "gaps": {}}
    for method, student in students.items():
        out["similarity_corr"][method] = _offdiag_corr(sim_t, cos(penultimate(student, x, data)))
        gap = (torch.corrcoef(logits(student, x, data).T.double()) - corr_t).abs()
        out["gaps"][method] = gap.cpu()
        out["logit_corr_gap"][method] = float(gap.mean())
    return out


def transfer(models: dict, cfg, seed: int = 0, device="auto") -> dict:
    """Linear-probe top-1 (%) on CIFAR-10 of each model's frozen penultimate features (the
    paper's transfer experiment, there CIFAR-100 -> STL-10 and Tiny-ImageNet): ``models`` maps a
    name to a network trained on CIFAR-100."""
    target = cifar_data("cifar10", cfg.transfer_train_per_class, cfg.transfer_test_per_class, seed, device)
    out = {}
    for name, model in models.items():
        a, b = (penultimate(model, x, target) for x in (target.train_x, target.test_x))
        out[name] = linear_probe(a, target.train_y, b, target.test_y, epochs=cfg.probe_epochs,
                                 generator=make_generator(seed, target.device)).test_acc
    return out
