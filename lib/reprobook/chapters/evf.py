"""Chapter 09 (book/09-evf): Experience-embedded Visual Foresight.

Lin, Bauza & Isola, "Experience-Embedded Visual Foresight", CoRL 2019 (arXiv 1911.05071); official
code yenchenlin/evf-public (TensorFlow 1). An action-conditioned video predictor (SAVP-VAE / CDNA,
:mod:`reprobook.models.video_prediction`) is conditioned on a 5-d *experience embedding*
(:mod:`reprobook.models.experience`) of ``K`` other clips (pushes) of the same object, and encoder
and predictor are meta-trained jointly with Reptile over objects (:mod:`reprobook.train.reptile`,
meta-batch 8 officially). Baselines: the same predictor without embedding trained on all clips
pooled, and that baseline fine-tuned on the new object's ``K`` clips.

Official settings (the ``paper`` scale; evf-public's README runs ``train_evf.py`` and, for the
baseline, SAVP's ``train.py`` with ``hparams/bair_action_free/ours_vae_l1/debug.json`` and
``batch_size=8``): 64 x 64 RGB, 12 frames of which 2 are context, SAVP VAE with L1 loss, KL weight
0.001 annealed linearly over the second half of training and inverse-sigmoid scheduled sampling
(``k = 900``) as SAVP's defaults, lr 1e-3, batch 8, generator width ``ngf`` 4 (ConvLSTM widths 4, 8, 16), SAVP's 4 CDNA
transforms plus previous-frame, first-frame and scratch-image sources, 100k optimizer steps (SAVP's
``max_steps``); Reptile with meta-batch 8 objects, 1 inner step, outer step 1.0 and one Adam whose
state persists, so EVF takes ``100k / 8`` meta-steps: the same number of optimizer steps as the
baseline; 5 experience clips; 5-d embedding.

**Ours** (not from the paper or the official code): the clips are simulated pushes of the Omnipush
objects rendered top-down (:func:`reprobook.sim.push_videos.push_videos`; the real videos cannot be
downloaded here); the experience is ``experiences`` *other* pushes of the object (the paper's
description; the released code embeds the first and last frame of the clip being predicted, and
never trains its encoder: it sits outside the ``generator`` variables the optimizer updates; we
train it jointly, as the paper describes); the fine-tuning baseline's steps and rate (the
official ``finetune_evaluate.py`` defaults to 0 steps); the
scaling of states and actions (positions and pusher displacements in decimetres = metres x 10, yaw
in radians, so all are of order 0.1-1); evaluation with the first ``K`` pushes of a test object as its
experience and its next ``eval_targets`` pushes as targets, z drawn from the prior.

Notebooks: method (:func:`clips`, :class:`EVF`, :func:`train_evf`, :func:`train_baseline`),
prediction (:func:`evaluate`, :func:`finetune`), embedding (the encoder's embeddings of the test
objects), control.

Control (the control notebook; visual MPC as in the paper's Sec. 5.3, the details **ours**; the
public planner maps its 2-d action to one push heading): a push is parameterised by a 2-d action ``a`` in ``[-1, 1]^2`` (:func:`push_from_action`: start angle
``phi = pi a[0]`` on the protocol's start circle, heading offset ``beta = max_offset a[1]``, so a
uniform ``a`` is the dataset's push distribution). :func:`plan` runs :func:`reprobook.control.cem.cem`
over ``a`` (``samples`` / ``elites`` / ``iterations`` of the config, initial mean 0 and std
``cem_std``); a candidate's cost is the squared pixel distance of the predictor's last predicted
frame to a goal image, the predictor fed ``context`` frames rendered at the current pose with the
pusher on its nominal path, that path as actions and the current pose as states (all candidates one
batch). :func:`execute` simulates the chosen push from the object's world pose and renders it with
the data's camera centred on the object's start position; :func:`control_trial` plans and executes
``pushes`` times and scores the final pose against the goal (success: position error below
``success_radius``, 1 cm); :func:`random_action_trial` is the random-action baseline.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..control.cem import cem
from ..data import omnipush as op
from ..eval.features import project_2d
from ..eval.video import per_step, psnr, ssim
from ..models.experience import ExperienceEncoder
from ..models.video_prediction import (CDNAPredictor, kl_anneal_weight, scheduled_sampling_prob,
                                       video_prediction_loss)
from ..run.scales import configure, require_int
from ..data.push_records import wrap_angle
from ..sim.omnipush_pushes import PushProtocol, protocol_simulator, push_geometry, push_once
from ..sim.omnipush_objects import SIDE_SHAPES, mass_properties
from ..sim.push_videos import push_videos, to_float_video
from ..sim.pushing import PushResult
from ..sim.render import Camera, render_frame, render_push
from ..train import make_generator, resolve_device
from ..train import cache as _cache
from ..train.cache import cached, library_digest
from ..train.loop import NonFiniteLossError
from ..train.checkpoint import CorruptCheckpointError, load_checkpoint, save_checkpoint
from ..train.reptile import reptile_step
from . import omnipush as omnipush_chapter
from .omnipush import spread

DATASETS = ("omnipush",)   # the split file (object ids)
#: wheels the lent GPU machine lacks: the pushes are simulated in MuJoCo (chapter 8's packages)
DEVICE_PACKAGES = omnipush_chapter.DEVICE_PACKAGES
# seconds each notebook's `short` run may take on one H100/H200 machine: estimates, not yet measured
# (rendering is serial on the CPU, about 20 ms a 64 x 64 x 12 clip, done once by the method notebook and
# cached; control plans 3 x 16 tasks of 3 CEM iterations of 100 candidates: the models render their context
# frames, the simulator oracle simulates each candidate, about 20 ms)
SHORT_BUDGET_S = {"method": 170, "prediction": 60, "embedding": 40, "control": 150}

METHODS = ("EVF", "baseline", "fine-tuned")
#: states and actions are positions (m) and displacements (m) times this (yaw stays in radians)
POSITION_SCALE = 10.0

# the official run (README of evf-public): hparams/bair_action_free/ours_vae_l1/debug.json (ngf 4, L1,
# KL 0.001, lr 1e-3) with batch_size=8, SAVP's max_steps 100k and num_transformed_images 4,
# train_evf.py's meta_batch_size 8, exp_size 5, inner_iters 1, meta_step_size 1.0
_PAPER = dict(image_size=64, extent=0.24, frames=12, context=2, hidden=[4, 8, 16], num_masks=4, latent_dim=8,
              encoder_widths=[32, 64, 64, 64], embedding_dim=5, experiences=5, kl_weight=0.001, pixel_loss="l1",
              lr=1e-3, batch=8, meta_batch=8, inner_steps=1, outer_lr=1.0, steps=100_000, schedule_sampling_k=900.0,
              kl_anneal=[0.5, 1.0], finetune_steps=50,
              finetune_lr=1e-3, train_objects=None, test_objects=None, pushes=250, eval_targets=20, sim_seed=0,
              eval_seed=0)
# one GPU window: a quarter of the train objects, fewer pushes, few steps
_SHORT = dict(_PAPER, train_objects=48, test_objects=16, pushes=40, steps=3_000, finetune_steps=20)
# smoke: small frames and clips, the whole pipeline in about a minute on a CPU
_SMOKE = dict(_PAPER, image_size=32, frames=8, experiences=3, meta_batch=4, steps=240, finetune_steps=10,
              train_objects=16, test_objects=6, pushes=10, eval_targets=5)

CONFIGS = {nb: {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER}
           for nb in ("method", "prediction", "embedding")}
# control: CEM of the public planner (MIT-Omnipush/video-prediction savp/control/cem.py): 100 samples, 10
# elites, initial mean 0 and std 1 (identity covariance), 100 rounds at `paper`; 3 rounds at `short` (our
# budget); the action parameterisation and the 1 cm success radius are ours
_CONTROL = dict(samples=100, elites=10, iterations=100, cem_std=1.0, success_radius=0.01, control_trials=5,
                control_pushes=1)
CONFIGS["control"] = {"smoke": dict(_SMOKE, **{**_CONTROL, "samples": 16, "elites": 4, "iterations": 2,
                                               "control_trials": 2}),
                      "short": dict(_SHORT, **{**_CONTROL, "iterations": 3, "control_trials": 1}),
                      "paper": dict(_PAPER, **_CONTROL)}


def _positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks at ``scale``, checked."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    cfg = configure(CONFIGS[notebook], scale, **overrides)
    for name in ("train_objects", "test_objects"):
        if cfg[name] is not None:
            require_int(name, cfg[name])
    for name in ("image_size", "frames", "context", "num_masks", "latent_dim", "embedding_dim", "experiences",
                 "batch", "meta_batch", "inner_steps", "steps", "pushes", "eval_targets"):
        require_int(name, cfg[name])
    for name in ("finetune_steps", "sim_seed", "eval_seed"):
        require_int(name, cfg[name], 0)
    for name in ("extent", "kl_weight", "lr", "outer_lr", "finetune_lr"):
        _positive_number(name, cfg[name])
    if isinstance(cfg.schedule_sampling_k, bool) or not isinstance(cfg.schedule_sampling_k, (int, float)) \
            or not (math.isfinite(cfg.schedule_sampling_k) and cfg.schedule_sampling_k >= 0):
        raise ValueError(f"schedule_sampling_k must be a number >= 0 (0: off), got {cfg.schedule_sampling_k!r}")
    if cfg.kl_anneal is not None and (not isinstance(cfg.kl_anneal, (list, tuple)) or len(cfg.kl_anneal) != 2
                                      or any(isinstance(f, bool) or not isinstance(f, (int, float)) for f in cfg.kl_anneal)
                                      or not 0 <= cfg.kl_anneal[0] <= cfg.kl_anneal[1] <= 1):
        raise ValueError(f"kl_anneal must be None or [start, end] fractions of steps, 0 <= start <= end <= 1, "
                         f"got {cfg.kl_anneal!r}")
    if cfg.pixel_loss not in ("l1", "l2"):
        raise ValueError(f"pixel_loss must be 'l1' or 'l2', got {cfg.pixel_loss!r}")
    if cfg.steps < cfg.meta_batch * cfg.inner_steps:
        raise ValueError(f"steps = {cfg.steps} must be >= meta_batch x inner_steps = "
                         f"{cfg.meta_batch * cfg.inner_steps} (one meta-step)")
    if cfg.image_size % 4 or cfg.image_size < 16:
        raise ValueError(f"image_size must be a multiple of 4 and >= 16, got {cfg.image_size}")
    if cfg.context >= cfg.frames:
        raise ValueError(f"context = {cfg.context} must be < frames = {cfg.frames} (something to predict)")
    for name, n in (("hidden", 3), ("encoder_widths", None)):
        widths = cfg[name]
        if not isinstance(widths, (list, tuple)) or not widths or (n is not None and len(widths) != n):
            raise ValueError(f"{name} must be a list of {n or 'some'} positive ints, got {widths!r}")
        for w in widths:
            require_int(f"{name} entry", w)
    if cfg.image_size < 2 ** len(cfg.encoder_widths):
        raise ValueError(f"image_size {cfg.image_size} is too small for {len(cfg.encoder_widths)} stride-2 convs")
    if cfg.pushes < cfg.experiences + 1:
        raise ValueError(f"pushes = {cfg.pushes} must exceed experiences = {cfg.experiences} (a target is needed)")
    if "samples" in cfg:   # the control notebook
        for name in ("samples", "elites", "iterations", "control_trials", "control_pushes"):
            require_int(name, cfg[name])
        for name in ("cem_std", "success_radius"):
            _positive_number(name, cfg[name])
        if cfg.elites > cfg.samples:
            raise ValueError(f"elites = {cfg.elites} must be <= samples = {cfg.samples}")
    if cfg.experiences + cfg.eval_targets > cfg.pushes:
        raise ValueError(f"experiences + eval_targets = {cfg.experiences + cfg.eval_targets} exceeds "
                         f"pushes = {cfg.pushes}")
    return cfg


# --------------------------------------------------------------------------------------- data
@dataclass
class Clips:
    """Rendered pushes of ``N`` objects: ``video`` uint8 (N, P, T, S, S, 3) as rendered (a quarter of float32's
    memory: the paper scale's 200 x 250 clips of 64 x 64 x 12 are 7.4 GB), ``actions`` (N, P, T, 4),
    ``states`` (N, P, T, 3), both scaled by :data:`POSITION_SCALE` (yaw unscaled)."""

    ids: list
    video: torch.Tensor
    actions: torch.Tensor
    states: torch.Tensor

    def __len__(self):
        return len(self.ids)

    @functools.cached_property
    def digest(self) -> str:
        """A digest of the clips themselves (ids, videos, actions, states), computed once: the
        model cache's key, so a model trained on other data is never handed back. The tensors are
        not to be changed in place afterwards."""
        h = hashlib.sha256(json.dumps({"ids": self.ids, "shape": list(self.video.shape)}, sort_keys=True).encode())
        for x in (self.video, self.actions, self.states):
            h.update(x.contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def frames(self, obj, pushes, device="cpu") -> torch.Tensor:
        """The video of clips ``pushes`` of object(s) ``obj`` (index tensors broadcast as in
        ``video[obj, pushes]``) as float32 in [0, 1] on ``device``."""
        return to_float_video(self.video[obj, pushes]).to(device)           # (..., T, 3, S, S)

    def select(self, obj: int, pushes, device="cpu"):
        """Clips ``pushes`` (index tensor or list) of object ``obj``: (video float32, actions, states) on ``device``."""
        idx = torch.as_tensor(pushes, dtype=torch.long)
        return (self.frames(obj, idx, device),) + tuple(x[obj, idx].to(device) for x in (self.actions, self.states))


def clips(cfg, role: str, progress: bool = False) -> Clips:
    """The clips of the split's ``role`` ("train" or "test") objects (``train_objects`` /
    ``test_objects`` of them spread over the split, all when None), ``pushes`` each.

    Rendered once and kept under ``runs/cache/`` (keyed by the objects, the rendering settings and
    the library's source), so the chapter's later notebooks load them instead of simulating again."""
    if role not in ("train", "test"):
        raise ValueError(f"role must be 'train' or 'test', got {role!r}")
    split = op.load_split()
    keys = spread(split.train_keys if role == "train" else split.test_keys,
                  cfg.train_objects if role == "train" else cfg.test_objects)
    parts = {"ids": list(keys), "pushes": cfg.pushes, "frames": cfg.frames, "size": cfg.image_size,
             "extent": cfg.extent, "seed": cfg.sim_seed, "library": library_digest()}
    path = _cache.CACHE / f"clips-{hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]}.pt"
    state = load_checkpoint(path)
    if state is not None:
        P, T, S = cfg.pushes, cfg.frames, cfg.image_size
        want = {"video": (len(keys), P, T, S, S, 3), "actions": (len(keys), P, T, 4), "states": (len(keys), P, T, 3)}
        if not isinstance(state, dict) or any(not torch.is_tensor(state.get(k)) or tuple(state[k].shape) != v
                                              for k, v in want.items()):
            raise CorruptCheckpointError(f"the cached clips {path} do not hold {len(keys)} objects x {P} clips of "
                                         f"{T} frames of {S} x {S}; delete the file to render them again")
        return Clips(list(keys), state["video"], state["actions"], state["states"])
    cam = Camera(size=cfg.image_size, extent=cfg.extent)
    videos, acts, sts = [], [], []
    it = keys
    if progress:
        from tqdm import tqdm
        it = tqdm(keys, desc=f"rendering {role} clips")
    for k in it:
        d = push_videos([k], cfg.pushes, n_frames=cfg.frames, camera=cam, seed=cfg.sim_seed)
        videos.append(torch.from_numpy(d["frames"][0]))                                   # (P, T, S, S, 3) uint8
        a = d["actions"][0] * POSITION_SCALE
        s = d["states"][0].copy()
        s[..., :2] *= POSITION_SCALE
        acts.append(torch.as_tensor(a, dtype=torch.float32))
        sts.append(torch.as_tensor(s, dtype=torch.float32))
    data = Clips(list(keys), torch.stack(videos), torch.stack(acts), torch.stack(sts))
    save_checkpoint(path, {"video": data.video, "actions": data.actions, "states": data.states})
    return data


# -------------------------------------------------------------------------------------- model
class EVF(nn.Module):
    """Experience encoder + CDNA predictor; ``embedding_dim = 0``: no encoder (the baseline)."""

    def __init__(self, image_size=64, hidden=(32, 64, 128), num_masks=10, latent_dim=8, embedding_dim=5,
                 encoder_widths=(32, 64, 64, 64), context=2, kl_weight=0.001, pixel_loss="l1",
                 schedule_sampling_k=900.0, kl_anneal=(50_000, 100_000)):
        super().__init__()
        self.context, self.kl_weight, self.embedding_dim = context, kl_weight, embedding_dim
        self.pixel_loss = pixel_loss
        self.schedule_sampling_k = schedule_sampling_k   # 0: no scheduled sampling
        self.kl_anneal = tuple(kl_anneal) if kl_anneal is not None else None   # optimizer steps
        self.encoder = (ExperienceEncoder(image_size=image_size, widths=tuple(encoder_widths),
                                          embedding_dim=embedding_dim) if embedding_dim else None)
        self.predictor = CDNAPredictor(image_size=image_size, hidden=tuple(hidden), num_masks=num_masks,
                                       latent_dim=latent_dim, embedding_dim=embedding_dim)

    @classmethod
    def from_config(cls, cfg, embedding: bool = True) -> "EVF":
        anneal = None if cfg.kl_anneal is None else tuple(round(f * cfg.steps) for f in cfg.kl_anneal)
        return cls(cfg.image_size, cfg.hidden, cfg.num_masks, cfg.latent_dim, cfg.embedding_dim if embedding else 0,
                   cfg.encoder_widths, cfg.context, cfg.kl_weight, cfg.pixel_loss, cfg.schedule_sampling_k, anneal)

    def predict(self, experience, frames, actions, states, posterior: bool = False, sample: bool = True) -> dict:
        """Roll the predictor over ``frames`` (B, T, 3, S, S) from ``context`` frames; ``experience``
        (B, K, T, 3, S, S) clips of the same object (ignored / may be None without an encoder)."""
        emb = self.encoder(experience) if self.encoder is not None else None
        return self.predictor(frames, actions, states, context=self.context, embedding=emb,
                              posterior=posterior, sample=sample)

    def loss(self, batch, step: int | None = None) -> torch.Tensor:
        """SAVP-VAE loss (L1 + KL weight x KL, posterior z) of ``batch`` = (experience, frames, actions,
        states) at optimizer step ``step``, with SAVP's schedules: ground truth fed after the context
        with :func:`~reprobook.models.video_prediction.scheduled_sampling_prob` and the KL weight
        annealed linearly over ``kl_anneal`` (:func:`~reprobook.models.video_prediction.kl_anneal_weight`).
        ``step=None``: after training (closed loop, the full KL weight), as for fine-tuning."""
        experience, frames, actions, states = batch
        p, w = 0.0, self.kl_weight
        if step is not None:
            if self.schedule_sampling_k:
                p = scheduled_sampling_prob(step, self.schedule_sampling_k)
            if self.kl_anneal is not None:
                w = kl_anneal_weight(step, self.kl_weight, *self.kl_anneal)
        emb = self.encoder(experience) if self.encoder is not None else None
        out = self.predictor(frames, actions, states, context=self.context, embedding=emb, posterior=True,
                             ground_truth_prob=p)
        return video_prediction_loss(out, frames, kl_weight=w, pixel_loss=self.pixel_loss)["loss"]


def _check_finite(loss: torch.Tensor, where: str) -> None:
    if not bool(torch.isfinite(loss)):
        raise NonFiniteLossError(f"{where}: the loss is {loss.item()}; try a smaller learning rate")


def _task_batch(cfg, data: Clips, obj: int, gen, device):
    """``batch`` (K experience clips, one target clip) pairs of object ``obj``, the pushes distinct."""
    P, K = data.video.shape[1], cfg.experiences
    picks = torch.stack([torch.randperm(P, generator=gen)[:K + 1] for _ in range(cfg.batch)])   # (B, K+1)
    exp = data.frames(obj, picks[:, :K], device)                                                # (B, K, T, 3, S, S)
    frames, actions, states = data.select(obj, picks[:, K], device)
    return exp, frames, actions, states


def _parts(cfg, *names):
    return {k: cfg[k] for k in names}


_MODEL_KEYS = ("image_size", "frames", "context", "hidden", "num_masks", "latent_dim", "kl_weight", "pixel_loss", "lr",
               "batch", "schedule_sampling_k", "kl_anneal")


def meta_steps(cfg) -> int:
    """Reptile meta-steps of EVF's training: ``steps // (meta_batch x inner_steps)``, so EVF takes as
    many optimizer steps as the baseline (evf-public: ``max_steps // (inner_iters * meta_batch_size)``)."""
    return cfg.steps // (cfg.meta_batch * cfg.inner_steps)


def train_evf(cfg, data: Clips, seed: int = 0, device: str = "auto", progress: bool = False):
    """EVF meta-trained with Reptile (evf-public ``scripts/train_evf.py``): each of :func:`meta_steps`
    steps draws ``meta_batch`` train objects (with replacement, as its ``random.choice``), each a task
    of ``inner_steps`` fresh batches from :func:`_task_batch`, and moves the parameters by
    ``outer_lr`` times the mean adapted change. One Adam (lr ``lr``) serves every inner step, its
    moments carried across tasks as in the official code. Cached. Returns ``(model, history)``, history
    ``{"step": [optimizer steps so far], "loss": [mean over the meta-batch of the first inner loss]}``."""
    dev = resolve_device(device)
    torch.manual_seed(seed)
    model = EVF.from_config(cfg).to(dev)
    per_meta = cfg.meta_batch * cfg.inner_steps

    def fit(m, _checkpoint):
        gen = make_generator(seed)
        torch.manual_seed(seed)
        opt = torch.optim.Adam(m.parameters(), lr=cfg.lr)
        history = {"step": [], "loss": []}
        steps = range(meta_steps(cfg))
        if progress:
            from tqdm import tqdm
            steps = tqdm(steps, desc="EVF (Reptile)")
        inner = [0]                           # optimizer steps so far: SAVP's global_step

        def loss_fn(mm, b):
            inner[0] += 1
            return mm.loss(b, step=inner[0] - 1)

        for i in steps:
            objs = torch.randint(len(data), (cfg.meta_batch,), generator=gen).tolist()
            tasks = [[_task_batch(cfg, data, o, gen, dev) for _ in range(cfg.inner_steps)] for o in objs]
            r = reptile_step(m, tasks, inner_steps=cfg.inner_steps, inner_lr=cfg.lr, outer_lr=cfg.outer_lr,
                             loss_fn=loss_fn, optimizer=opt)
            history["step"].append((i + 1) * per_meta)
            history["loss"].append(float(np.mean([ls[0] for ls in r["inner_losses"]])))
        return {"history": history}

    model, info, _ = cached(model, fit, chapter="09-evf", method="EVF", seed=seed, data=data.digest,
                            **_parts(cfg, *_MODEL_KEYS, "encoder_widths", "embedding_dim", "experiences",
                                     "meta_batch", "inner_steps", "outer_lr", "steps"))
    model.eval()
    return model, info["history"]


def train_baseline(cfg, data: Clips, seed: int = 0, device: str = "auto", progress: bool = False):
    """The predictor without embedding (SAVP-VAE, evf-public ``scripts/train.py``): ``steps`` Adam steps
    on ``batch`` random clips pooled over all train objects. Cached. Returns ``(model, history)``,
    history ``{"step": [1 .. steps], "loss": [...]}``."""
    dev = resolve_device(device)
    torch.manual_seed(seed)
    model = EVF.from_config(cfg, embedding=False).to(dev)
    N, P = data.video.shape[:2]

    def fit(m, _checkpoint):
        gen = make_generator(seed)
        torch.manual_seed(seed)
        opt = torch.optim.Adam(m.parameters(), lr=cfg.lr)
        history = {"step": [], "loss": []}
        steps = range(cfg.steps)
        if progress:
            from tqdm import tqdm
            steps = tqdm(steps, desc="baseline")
        for i in steps:
            o = torch.randint(N, (cfg.batch,), generator=gen)
            p = torch.randint(P, (cfg.batch,), generator=gen)
            batch = (None, data.frames(o, p, dev), data.actions[o, p].to(dev), data.states[o, p].to(dev))
            loss = m.loss(batch, step=i)
            _check_finite(loss, f"baseline step {i + 1}")
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["step"].append(i + 1)
            history["loss"].append(loss.item())
        return {"history": history}

    model, info, _ = cached(model, fit, chapter="09-evf", method="baseline", seed=seed, data=data.digest,
                            **_parts(cfg, *_MODEL_KEYS, "steps"))
    model.eval()
    return model, info["history"]


def finetune(model: EVF, experience_clips, steps: int, lr: float, seed: int = 0) -> EVF:
    """A copy of ``model`` adapted by ``steps`` Adam steps on ``experience_clips`` = (video (K, T, 3, S, S),
    actions (K, T, 4), states (K, T, 3)): each clip predicted from its own context (all K a batch).
    ``model`` itself is left unchanged."""
    require_int("steps", steps, 0)
    _positive_number("lr", lr)
    tuned = copy.deepcopy(model)
    tuned.train()
    dev = next(tuned.parameters()).device
    video, actions, states = (x.to(dev) for x in experience_clips)
    experience = video.unsqueeze(0).expand(video.shape[0], *video.shape) if tuned.encoder is not None else None
    opt = torch.optim.Adam(tuned.parameters(), lr=lr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(steps):
            loss = tuned.loss((experience, video, actions, states))
            _check_finite(loss, "fine-tuning")
            opt.zero_grad()
            loss.backward()
            opt.step()
    tuned.eval()
    return tuned


# --------------------------------------------------------------------------------- evaluation
def predict_object(cfg, method: str, model, data: Clips, obj: int, targets=None):
    """The predictions of ``method`` for object ``obj`` of ``data``: its experience is its first
    ``experiences`` pushes, ``targets`` (default: the next ``eval_targets``) are predicted from their
    ``context`` frames with z from the prior (seed ``eval_seed + obj``, the same for every method).
    ``method`` is one of :data:`METHODS` (``"fine-tuned"`` fine-tunes ``model`` on the experience
    first) or ``"copy"``: the last context frame repeated, no model. Returns ``(pred, target)``, both
    ``(n, frames - context, 3, S, S)`` float in [0, 1]: the frames after the context."""
    if method not in METHODS + ("copy",):
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS + ('copy',))}")
    K, c = cfg.experiences, cfg.context
    N, P, T = data.video.shape[:3]
    if T != cfg.frames:
        raise ValueError(f"the clips have {T} frames, the config frames = {cfg.frames}")
    if not 0 <= obj < N:
        raise ValueError(f"obj must be in 0..{N - 1}, got {obj}")
    targets = list(range(K, K + cfg.eval_targets) if targets is None else targets)
    if not targets or any(isinstance(t, bool) or int(t) != t or not K <= t < P for t in targets):
        raise ValueError(f"targets must be a non-empty list of push indices in {K}..{P - 1} (after the "
                         f"{K} experience pushes), got {targets}")
    if method != "copy":
        if model is None:
            raise ValueError(f"method {method!r} needs a model")
        if model.context != c:
            raise ValueError(f"the model was built for context {model.context}, the config has context {c}")
    dev = next(model.parameters()).device if model is not None else torch.device("cpu")
    frames, actions, states = data.select(obj, targets, dev)
    if method == "copy":
        return frames[:, c - 1:c].expand(-1, cfg.frames - c, -1, -1, -1), frames[:, c:]
    exp_clips = data.select(obj, range(K), dev)
    m = model
    if method == "fine-tuned":
        m = finetune(model, exp_clips, cfg.finetune_steps, cfg.finetune_lr, seed=cfg.eval_seed + obj)
    experience = exp_clips[0].unsqueeze(0).expand(frames.shape[0], *exp_clips[0].shape)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.eval_seed + obj)
        out = m.predict(experience if m.encoder is not None else None, frames, actions, states, posterior=False)
    return out["frames_pred"][:, c - 1:].clamp(0, 1), frames[:, c:]


