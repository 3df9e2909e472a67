"""Chapter 07 (book/07-gan-steerability): on the "steerability" of generative adversarial networks.

Jahanian, Chai & Isola, ICLR 2020 (arXiv 1907.07171); official code ali-design/gan_steerability.
A walk in a frozen generator's latent space is trained to imitate an image edit of the generator's
own samples (Eq. 1); how far it gets shows how far the generator can move an attribute, and the
paper relates that to how much the training data varies in it.

Two generators, both offline: the pretrained 64x64 face DCGAN of ``gan-face-generate`` 1.1.1
(:func:`reprobook.models.dcgan.load_face_generator`) and a 32x32 DCGAN trained here on CIFAR-10
(:func:`cifar_gan`, cached between notebooks and saved in the same checkpoint format).

Notebooks: 01-method (:func:`toy_walk`, :func:`edit_panel`, :func:`walk`), 02-galleries
(:func:`walks_for`, :func:`gallery`), 03-limits (:func:`curves`, :func:`variability`),
04-steerable-training (:func:`steerable_training`).
"""
from __future__ import annotations

import hashlib
import math
from functools import partial

import pandas as pd
import torch
from torch import nn

from ..models.dcgan import Discriminator, Generator, load_face_generator
from ..run.scales import Config, configure, require_int
from ..steer import (EDITS, IDENTITY_ALPHAS, LinearWalk, NonlinearWalk, alpha_range, edit_alpha, edit_units, luminance,
                     step_alpha, train_walk, uniform_alpha, walk_alpha)
from ..steer.limits import attribute_curve, attribute_spread, pearson, reach, spread_subsets
from ..steer.toy import ToyLinearGenerator, colour_shift
from ..train.cache import cached
from ..train.gan import JointWalk, edit_augment, to_signed, train_dcgan
from ..train.seed import resolve_device
from .common import cifar_data

DATASETS = ("cifar10",)     # what a run reads (the GPU staging plan copies these)
# what the device needs beyond the shared wheelhouse: the face DCGAN's weights ship in this wheel
# (installed without its dependencies: only gan_face_generate/weights.tar is read)
DEVICE_PACKAGES = ("gan-face-generate==1.1.1",)
# seconds each notebook's `short` run may take on one H100/H200: estimates, not yet measured (no GPU
# was lent): a 32x32 DCGAN step at batch 128 takes a few ms on a GPU, a walk step ~2 ms
SHORT_BUDGET_S = {"method": 30, "galleries": 90, "limits": 120, "steerable": 150}

EDIT_NAMES = ("zoom", "shiftx", "rotate2d", "brightness")
VARIANT_COLORS = {"baseline": "C0", "augment": "C1", "joint": "C3"}
NONLINEAR_EDITS = ("zoom", "brightness")

# The official walk recipe (train.py; config/biggan_*_{linear,nonlinear}.yml; graphs/*/constants.py):
# Adam, 20,000 codes in batches of 4 (5,000 steps). Linear walks: lr 1e-4 for colour and zoom, 1e-3
# for shifts and rotations. Non-linear (NNz) walks: colour ε 0.1, N_f 5, lr 1e-3; zoom ε 1.41 (a
# factor per step: √2 here, so that the grids of powers of two are whole steps), N_f 4; shifts 25 px
# of BigGAN's 256 (a walk coordinate of 25 / 128 here), rotations 10°, N_f 5; those three at lr 1e-4
# with LPIPS (L2 here). ε is given in the walk's coordinate (edits.walk_alpha: log zoom, shift /
# (size // 2), degrees / 45, colour as is).
_ALL = lambda v: {e: v for e in EDIT_NAMES}                               # noqa: E731
_NN_EPS = {"zoom": math.log(math.sqrt(2.0)), "shiftx": 25 / 128, "rotate2d": 10 / 45, "brightness": 0.1}
_NN_STEPS = {"zoom": 4, "shiftx": 5, "rotate2d": 5, "brightness": 5}
# Sec. 4.4 (steer_aug/DCGAN-tensorflow/model_argminGW2_rot2d.py): D also sees the walked images as
# fakes; G minimises g_loss + g_loss_new + L2 (λ = 1); the walk its own Adam at the GAN's lr;
# per iteration D, then G and the walk twice (DCGAN-tensorflow's "run g_optim twice").
# DCGAN (the PyTorch tutorial): Adam 2e-4, betas (0.5, 0.999), batch 128, ngf = ndf = 64.
_PAPER = dict(walk_steps=5000, walk_batch=4,
              walk_lr={"zoom": 1e-4, "shiftx": 1e-3, "rotate2d": 1e-3, "brightness": 1e-4},
              nn_lr={"zoom": 1e-4, "shiftx": 1e-4, "rotate2d": 1e-4, "brightness": 1e-3},
              nn_steps=_NN_STEPS, nn_eps=_NN_EPS,
              gan_steps=20000, gan_batch=128, gan_lr=2e-4, gan_g_steps=2, ngf=64, nz=100, train_per_class=None,
              eval_samples=512, gallery_samples=3, toy_steps=500,
              variability_fractions=[0.1, 0.25, 0.5, 1.0], variability_size=10000, variability_gan_steps=5000,
              lam=1.0, joint_walk_lr=2e-4, augment_p=0.5, steer_edit="zoom", cifar_walk_steps=5000)
