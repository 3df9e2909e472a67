"""Training a DCGAN, alone, on augmented data, or jointly with a latent walk (book/07-gan-steerability).

The adversarial game of DCGAN (Radford et al. 2016, the PyTorch tutorial's recipe: Adam, lr 2e-4,
``β = (0.5, 0.999)``, batch 128 in the tutorial) with the non-saturating generator loss::

    L_D = BCE(D(x), 1) + BCE(D(G(z)), 0)          L_G = BCE(D(G(z)), 1)

Two ways to make a generator more steerable (Jahanian, Chai & Isola, ICLR 2020, Sec. 4.4):

* **data augmentation**: each real batch is edited (``augment``: e.g. a random zoom of every image),
  so the data spans more of the attribute the walk will later move;
* **joint training**, as the official ``steer_aug/DCGAN-tensorflow/model_argminGW2_rot2d.py``:
  the discriminator also sees the walked images ``G(walk(z, α))`` as fakes,
  ``L_D + BCE(D(G(walk(z, α))), 0)``; the generator minimises
  ``BCE(D(G(z)), 1) + BCE(D(G(walk(z, α))), 1) + λ · L_edit`` with
  ``L_edit = ‖m ⊙ (G(walk(z, α)) − edit(G(z), α))‖²`` (masked mean, TF1's weighted loss; official
  λ = 1); the walk minimises the same sum with its own Adam (official: the GAN's learning rate,
  default betas). The target ``edit(G(z), α)`` is computed from the generator in eval mode (the
  official ``sampler``) and carries no gradient (a placeholder there), so ``G`` learns to *reach*
  its own edited images. Per iteration: one D step, then ``g_steps`` times a G step and a walk step
  (DCGAN-tensorflow runs ``g_optim`` twice).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..steer.walks import masked_mse


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in ``[0, 255]`` (or floats already in ``[-1, 1]``) as floats in ``[-1, 1]``."""
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1.0
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    if images.numel() and not bool(((images >= -1 - 1e-6) & (images <= 1 + 1e-6)).all()):
        raise ValueError("float images must lie in [-1, 1] (NaN is not allowed); pass uint8 images in [0, 255] "
                         "or scale them as x / 127.5 - 1")
    return images


@dataclass
class JointWalk:
    """The walk trained jointly with ``G`` (Sec. 4.4): ``α = alpha_sampler(batch, generator)`` per
    iteration, the walk fed ``walk_alpha_fn(α)`` (default ``α``), the edit loss weighted by ``lam``
    (official 1). The walk has its own Adam with learning rate ``lr`` (default: the GAN's, as
    officially) and ``betas`` (official: Adam's defaults)."""
    walk: nn.Module
    edit_fn: Callable
    alpha_sampler: Callable
    lam: float = 1.0
    walk_alpha_fn: Callable | None = None
    lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self):
        if isinstance(self.lam, bool) or not (isinstance(self.lam, (int, float)) and math.isfinite(self.lam)
                                              and self.lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float))
                                    or not math.isfinite(self.lr) or self.lr <= 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not callable(self.edit_fn) or not callable(self.alpha_sampler):
            raise TypeError("edit_fn and alpha_sampler must be callable")


@dataclass
class GANHistory:
    """Per-step losses and the discriminator's mean probabilities on real and generated batches."""
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    edit_loss: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(d_loss=self.d_loss, g_loss=self.g_loss, d_real=self.d_real, d_fake=self.d_fake,
                    edit_loss=self.edit_loss)


def edit_augment(edit_fn: Callable, alpha_sampler: Callable, p: float = 1.0) -> Callable:
    """An ``augment(x, generator)`` that edits a random fraction ``p`` of the images of a batch with
    ``edit_fn(x, α)``, ``α = alpha_sampler(B, generator)`` (undefined pixels stay 0, as the edit
    fills them)."""
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"p must lie in [0, 1], got {p!r}")

    def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        alpha = alpha_sampler(x.shape[0], generator)
        keep = torch.rand(x.shape[0], generator=generator) >= p                 # (B,) unedited samples
        edited, _ = edit_fn(x, alpha.to(x.device))
        return torch.where(keep.to(x.device)[:, None, None, None], x, edited)
    return augment