def evaluate(cfg, models: dict, data: Clips) -> pd.DataFrame:
    """PSNR and SSIM per horizon step (``step`` 1 .. frames - context: the frames after the last
    context frame), mean over test objects and target pushes, per method of ``models`` (keys among
    :data:`METHODS` and ``"copy"``, whose model is ignored; "fine-tuned" is the model to fine-tune per
    object, normally the baseline), predictions by :func:`predict_object`."""
    unknown = sorted(set(models) - set(METHODS + ("copy",)))
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; valid: {', '.join(METHODS + ('copy',))}")
    if not models or len(data) == 0:
        raise ValueError("evaluate needs at least one method and one object")
    window = min(11, cfg.image_size - (1 - cfg.image_size % 2))
    rows = []
    for method, model in models.items():
        sums = {"PSNR": 0.0, "SSIM": 0.0}
        for obj in range(len(data)):
            pred, target = predict_object(cfg, method, None if method == "copy" else model, data, obj)
            sums["PSNR"] = sums["PSNR"] + per_step(psnr, pred, target).double().cpu()
            sums["SSIM"] = sums["SSIM"] + per_step(ssim, pred, target, window=window).double().cpu()
        for t in range(cfg.frames - cfg.context):
            rows.append({"method": method, "step": t + 1, "PSNR": float(sums["PSNR"][t]) / len(data),
                         "SSIM": float(sums["SSIM"][t]) / len(data)})
    return pd.DataFrame(rows).set_index(["method", "step"])