# one GPU window: 2,000 walk steps of batch 16 at lr 1e-3; the CIFAR DCGAN 4,000 steps (~10 epochs)
_SHORT = dict(_PAPER, walk_steps=2000, walk_batch=16, walk_lr=_ALL(1e-3), nn_lr=_ALL(1e-3), gan_steps=4000,
              eval_samples=256, variability_size=5000, variability_gan_steps=1500, cifar_walk_steps=2000)
# smoke (2 CPU cores): 200 walk steps of batch 8 at lr 1e-2 on the 64x64 faces, 600 on the
# cheaper 32x32 CIFAR generators (at 1e-4 a walk barely leaves its initialisation in 200 steps); a
# half-width DCGAN for 500 steps, one G step per D step (blurry colour blobs: honest, not good);
# the variability generators 200 steps of batch 32 on 2,000 images each
_SMOKE = dict(_PAPER, walk_steps=200, walk_batch=8, walk_lr=_ALL(1e-2), nn_lr=_ALL(1e-2), gan_steps=500,
              gan_batch=64, gan_g_steps=1, ngf=32, train_per_class=1000, eval_samples=64, toy_steps=300,
              variability_size=2000, variability_gan_steps=200, variability_batch=32, cifar_walk_steps=600)
_PAPER["variability_batch"] = _SHORT["variability_batch"] = 64

CONFIGS = {name: {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER}
           for name in ("method", "galleries", "limits", "steerable")}