def _check_finite(loss: torch.Tensor, who: str, step: int) -> None:
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(f"train_dcgan: the {who} loss is {value} at step {step + 1}, before its update (the "
                                 f"weights are those of step {step}); check the images for NaN or try a lower lr")


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def train_dcgan(G: nn.Module, D: nn.Module, images: torch.Tensor, steps: int, batch_size: int = 64,
                lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), generator: torch.Generator | None = None,
                augment: Callable | None = None, joint: JointWalk | None = None, g_steps: int = 1,
                progress: bool = True, desc: str = "dcgan") -> GANHistory:
    """Train ``G`` and ``D`` for ``steps`` iterations (one D step, then ``g_steps`` G steps: 1 in the
    PyTorch tutorial, 2 in DCGAN-tensorflow) on ``images`` (uint8 ``(N, C, H, W)`` or floats in
    ``[-1, 1]``, on the device the models are on).

    Batches are drawn from shuffles of ``images`` by ``generator`` (CPU), codes ``z ~ N(0, I)`` from
    the same generator, so a run is reproducible on one machine. ``augment(x, generator)`` edits
    each real batch; ``joint`` trains a walk with ``G`` (Sec. 4.4, see the module's docstring).
    A non-finite loss raises ``FloatingPointError`` with the step. Returns the per-step history
    (``edit_loss`` from the last G step of each iteration).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(g_steps, bool) or not isinstance(g_steps, int) or g_steps < 1:
        raise ValueError(f"g_steps must be a positive integer, got {g_steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 (batch norm), got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[0] < batch_size:
        raise ValueError(f"images must be a tensor (N, C, H, W) with N >= batch_size = {batch_size}, got "
                         f"{tuple(getattr(images, 'shape', ())) or type(images).__name__}")
    device = next(G.parameters()).device
    nz = G.nz
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_w = None
    if joint is not None:
        joint.walk.to(device).train()
        opt_w = torch.optim.Adam(joint.walk.parameters(), lr=joint.lr if joint.lr is not None else lr, betas=joint.betas)
    G.train()
    D.train()
    history = GANHistory()
    n = images.shape[0]
    order, cursor = torch.randperm(n, generator=generator), 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=desc, leave=False, mininterval=1.0)

    def generator_losses(z, target=None, mask=None, walk_a=None):
        """(the sum to minimise, g_loss, edit loss or None)."""
        g_loss = _bce(D(G(z)), 1.0)
        if joint is None:
            return g_loss, g_loss, None
        walked = G(joint.walk(z, walk_a))                                 # (B, C, H, W)
        edit_loss = masked_mse(walked, target, mask)
        return g_loss + _bce(D(walked), 1.0) + joint.lam * edit_loss, g_loss, edit_loss

    try:
        for step in range(steps):
            if cursor + batch_size > n:                                     # a new epoch
                order, cursor = torch.randperm(n, generator=generator), 0
            idx = order[cursor:cursor + batch_size]
            cursor += batch_size
            real = to_signed(images[idx.to(images.device)]).to(device)       # (B, C, H, W) in [-1, 1]
            if augment is not None:
                real = augment(real, generator)
            z = torch.randn(batch_size, nz, generator=generator).to(device)  # (B, nz)
            target = mask = walk_a = None
            if joint is not None:
                alpha = joint.alpha_sampler(batch_size, generator)
                alpha = alpha.to(device) if torch.is_tensor(alpha) else alpha
                walk_a = alpha if joint.walk_alpha_fn is None else joint.walk_alpha_fn(alpha)
                with torch.no_grad():                                        # the official sampler: BN in
                    G.eval()                                                 # inference mode, a placeholder
                    target, mask = joint.edit_fn(G(z), alpha)
                    G.train()

            # discriminator: real -> 1, generated (and walked) -> 0
            logit_real = D(real)
            with torch.no_grad():
                fake = G(z)
                walked = G(joint.walk(z, walk_a)) if joint is not None else None
            logit_fake = D(fake)
            d_loss = _bce(logit_real, 1.0) + _bce(logit_fake, 0.0)
            if walked is not None:
                d_loss = d_loss + _bce(D(walked), 0.0)
            _check_finite(d_loss, "D", step)                                 # before any weight moves
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

            # generator (and walk): the non-saturating loss, + the walked images' and λ · Eq. 1
            for _ in range(g_steps):
                total, g_loss, edit_loss = generator_losses(z, target, mask, walk_a)
                _check_finite(total, "G", step)
                opt_g.zero_grad(set_to_none=True)
                total.backward()
                opt_g.step()
                if opt_w is not None:                                        # the official w_optim: a
                    total, g_loss, edit_loss = generator_losses(z, target, mask, walk_a)   # fresh forward
                    _check_finite(total, "walk", step)
                    opt_w.zero_grad(set_to_none=True)
                    total.backward()
                    opt_w.step()

            values = (d_loss.item(), g_loss.item())
            edit_value = edit_loss.item() if edit_loss is not None else float("nan")
            history.d_loss.append(values[0])
            history.g_loss.append(values[1])
            history.d_real.append(torch.sigmoid(logit_real.detach()).mean().item())
            history.d_fake.append(torch.sigmoid(logit_fake.detach()).mean().item())
            if joint is not None:
                history.edit_loss.append(edit_value)
            if bar is not None:
                if step % 20 == 0:
                    bar.set_postfix(D=f"{values[0]:.3f}", G=f"{values[1]:.3f}", refresh=False)
                bar.update(1)
    finally:                                    # also on an error or an interrupt: eval mode, no grads
        if bar is not None:
            bar.close()
        for m in (G, D) + ((joint.walk,) if joint is not None else ()):
            m.zero_grad(set_to_none=True)
            m.eval()
    return history