# ---------------------------------------------------------------------------------- embedding
def embeddings(model: EVF, data: Clips, sets: int = 1, experiences: int | None = None) -> pd.DataFrame:
    """Experience embeddings of every object of ``data``: ``sets`` disjoint sets of ``experiences``
    pushes each (pass the config's ``experiences``; default ``min(P, 4)``), set ``j`` being pushes
    ``j K .. (j+1) K - 1``. One row per (id, set), columns ``e0..e{E-1}``."""
    if model.encoder is None:
        raise ValueError("a model without encoder (embedding_dim = 0) has no embeddings")
    P = data.video.shape[1]
    K = require_int("experiences", experiences if experiences is not None else min(P, 4))
    require_int("sets", sets)
    if sets * K > P:
        raise ValueError(f"{sets} sets of {K} experiences need {sets * K} pushes per object, the clips have {P}")
    dev = next(model.parameters()).device
    rows = []
    with torch.no_grad():
        for j in range(sets):
            z = model.encoder(data.frames(slice(None), slice(j * K, (j + 1) * K), dev)).cpu().double().numpy()
            rows.extend(((i, j), zi) for i, zi in zip(data.ids, z))
    index = pd.MultiIndex.from_tuples([r[0] for r in rows], names=["id", "set"])
    z = np.stack([r[1] for r in rows])
    return pd.DataFrame(z, index=index, columns=[f"e{i}" for i in range(z.shape[1])]).sort_index()