#: alpha grids of the curves (notebook 3): the training range and beyond it (strict=False)
#: (zoom and brightness: whole steps of their non-linear walks, ε = √2 and 0.1)
CURVE_ALPHAS = {
    "zoom": [2.0 ** (k / 2) for k in (-6, -4, -2, -1, 0, 1, 2, 4, 6)],      # 1/8 .. 8
    "shiftx": [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0],     # fractions of the image width
    "rotate2d": [-75.0, -60.0, -45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0, 60.0, 75.0],   # axes wrap at ±90
    "brightness": [-1.0, -0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
}
#: alpha columns of the galleries (notebook 2), within the training ranges
GALLERY_ALPHAS = {
    "zoom": [0.25, 0.5, 1.0, 2.0, 4.0],
    "shiftx": [-0.5, -0.25, 0.0, 0.25, 0.5],
    "rotate2d": [-45.0, -22.5, 0.0, 22.5, 45.0],
    "brightness": [-0.5, -0.2, 0.0, 0.2, 0.5],
}


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks at ``scale``, checked. ``walk_lr``,
    ``nn_lr``, ``nn_eps`` (walk coordinates) and ``nn_steps`` map each edit to its value."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    cfg = configure(CONFIGS[notebook], scale, **overrides)
    for name in ("walk_steps", "cifar_walk_steps", "walk_batch", "gan_steps", "gan_batch", "gan_g_steps", "ngf", "nz",
                 "eval_samples", "gallery_samples", "toy_steps", "variability_size", "variability_gan_steps",
                 "variability_batch"):
        require_int(name, cfg[name])
    for name in ("gan_lr", "joint_walk_lr"):
        _require_positive(name, cfg[name])
    for name in ("walk_lr", "nn_lr", "nn_eps", "nn_steps"):
        table = cfg[name]
        if not isinstance(table, dict) or set(EDIT_NAMES) - set(table):
            raise ValueError(f"{name} must map every edit of {EDIT_NAMES} to a value, got {table!r}")
        for edit in EDIT_NAMES:
            (require_int if name == "nn_steps" else _require_positive)(f"{name}[{edit!r}]", table[edit])
    if cfg.steer_edit not in EDIT_NAMES:
        raise ValueError(f"steer_edit must be one of {EDIT_NAMES}, got {cfg.steer_edit!r}")
    _require_positive("augment_p", cfg.augment_p, allow_zero=True)
    if cfg.augment_p > 1:
        raise ValueError(f"augment_p must lie in [0, 1], got {cfg.augment_p!r}")
    _require_positive("lam", cfg.lam, allow_zero=True)
    for name in ("gan_batch", "variability_batch", "walk_batch"):
        require_int(name, cfg[name], minimum=2 if name != "walk_batch" else 1)
    if cfg.train_per_class is not None:
        require_int("train_per_class", cfg.train_per_class)
    fractions = cfg.variability_fractions
    if not isinstance(fractions, (list, tuple)) or len(fractions) < 2 or not all(
            isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f <= 1 for f in fractions):
        raise ValueError(f"variability_fractions must be a list of at least two numbers in (0, 1], got {fractions!r}")
    return cfg


def _require_positive(name: str, value, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# α in the walk's coordinates
# ---------------------------------------------------------------------------------------------

def walk_coordinate(edit: str, size: int):
    """``α -> walk_alpha(edit, α, size)`` (the official walks' coordinates)."""
    return partial(walk_alpha, edit, size=size)


def nonlinear_alpha(edit: str, steps: int, eps: float, size: int):
    """The NN walk's training α (official ``get_train_alpha`` of ``NNz``): one ``n ~ U{-steps..steps}``
    per batch (:func:`~reprobook.steer.walks.step_alpha`), the walk coordinate ``n ε`` (zoom: ``log``
    of the factor), returned in the edit's units, shape ``(B,)``."""
    steps_sampler = step_alpha(steps, eps)

    def sample(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return edit_units(edit, steps_sampler(batch, generator)[:, 0], size)
    return sample


def realised_alpha(walk_module: nn.Module, edit: str, alpha: float, size: int) -> float:
    """The α a walk realises when asked for ``alpha`` (edit units): a :class:`NonlinearWalk` walks
    ``round(coordinate / ε)`` whole steps, so it realises ``n ε`` (back in the edit's units); a
    linear walk realises ``alpha`` itself. :func:`curves` builds its targets at this α; the grids
    :data:`CURVE_ALPHAS` and :data:`GALLERY_ALPHAS` are whole steps of the NN walks (tested), so a
    gallery's NN row and its target row share their α."""
    if not isinstance(walk_module, NonlinearWalk):
        return float(alpha)
    coord = float(walk_alpha(edit, alpha, size))
    snapped = round(coord / walk_module.eps) * walk_module.eps
    if abs(snapped - coord) < 1e-6:
        return float(alpha)                                           # already a whole number of steps
    return float(edit_units(edit, torch.tensor(snapped), size))


def shift_pixels(edit: str, alpha: float, size: int) -> float:
    """Curves and galleries give shifts as fractions of the image; the edits take pixels."""
    return alpha * size if edit in ("shiftx", "shifty") else alpha


# ---------------------------------------------------------------------------------------------
# generators
# ---------------------------------------------------------------------------------------------

def _hash_tensor(h, t: torch.Tensor) -> None:
    h.update(f"{tuple(t.shape)} {t.dtype}".encode())
    h.update(t.detach().cpu().contiguous().numpy().tobytes())


def state_digest(module: nn.Module) -> str:
    """A hash of a module's weights and buffers (names, shapes, values): the cache key of what was
    trained *on* it (a walk belongs to one generator)."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        _hash_tensor(h, t)
    return h.hexdigest()[:16]


def tensor_digest(t: torch.Tensor) -> str:
    """A hash of a tensor's shape, dtype and values (the cache key of the images a GAN trains on)."""
    h = hashlib.sha256()
    _hash_tensor(h, t)
    return h.hexdigest()[:16]


def face_generator(device="auto") -> Generator:
    """The pretrained face DCGAN (64x64, nz 100), frozen, in eval mode."""
    return load_face_generator(resolve_device(device))


def cifar_images(cfg, seed: int = 0, device="auto") -> torch.Tensor:
    """CIFAR-10 training images as uint8 ``(N, 3, 32, 32)`` on ``device`` (``train_per_class`` each)."""
    data = cifar_data("cifar10", train_per_class=cfg.train_per_class, test_per_class=10, seed=seed,
                      device=resolve_device(device))
    return data.train_x


def _gan_parts(cfg, **extra) -> dict:
    keys = ("gan_steps", "gan_batch", "gan_lr", "gan_g_steps", "ngf", "nz", "train_per_class")
    return dict({k: cfg[k] for k in keys}, **extra)


def cifar_gan(cfg, images: torch.Tensor, seed: int = 0, variant: str = "baseline", progress: bool = True,
              data: str = "cifar10"):
    """Our CIFAR-10 DCGAN (32x32, ``ngf = ndf = cfg.ngf``), trained for ``gan_steps`` or taken from
    the cache. ``variant``: ``"baseline"``; ``"augment"`` (each real image zoomed with probability
    ``augment_p`` by the official training α of ``steer_edit``, one per image); ``"joint"`` (a
    linear walk for ``steer_edit`` trained with ``G`` as the official ``steer_aug`` code, Sec. 4.4:
    :func:`reprobook.train.gan.train_dcgan` with ``lam`` and the walk's Adam at ``joint_walk_lr``).
    Every variant takes ``gan_g_steps`` G steps per D step. Returns ``(G, walk or None,
    history dict)``, ``G`` in eval mode. ``data`` names ``images`` in the cache key (a subset must
    say which)."""
    if variant not in ("baseline", "augment", "joint"):
        raise ValueError(f"variant must be 'baseline', 'augment' or 'joint', got {variant!r}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, 32, 32):
        raise ValueError(f"images must be CIFAR-shaped (N, 3, 32, 32), got {tuple(images.shape)}")
    device = images.device
    with torch.random.fork_rng(devices=[]):                            # the caller's RNG stays as it was
        torch.manual_seed(seed)
        G = Generator(nz=cfg.nz, ngf=cfg.ngf, size=32)
        D = Discriminator(ndf=cfg.ngf, size=32)
    walk = LinearWalk(cfg.nz, 1, generator=torch.Generator().manual_seed(seed + 1)) if variant == "joint" else None
    parts = nn.ModuleDict(dict(G=G, D=D, **({"walk": walk} if walk is not None else {}))).to(device)
    edit = cfg.steer_edit

    def fit(module, _checkpoint):
        g = torch.Generator().manual_seed(seed)
        sampler = edit_alpha(edit, 32, per_sample=True)          # one α per image, as steer_aug
        augment = edit_augment(EDITS[edit], sampler, cfg.augment_p) if variant == "augment" else None
        joint = (JointWalk(module["walk"], EDITS[edit], sampler, cfg.lam, walk_coordinate(edit, 32),
                           lr=cfg.joint_walk_lr) if variant == "joint" else None)
        h = train_dcgan(module["G"], module["D"], images, cfg.gan_steps, cfg.gan_batch, cfg.gan_lr, generator=g,
                        augment=augment, joint=joint, g_steps=cfg.gan_g_steps, progress=progress,
                        desc=f"DCGAN ({variant})")
        return h.as_dict()

    parts, info, _ = cached(parts, fit, chapter="gan_steerability", what="cifar_gan", variant=variant, seed=seed,
                            edit=edit if variant != "baseline" else None,
                            lam=cfg.lam if variant == "joint" else None,
                            joint_walk_lr=cfg.joint_walk_lr if variant == "joint" else None,
                            augment_p=cfg.augment_p if variant == "augment" else None,
                            data=data, images=tensor_digest(images), **_gan_parts(cfg))
    parts.eval()
    return parts["G"], (parts["walk"] if walk is not None else None), info


def gan_summary(history: dict, last: int = 50) -> dict:
    """Means over the last ``last`` steps: D's loss, G's loss, D(x) and D(G(z))."""
    require_int("last", last)
    tail = {k: v[-last:] for k, v in history.items() if v}
    return {k: sum(v) / len(v) for k, v in tail.items()}


# ---------------------------------------------------------------------------------------------
# walks
# ---------------------------------------------------------------------------------------------

def nn_eps(edit: str, cfg, size: int) -> float:
    """ε of the non-linear walk for ``edit`` in walk coordinates, for images ``size`` pixels wide:
    ``cfg.nn_eps[edit]``, except that a shift step is rounded to whole pixels (the official 25 px of
    256 is 6 px of 64 and 3 of 32), since shifts move by whole pixels."""
    eps = cfg.nn_eps[edit]
    if edit in ("shiftx", "shifty"):
        half = size // 2
        eps = max(1, round(eps * half)) / half
    return eps


def _walk_module(kind: str, edit: str, G: nn.Module, cfg, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    if kind == "linear":
        return LinearWalk(G.nz, 1, generator=g)
    if kind == "nonlinear":
        return NonlinearWalk(G.nz, steps=cfg.nn_steps[edit], eps=nn_eps(edit, cfg, G.size), generator=g)
    raise ValueError(f"kind must be 'linear' or 'nonlinear', got {kind!r}")


def walk(G: nn.Module, edit: str, kind: str, cfg, seed: int = 0, name: str = "generator", progress: bool = True):
    """A ``kind`` walk (``"linear"``: Eq. 1; ``"nonlinear"``: the NN walk) for ``edit`` on the frozen
    ``G``, trained by the official recipe scaled by ``cfg`` (or taken from the cache; ``name``
    identifies ``G`` in the key: the face DCGAN or a CIFAR variant). Returns ``(walk, losses)``."""
    if edit not in EDIT_NAMES:
        raise ValueError(f"edit must be one of {EDIT_NAMES}, got {edit!r}")
    size, device = G.size, next(G.parameters()).device
    module = _walk_module(kind, edit, G, cfg, seed).to(device)
    edit_fn = EDITS[edit]
    if kind == "linear":
        sampler, lr = edit_alpha(edit, size), cfg.walk_lr[edit]
    else:                      # N_f ε may pass the linear range (official rotations: 5 x 10°)
        sampler, lr = nonlinear_alpha(edit, cfg.nn_steps[edit], module.eps, size), cfg.nn_lr[edit]
        edit_fn = partial(EDITS[edit], strict=False)

    steps = cfg.walk_steps if size == 64 else cfg.cifar_walk_steps

    def fit(m, _checkpoint):
        history = train_walk(G, m, edit_fn, sampler, steps=steps, batch=cfg.walk_batch, lr=lr,
                             generator=torch.Generator().manual_seed(seed + 7), device=device, progress=progress,
                             walk_alpha_fn=walk_coordinate(edit, size))
        return {"loss": history}

    module, info, _ = cached(module, fit, chapter="gan_steerability", what="walk", generator_name=name,
                             generator_digest=state_digest(G), edit=edit, kind=kind, seed=seed, walk_steps=steps,
                             walk_batch=cfg.walk_batch, lr=lr, nn_steps=cfg.nn_steps[edit],
                             nn_eps=getattr(module, "eps", None))
    module.eval()
    return module, info["loss"]


def walks_for(G: nn.Module, cfg, seed: int = 0, name: str = "generator", edits=EDIT_NAMES,
              nonlinear=NONLINEAR_EDITS, progress: bool = True) -> dict:
    """``{(edit, kind): (walk, losses)}``: a linear walk for each of ``edits`` and a non-linear one
    for each of ``nonlinear``."""
    edits, nonlinear = ((e,) if isinstance(e, str) else tuple(e) for e in (edits, nonlinear))
    out = {}
    for edit in edits:
        out[(edit, "linear")] = walk(G, edit, "linear", cfg, seed, name, progress)
    for edit in nonlinear:
        out[(edit, "nonlinear")] = walk(G, edit, "nonlinear", cfg, seed, name, progress)
    return out


def loss_table(walks: dict, last: int = 20) -> pd.DataFrame:
    """Eq. 1's loss of each walk: the mean of its first and of its last ``last`` steps."""
    rows = []
    for (edit, kind), (_, losses) in walks.items():
        n = min(last, len(losses))
        rows.append(dict(edit=edit, walk=kind, first=sum(losses[:n]) / n, last=sum(losses[-n:]) / n))
    df = pd.DataFrame(rows)
    df["ratio"] = df["last"] / df["first"]
    return df


# ---------------------------------------------------------------------------------------------
# notebook 1: the method
# ---------------------------------------------------------------------------------------------

def toy_walk(cfg, seed: int = 0) -> dict:
    """Eq. 1 on :class:`~reprobook.steer.toy.ToyLinearGenerator`, where the optimum ``w*_c = A⁺ e_c``
    is known: a linear colour walk (3 directions) trained ``toy_steps`` steps (Adam 0.02, then a
    fifth of them at 1e-3). Returns the losses and, every 10 steps, the cosine of each learned
    direction with ``w*`` and the relative error ``‖w − w*‖ / ‖w*‖``."""
    G = ToyLinearGenerator(nz=8, channels=3, height=4, width=4, seed=seed)
    w_star = G.optimal_colour_walk()                                    # (3, nz) float64
    walk_ = LinearWalk(8, 3, generator=torch.Generator().manual_seed(seed + 1))
    g = torch.Generator().manual_seed(seed + 2)
    sampler = uniform_alpha(-0.5, 0.5, 3)                              # the official colour α
    rows = []

    def trace(step: int, loss: float) -> None:
        if step % 10 == 0:
            w = walk_.w.detach().double()
            cos = torch.nn.functional.cosine_similarity(w, w_star, dim=1)
            rows.append(dict(step=len(losses) + step, cos_min=cos.min().item(),
                             rel_error=((w - w_star).norm() / w_star.norm()).item(), loss=loss))

    losses: list[float] = []
    slow = cfg.toy_steps // 5          # Adam at a constant lr hovers ~lr around w*: the last fifth at 1e-3
    for steps, lr in ((cfg.toy_steps - slow, 0.02), (slow, 1e-3)):
        if steps == 0:
            continue
        losses += train_walk(G, walk_, colour_shift, sampler, steps=steps, batch=8, lr=lr, generator=g, callback=trace)
    return dict(losses=losses, trace=pd.DataFrame(rows), w=walk_.w.detach().double(), w_star=w_star)


@torch.no_grad()
def edit_panel(G: nn.Module, edits=EDIT_NAMES, alphas=GALLERY_ALPHAS, seed: int = 0) -> dict:
    """For one sample ``G(z)``: each edit at each of its gallery α, with its mask.
    ``{edit: [(α, edited (C, H, W), mask (H, W)), ...]}`` on the CPU."""
    device = next(G.parameters()).device
    z = torch.randn(1, G.nz, generator=torch.Generator().manual_seed(seed)).to(device)
    x = G(z)
    out = {}
    for edit in edits:
        row = []
        for a in alphas[edit]:
            edited, mask = EDITS[edit](x, shift_pixels(edit, a, G.size))
            row.append((a, edited[0].cpu(), mask[0, 0].cpu()))
        out[edit] = row
    return out


# ---------------------------------------------------------------------------------------------
# notebook 2: galleries
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def gallery(G: nn.Module, walks: dict, edit: str, alphas=None, samples: int = 2, seed: int = 0) -> dict:
    """Rows of images along α for ``samples`` codes: ``{"alphas": [...], "target": (S, A, C, H, W),
    "linear": ..., "nonlinear": ... (when trained)}`` on the CPU, the target the edit of ``G(z)``."""
    if edit not in GALLERY_ALPHAS:
        raise ValueError(f"edit must be one of {tuple(GALLERY_ALPHAS)}, got {edit!r}")
    alphas = GALLERY_ALPHAS[edit] if alphas is None else alphas
    device = next(G.parameters()).device
    z = torch.randn(samples, G.nz, generator=torch.Generator().manual_seed(seed)).to(device)
    x = G(z)
    to_walk = walk_coordinate(edit, G.size)
    rows = {"target": []}
    kinds = [k for k in ("linear", "nonlinear") if (edit, k) in walks]
    for k in kinds:
        rows[k] = []
    for a in alphas:
        alpha = torch.full((samples,), float(shift_pixels(edit, a, G.size)), device=device)
        rows["target"].append(EDITS[edit](x, alpha, strict=False)[0].cpu())
        for k in kinds:
            rows[k].append(G(walks[(edit, k)][0](z, to_walk(alpha))).cpu())
    out = {k: torch.stack(v, dim=1) for k, v in rows.items()}          # (S, A, C, H, W)
    out["alphas"] = list(alphas)
    return out


# ---------------------------------------------------------------------------------------------
# notebook 3: limits
# ---------------------------------------------------------------------------------------------

def curves(G: nn.Module, walks: dict, cfg, seed: int = 0, edits=EDIT_NAMES) -> pd.DataFrame:
    """:func:`~reprobook.steer.limits.attribute_curve` of every walk in ``walks`` over
    :data:`CURVE_ALPHAS` (shifts as fractions of the image; beyond the training range too), on
    ``eval_samples`` codes. One row per (edit, walk, α)."""
    device = next(G.parameters()).device
    z = torch.randn(cfg.eval_samples, G.nz, generator=torch.Generator().manual_seed(seed + 100)).to(device)
    frames = []
    for (edit, kind), (w, _) in walks.items():
        if edit not in edits:
            continue
        alphas = [realised_alpha(w, edit, shift_pixels(edit, a, G.size), G.size) for a in CURVE_ALPHAS[edit]]
        rows = attribute_curve(G, w, edit, list(dict.fromkeys(alphas)), z, walk_alpha_fn=walk_coordinate(edit, G.size))
        df = pd.DataFrame(rows)
        df.insert(0, "walk", kind)
        df.insert(0, "edit", edit)
        df["size"] = G.size
        frames.append(df)
    if not frames:
        raise ValueError(f"no walk in walks is for one of the edits {tuple(edits)}")
    return pd.concat(frames, ignore_index=True)


def reach_table(curve_df: pd.DataFrame, by=("edit", "walk")) -> pd.DataFrame:
    """One row per group of ``by`` of a curve table (columns ``edit`` and ``size``, the image size):
    :func:`~reprobook.steer.limits.reach` within the training range (``reach``) and over the whole
    grid (``reach_all``), and the mean ``explained`` share of the edit's distance within the training
    range (identity α left out) and beyond it."""
    rows = []
    for key, df in curve_df.groupby(list(by), sort=False):
        edit, size = df.edit.iloc[0], int(df["size"].iloc[0])
        lo, hi = alpha_range(edit, size)
        in_range = (df.alpha >= lo - 1e-9) & (df.alpha <= hi + 1e-9)
        inside, beyond = df[in_range & (df.alpha != IDENTITY_ALPHAS[edit])], df[~in_range]
        rows.append(dict(zip(by, key if isinstance(key, tuple) else (key,)),
                         reach=reach(df[in_range].to_dict("records"), edit),
                         reach_all=reach(df.to_dict("records"), edit),
                         explained_train=inside.explained.mean(), explained_beyond=beyond.explained.mean()))
    return pd.DataFrame(rows)


def variability(cfg, images: torch.Tensor, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """The dataset-bias experiment (Sec. 4.3, controlled): CIFAR-10 subsets of ``variability_size``
    images spread over the central ``variability_fractions`` of the luminance distribution (narrow
    -> wide), a DCGAN trained on each (``variability_gan_steps`` of batch ``variability_batch``) and
    a linear brightness walk on it. One row per subset: the luminance spread of the data and of the
    generator's samples, and the walk's reach over ``α ∈ [-1, 1]``."""
    lum = luminance(to_signed(images).cpu())
    subsets = spread_subsets(lum, cfg.variability_fractions, min(cfg.variability_size, images.shape[0]))
    device = images.device
    z = torch.randn(cfg.eval_samples, cfg.nz, generator=torch.Generator().manual_seed(seed + 200)).to(device)
    rows = []
    for f, idx in zip(cfg.variability_fractions, subsets):
        subset = images[idx.to(device)]
        sub_cfg = Config(dict(cfg, gan_steps=cfg.variability_gan_steps, gan_batch=cfg.variability_batch))
        G, _, _ = cifar_gan(sub_cfg, subset, seed=seed, variant="baseline", progress=progress,
                            data=f"cifar10-luminance-{f}")
        w, _ = walk(G, "brightness", "linear", cfg, seed, name=f"cifar-luminance-{f}", progress=progress)
        rows_curve = attribute_curve(G, w, "brightness", CURVE_ALPHAS["brightness"], z)
        with torch.no_grad():
            sample_spread = luminance(G(z)).std().item()
        rows.append(dict(fraction=f, data_spread=attribute_spread(to_signed(subset).cpu(), "brightness"),
                         sample_spread=sample_spread, reach=reach(rows_curve, "brightness")))
    return pd.DataFrame(rows)


def variability_correlation(df: pd.DataFrame) -> dict:
    """Pearson's r between the data's luminance spread and the walk's reach (and the samples' spread)."""
    return dict(r_reach=pearson(df.data_spread, df.reach), r_samples=pearson(df.data_spread, df.sample_spread))


# ---------------------------------------------------------------------------------------------
# notebook 4: steerability-aware training
# ---------------------------------------------------------------------------------------------

def steerable_training(cfg, images: torch.Tensor, seed: int = 0, progress: bool = True) -> dict:
    """Sec. 4.4: the CIFAR DCGAN trained plainly, on zoom-augmented data and jointly with a zoom
    walk. Each gets a linear ``steer_edit`` walk trained afterwards on the frozen generator (the
    joint one also keeps the walk it was trained with). Returns ``{"generators": {variant: G},
    "walks": {variant: walk}, "curves": DataFrame, "reach": DataFrame, "gan": DataFrame}``."""
    edit = cfg.steer_edit
    gens, walks, gan_rows, frames = {}, {}, [], []
    z = torch.randn(cfg.eval_samples, cfg.nz, generator=torch.Generator().manual_seed(seed + 300)).to(images.device)
    for variant in ("baseline", "augment", "joint"):
        G, joint_walk, history = cifar_gan(cfg, images, seed=seed, variant=variant, progress=progress)
        gens[variant] = G
        gan_rows.append(dict(variant=variant, **gan_summary(history)))
        trained = {"post-hoc": walk(G, edit, "linear", cfg, seed, name=f"cifar-{variant}", progress=progress)[0]}
        if joint_walk is not None:
            trained["joint"] = joint_walk
        for how, w in trained.items():
            walks[(variant, how)] = w
            alphas = [shift_pixels(edit, a, 32) for a in CURVE_ALPHAS[edit]]
            df = pd.DataFrame(attribute_curve(G, w, edit, alphas, z, walk_alpha_fn=walk_coordinate(edit, 32)))
            df.insert(0, "walk", how)
            df.insert(0, "variant", variant)
            df.insert(0, "edit", edit)
            df["size"] = G.size
            frames.append(df)
    curve_df = pd.concat(frames, ignore_index=True)
    return dict(generators=gens, walks=walks, curves=curve_df, reach=reach_table(curve_df, by=("variant", "walk")),
                gan=pd.DataFrame(gan_rows))


@torch.no_grad()
def samples(G: nn.Module, n: int = 16, seed: int = 0) -> torch.Tensor:
    """``n`` samples of ``G`` on the CPU, ``(n, C, H, W)`` in ``[-1, 1]``."""
    device = next(G.parameters()).device
    return G(torch.randn(n, G.nz, generator=torch.Generator().manual_seed(seed)).to(device)).cpu()


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Images from the generators' ``[-1, 1]`` to ``[0, 1]`` for display (clipped: unclipped colour
    targets may leave the range)."""
    return ((x + 1) / 2).clamp(0, 1)


def gallery_rows(galleries: dict, sample: int = 0) -> dict:
    """``{"edit · row": [images in [0, 1]]}`` for :func:`reprobook.viz.plot_image_grid`, from
    ``{edit: gallery(...)}``: per edit the target row, then each walk's row, for one sample."""
    rows = {}
    for edit, g in galleries.items():
        for kind in ("target", "linear", "nonlinear"):
            if kind in g:
                rows[f"{edit}\n{kind}"] = list(to_unit(g[kind][sample]))
    return rows