def object_attributes(ids) -> pd.DataFrame:
    """What the embedding might encode, per object id: ``mass_g``, ``weights`` (number of added
    weights), ``shape`` (the most frequent side shape, ties broken by :data:`SIDE_SHAPES` order) and
    ``com_offset_mm`` (distance of the centre of mass from the centre piece's centre)."""
    rows = {}
    for obj_id in ids:
        sides = op.parse_object_id(obj_id)
        mp = mass_properties(obj_id)
        counts = {name: sum(1 for shape, _ in sides if SIDE_SHAPES[shape] == name) for name in SIDE_SHAPES.values()}
        rows[obj_id] = {"mass_g": 1e3 * mp.mass, "weights": sum(1 for _, w in sides if w != "a"),
                        "shape": max(counts, key=counts.get), "com_offset_mm": 1e3 * math.hypot(*mp.com)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("id")


def project(emb: pd.DataFrame) -> np.ndarray:
    """The embeddings' first two principal components, ``(n, 2)``:
    :func:`reprobook.eval.features.project_2d` with ``"pca"`` (signs fixed so the largest-magnitude
    loading of each component is positive)."""
    return project_2d(emb.to_numpy(dtype=np.float64), "pca")


def embedding_summary(emb: pd.DataFrame, attributes: pd.DataFrame) -> dict:
    """How much of the object the embedding holds, from ``emb`` (rows (id, set), >= 2 sets) and
    :func:`object_attributes`:

    * ``specificity``: mean distance between two sets' embeddings of the same object over the mean
      distance between embeddings of different objects (1: no object information; near 0: each
      object has its own point);
    * ``mass_r2``: leave-one-out R^2 of a least-squares linear fit of ``mass_g`` from the object's
      mean embedding (0: no better than the mean mass; < 0: worse)."""
    ids = emb.index.get_level_values("id")
    z = emb.to_numpy(dtype=np.float64)
    d = np.linalg.norm(z[:, None] - z[None], axis=-1)
    same = (ids.to_numpy()[:, None] == ids.to_numpy()[None]) & ~np.eye(len(z), dtype=bool)
    other = ids.to_numpy()[:, None] != ids.to_numpy()[None]
    if not same.any() or not other.any():
        raise ValueError("need at least two sets per object and two objects")
    mean_z = emb.groupby(level="id", sort=False).mean()
    y = attributes.loc[mean_z.index, "mass_g"].to_numpy(dtype=np.float64)
    X = np.concatenate([mean_z.to_numpy(), np.ones((len(y), 1))], axis=1)
    pred = np.empty_like(y)
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        w, *_ = np.linalg.lstsq(X[keep], y[keep], rcond=None)
        pred[i] = X[i] @ w
    spread = float(np.sum((y - y.mean()) ** 2))
    if spread == 0:
        raise ValueError("all objects have the same mass: R^2 is undefined")
    r2 = 1 - float(np.sum((y - pred) ** 2)) / spread
    return {"specificity": float(d[same].mean() / d[other].mean()), "mass_r2": r2}


# ------------------------------------------------------------------------------------ control
#: the push protocol and surface of the data (:func:`reprobook.sim.push_videos.push_videos` defaults)
PROTOCOL = PushProtocol()
SURFACE = "abs"


def _check_action(a) -> np.ndarray:
    a = np.asarray(a.detach().cpu() if torch.is_tensor(a) else a, dtype=np.float64)
    if a.shape != (2,) or not np.all(np.isfinite(a)):
        raise ValueError(f"an action must be a finite (2,) array, got {a!r}")
    if np.any(np.abs(a) > 1 + 1e-9):
        raise ValueError(f"an action must lie in [-1, 1]^2, got {a.tolist()}")
    return np.clip(a, -1.0, 1.0)


def _check_pose(pose) -> np.ndarray:
    p = np.asarray(pose, dtype=np.float64)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ValueError(f"a pose must be a finite (x, y, yaw) array, got {pose!r}")
    return p


def push_from_action(a, protocol: PushProtocol = PROTOCOL) -> tuple[np.ndarray, float]:
    """The push of action ``a`` in ``[-1, 1]^2``, in the object's frame: the pusher centre's start
    ``(2,)`` (m) at angle ``phi = pi a[0]`` on the circle of radius ``protocol.start_radius`` and the
    direction (rad, in ``[-pi, pi)``) ``phi + pi + beta`` with ``beta = protocol.max_offset a[1]``
    (towards the object's origin when ``a[1] = 0``). The dataset draws ``phi`` and ``beta``
    uniformly (:func:`reprobook.sim.omnipush_pushes.sample_pushes`), i.e. ``a`` uniform in the box."""
    a = _check_action(a)
    start, direction = push_geometry(math.pi * a[0], protocol.max_offset * a[1], protocol)
    return start, float(direction)


_SIMULATORS: dict = {}


def _simulator(obj_id: str, protocol: PushProtocol, surface: str):
    key = (obj_id, protocol, surface)
    if key not in _SIMULATORS:
        sim = protocol_simulator(obj_id, surface, protocol)
        _SIMULATORS[key] = (sim.obj, sim)
    return _SIMULATORS[key]


def _camera(cfg, pose) -> Camera:
    """The data's camera, centred on the position of ``pose`` (the data's objects start at the origin)."""
    return Camera(size=cfg.image_size, extent=cfg.extent, center=(float(pose[0]), float(pose[1])))


def _to_world(rows: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """``(T, 4)`` rows ``[t, x, y, yaw]`` in the frame of ``pose`` -> the world."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    out = rows.copy()
    out[:, 1] = pose[0] + c * rows[:, 1] - s * rows[:, 2]
    out[:, 2] = pose[1] + s * rows[:, 1] + c * rows[:, 2]
    out[:, 3] = rows[:, 3] + pose[2]
    return out


def execute(obj_id: str, pose, a, cfg, protocol: PushProtocol = PROTOCOL, surface: str = SURFACE):
    """Push the object ``obj_id`` resting at the world pose ``pose`` = (x, y, yaw) with action ``a``.

    The push is simulated in the object's frame, as the data's are (:func:`push_from_action`, pusher
    starting on the start circle, no approach), without tracking noise (the true outcome), and
    transformed to the world. Returns ``(new_pose (3,), clip)``: ``clip`` is
    :func:`reprobook.sim.render.render_push` of the world push (``frames`` uint8 ``(frames, S, S, 3)``,
    ``states``, ``actions``, ``times``) seen by the data's camera centred on ``pose``'s position."""
    pose = _check_pose(pose)
    start, direction = push_from_action(a, protocol)
    obj, sim = _simulator(obj_id, protocol, surface)
    r = protocol.pusher_radius
    push = push_once(sim, start, direction, protocol)
    op_w, tip_w = _to_world(push.object_pose, pose), _to_world(push.tip_pose, pose)
    world = PushResult(object_pose=op_w, tip_pose=tip_w, delta=op_w[-1, 1:] - op_w[0, 1:], max_lift=push.max_lift)
    clip = render_push(obj, world, n_frames=cfg.frames, camera=_camera(cfg, pose), pusher_radius=r)
    new_pose = np.array([op_w[-1, 1], op_w[-1, 2], wrap_angle(op_w[-1, 3])])
    return new_pose, clip


def _nominal_path(a, pose: np.ndarray, cfg, protocol: PushProtocol) -> np.ndarray:
    """The pusher centre ``(frames, 2)`` (world, m) of action ``a`` from ``pose`` at the frame times, on
    its nominal path: straight from the start at ``speed`` for ``distance``, then at rest (``settle``)."""
    start, direction = push_from_action(a, protocol)
    c, s = math.cos(pose[2]), math.sin(pose[2])
    rot = np.array([[c, -s], [s, c]])
    u = np.array([math.cos(direction), math.sin(direction)])
    duration = protocol.distance / protocol.speed
    times = np.linspace(0.0, duration + protocol.settle, cfg.frames)
    travel = protocol.speed * np.minimum(times, duration)                          # (T,)
    return pose[:2] + (start[None, :] + travel[:, None] * u[None, :]) @ rot.T


def _to_tensor_image(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.moveaxis(frame, -1, -3).astype(np.float32) / 255.0)


def _candidate_inputs(actions: torch.Tensor, obj, pose: np.ndarray, cfg, protocol: PushProtocol):
    """Model inputs of candidate actions ``(B, 2)``: frames ``(B, T, 3, S, S)`` (the ``context`` frames
    rendered with the object at ``pose`` and the pusher on its nominal path, the rest copies of the
    last context frame, which the predictor does not read), actions ``(B, T, 4)`` and states
    ``(B, T, 3)``, positions relative to the camera centre (``pose``'s position) and scaled by
    :data:`POSITION_SCALE`, as in the data."""
    cam = _camera(cfg, pose)
    c, T = cfg.context, cfg.frames
    frames, acts = [], []
    for a in actions.detach().cpu().numpy():
        path = _nominal_path(np.clip(a, -1, 1), pose, cfg, protocol)           # (T, 2) world
        ctx = [_to_tensor_image(render_frame(obj, pose, path[k], cam, protocol.pusher_radius)) for k in range(c)]
        frames.append(torch.stack(ctx + [ctx[-1]] * (T - c)))
        rel = path - pose[:2]
        step = np.zeros_like(rel)
        step[:-1] = rel[1:] - rel[:-1]
        acts.append(torch.as_tensor(np.concatenate([rel, step], axis=1) * POSITION_SCALE, dtype=torch.float32))
    B = actions.shape[0]
    states = torch.tensor([0.0, 0.0, float(pose[2])]).expand(B, T, 3)
    return torch.stack(frames), torch.stack(acts), states


def plan(model: EVF, experience, obj_id: str, pose, goal_image, cfg, generator: torch.Generator | None = None,
         protocol: PushProtocol = PROTOCOL, cost_fn=None):
    """The action in ``[-1, 1]^2`` of the push from ``pose`` whose predicted outcome looks most like
    ``goal_image``: CEM (mean 0, std ``cem_std``, ``samples`` / ``elites`` / ``iterations``, clipped
    to the box) on the cost ``sum((goal - predicted last frame)^2)`` over pixels and channels.

    Each iteration's ``samples`` candidates are one batch through ``model.predict`` (prior z; no
    gradients): the ``context`` frames are rendered at ``pose`` with the pusher on the candidate's
    nominal path (:func:`_nominal_path`: the straight line at the frame times; the object is drawn
    at rest, which the real context frames nearly are), the actions are that path and the states
    ``pose`` repeated, **an approximation**: the predictor reads the states of the context frames
    only and the object has hardly moved in them. ``experience`` is ``(K, T, 3, S, S)`` clips of the
    object (``None`` for a model without encoder); ``goal_image`` ``(3, S, S)`` float in [0, 1] or
    ``(S, S, 3)`` uint8 seen by the camera centred on ``pose``. ``cost_fn`` (actions ``(B, 2)`` ->
    ``(B,)``) replaces the model's cost (a seam for tests). Returns ``(action (2,), CEMResult)``."""
    pose = _check_pose(pose)
    if cost_fn is None:
        obj, _ = _simulator(obj_id, protocol, SURFACE)
        dev = next(model.parameters()).device
        goal = goal_image
        if isinstance(goal, np.ndarray) and goal.dtype == np.uint8:
            goal = _to_tensor_image(goal)
        goal = torch.as_tensor(goal)
        if goal.dtype == torch.uint8:
            raise ValueError("a uint8 goal_image must be (S, S, 3) as rendered; a (3, S, S) goal must be float in [0, 1]")
        goal = goal.to(dev, torch.float32)
        S = cfg.image_size
        if goal.shape != (3, S, S):
            raise ValueError(f"goal_image must be (3, {S}, {S}) float or ({S}, {S}, 3) uint8, got {tuple(goal.shape)}")
        if not bool(torch.isfinite(goal).all()) or goal.min() < 0 or goal.max() > 1:
            raise ValueError("a float goal_image must hold values in [0, 1] (divide a 0-255 image by 255)")
        if model.encoder is not None and experience is None:
            raise ValueError("EVF plans with the object's experience clips: pass experience (K, T, 3, S, S)")
        exp = None if model.encoder is None else torch.as_tensor(experience, dtype=torch.float32).to(dev)

        def cost_fn(actions):
            frames, acts, states = (x.to(dev) for x in _candidate_inputs(actions, obj, pose, cfg, protocol))
            e = None if exp is None else exp.unsqueeze(0).expand(actions.shape[0], *exp.shape)
            out = model.predict(e, frames, acts, states, posterior=False)
            last = out["frames_pred"][:, -1].clamp(0, 1)
            return ((last - goal) ** 2).flatten(1).sum(1).to(actions.device)

    with torch.random.fork_rng(devices=[]):   # z from the prior: seeded by the generator
        torch.manual_seed(int(torch.randint(2 ** 31 - 1, (1,), generator=generator)))
        was_training = model.training if model is not None else False
        if model is not None:
            model.eval()
        try:
            res = cem(cost_fn, torch.zeros(2), cfg.cem_std, samples=cfg.samples, elites=cfg.elites,
                      iterations=cfg.iterations, lower=-1.0, upper=1.0, generator=generator)
        finally:
            if model is not None:
                model.train(was_training)
    return res.best.clamp(-1, 1), res


def goal_image(obj_id: str, goal_pose, camera_pose, cfg, protocol: PushProtocol = PROTOCOL) -> torch.Tensor:
    """The goal ``(3, S, S)`` float: the object at ``goal_pose``, no pusher, seen by the data's camera
    centred on ``camera_pose``'s position."""
    obj, _ = _simulator(obj_id, protocol, SURFACE)
    return _to_tensor_image(render_frame(obj, _check_pose(goal_pose), None, _camera(cfg, _check_pose(camera_pose)),
                                         protocol.pusher_radius))


def _score(final: np.ndarray, goal: np.ndarray, cfg, actions: list) -> dict:
    pos = float(np.linalg.norm(final[:2] - goal[:2]))
    return {"final_pose": final, "position_error": pos, "angle_error": float(abs(wrap_angle(final[2] - goal[2]))),
            "success": bool(pos < cfg.success_radius), "actions": actions}


def _trial(choose, obj_id, start_pose, goal_pose, cfg, pushes, protocol):
    require_int("pushes", pushes)
    pose, goal = _check_pose(start_pose), _check_pose(goal_pose)
    actions = []
    for _ in range(pushes):
        a = choose(pose)
        actions.append(np.asarray(a, dtype=np.float64))
        pose, _ = execute(obj_id, pose, a, cfg, protocol)
    return _score(pose, goal, cfg, actions)


def control_trial(model: EVF, experience, obj_id: str, start_pose, goal_pose, cfg,
                  generator: torch.Generator | None = None, pushes: int = 1, protocol: PushProtocol = PROTOCOL) -> dict:
    """Push ``obj_id`` from ``start_pose`` towards ``goal_pose`` (world poses): ``pushes`` times, render
    the goal image (the object at ``goal_pose``, no pusher; with the camera of the coming push,
    centred on the current position), :func:`plan` and :func:`execute`. Returns ``final_pose``,
    ``position_error`` (m), ``angle_error`` (rad, wrapped, in [0, pi]), ``success``
    (position error < ``success_radius``) and the executed ``actions``."""
    def choose(pose):
        a, _ = plan(model, experience, obj_id, pose, goal_image(obj_id, goal_pose, pose, cfg, protocol), cfg,
                    generator, protocol)
        return a.numpy()
    return _trial(choose, obj_id, start_pose, goal_pose, cfg, pushes, protocol)


def simulator_cost(obj_id: str, pose, goal_image, cfg, protocol: PushProtocol = PROTOCOL):
    """The cost :func:`plan` would compute with a perfect predictor: each candidate push is executed
    in the simulator from ``pose`` (:func:`execute`) and its rendered last frame compared with
    ``goal_image`` (``(3, S, S)`` float), ``sum((goal - last)^2)``. Returns ``cost_fn(actions (B, 2))
    -> (B,)``, the oracle that tells how well the planner does when the model is right."""
    goal = torch.as_tensor(goal_image, dtype=torch.float32)

    def cost_fn(actions):
        costs = []
        for a in actions.detach().cpu().numpy():
            _, clip = execute(obj_id, pose, np.clip(a, -1, 1), cfg, protocol)
            costs.append(float(((_to_tensor_image(clip["frames"][-1]) - goal) ** 2).sum()))
        return torch.tensor(costs, dtype=actions.dtype)
    return cost_fn


def simulator_trial(obj_id: str, start_pose, goal_pose, cfg, generator: torch.Generator | None = None,
                    pushes: int = 1, protocol: PushProtocol = PROTOCOL) -> dict:
    """:func:`control_trial` with the simulator in place of the model (:func:`simulator_cost`): the
    planner's and the cost's own limits, without prediction error. The same result dict."""
    def choose(pose):
        goal = goal_image(obj_id, goal_pose, pose, cfg, protocol)
        a, _ = plan(None, None, obj_id, pose, goal, cfg, generator, protocol,
                    cost_fn=simulator_cost(obj_id, pose, goal, cfg, protocol))
        return a.numpy()
    return _trial(choose, obj_id, start_pose, goal_pose, cfg, pushes, protocol)


def random_action_trial(obj_id: str, start_pose, goal_pose, cfg, generator: torch.Generator | None = None,
                        pushes: int = 1, protocol: PushProtocol = PROTOCOL) -> dict:
    """The baseline of :func:`control_trial`: each push's action uniform in ``[-1, 1]^2`` (the data's
    push distribution), the same result dict."""
    return _trial(lambda pose: (2 * torch.rand(2, generator=generator, dtype=torch.float64) - 1).numpy(),
                  obj_id, start_pose, goal_pose, cfg, pushes, protocol)


def control_goals(obj_id: str, cfg, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A reachable control task for ``obj_id``: the start pose (0, 0, 0) and, as the goal, where one
    push of a uniform random action leaves the object (so one good push reaches it exactly).
    Redrawn (at most 20 times) while the push would move the object less than twice
    ``success_radius``, so that staying put is no success."""
    start = np.zeros(3)
    for _ in range(20):
        a = (2 * torch.rand(2, generator=generator, dtype=torch.float64) - 1).numpy()
        goal, _ = execute(obj_id, start, a, cfg)
        if np.linalg.norm(goal[:2]) >= 2 * cfg.success_radius:
            break
    return start, goal


#: the controllers of :func:`control_experiment`
CONTROLLERS = ("EVF", "baseline", "simulator", "random")


def control_experiment(cfg, models: dict, data: Clips, progress: bool = False) -> pd.DataFrame:
    """Each test object of ``data`` gets ``control_trials`` tasks (:func:`control_goals`, seeded by
    ``eval_seed``); each method of ``models`` (``"EVF"`` and ``"baseline"`` a model; ``"random"``
    None: :func:`random_action_trial`; ``"simulator"`` None: :func:`simulator_trial`) attempts every task with ``control_pushes`` pushes, EVF's
    experience being the object's first ``experiences`` clips. One row per (method, object, trial):
    ``position_error_mm``, ``angle_error_deg``, ``success``, the goal pose ``goal_x, goal_y, goal_yaw``
    and the final one ``final_x, final_y, final_yaw`` (world, m and rad; every task starts at 0)."""
    unknown = sorted(set(models) - set(CONTROLLERS))
    if unknown:
        raise ValueError(f"unknown control method(s) {', '.join(unknown)}; valid: {', '.join(CONTROLLERS)}")
    gen = make_generator(cfg.eval_seed)
    tasks = [(obj, t, *control_goals(data.ids[obj], cfg, gen))
             for obj in range(len(data)) for t in range(cfg.control_trials)]
    it = tasks
    if progress:
        from tqdm import tqdm
        it = tqdm(tasks, desc="control trials")
    rows = []
    for obj, t, start, goal in it:
        obj_id = data.ids[obj]
        for method, model in models.items():
            g = make_generator(cfg.eval_seed + 1000 * obj + t)
            if method == "random":
                r = random_action_trial(obj_id, start, goal, cfg, g, pushes=cfg.control_pushes)
            elif method == "simulator":
                r = simulator_trial(obj_id, start, goal, cfg, g, pushes=cfg.control_pushes)
            else:
                dev = next(model.parameters()).device
                exp = data.frames(obj, torch.arange(cfg.experiences), dev)
                r = control_trial(model, exp, obj_id, start, goal, cfg, g, pushes=cfg.control_pushes)
            rows.append({"method": method, "object": obj_id, "trial": t,
                         "position_error_mm": 1e3 * r["position_error"],
                         "angle_error_deg": math.degrees(r["angle_error"]), "success": r["success"],
                         **{f"goal_{k}": v for k, v in zip(("x", "y", "yaw"), goal)},
                         **{f"final_{k}": v for k, v in zip(("x", "y", "yaw"), r["final_pose"])}})
    return pd.DataFrame(rows)
