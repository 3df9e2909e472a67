"""Training a DCGAN, alone, on augmented data, or jointly with a latent walk (book/07-gan-steerability).

The adversarial game of DCGAN (Radford et al. 2016, the PyTorch tutorial's recipe: Adam, lr 2e-4,
``β = (0.5, 0.999)``, batch 128 in the tutorial) with the non-saturating generator loss::

    L_D = BCE(D(x), 1) + BCE(D(G(z)), 0)          L_G = BCE(D(G(z)), 1)

Two ways to make a generator more steerable (Jahanian, Chai & Isola, ICLR 2020, Sec. 4.4):

* **data augmentation**: each real batch is edited (``augment``: e.g. a random zoom of every image),
  so the data spans more of the attribute the walk will later move;
* **joint training**: the walk of Eq. 1 is trained together with ``G``, whose loss becomes
  ``L_G + λ · L_edit`` with ``L_edit = ‖m ⊙ (G(walk(z, α)) − edit(G(z), α))‖²`` (masked mean,
  :func:`reprobook.steer.walks.walk_loss`); the target ``edit(G(z), α)`` carries no gradient, so ``G``
  learns to *reach* its own edited images rather than to make its images edit-invariant (ours: the
  paper gives the objective, not this detail).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..steer.walks import walk_loss


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in ``[0, 255]`` (or floats already in ``[-1, 1]``) as floats in ``[-1, 1]``."""
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1.0
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    return images


@dataclass
class JointWalk:
    """The walk trained jointly with ``G`` (Sec. 4.4): ``lam · walk_loss(G, walk, z, α, edit_fn)``
    is added to the generator's loss, ``α = alpha_sampler(batch, generator)`` and the walk fed
    ``walk_alpha_fn(α)`` (default ``α``). The walk's parameters join the generator's Adam with
    learning rate ``lr`` (default: the GAN's; a walk starting from ``N(0, 0.1)`` moves little at 2e-4)."""
    walk: nn.Module
    edit_fn: Callable
    alpha_sampler: Callable
    lam: float = 1.0
    walk_alpha_fn: Callable | None = None
    lr: float | None = None

    def __post_init__(self):
        if not (isinstance(self.lam, (int, float)) and math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
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


def train_dcgan(G: nn.Module, D: nn.Module, images: torch.Tensor, steps: int, batch_size: int = 64,
                lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), generator: torch.Generator | None = None,
                augment: Callable | None = None, joint: JointWalk | None = None, progress: bool = True,
                desc: str = "dcgan") -> GANHistory:
    """Train ``G`` and ``D`` for ``steps`` alternating updates (one D step, then one G step) on
    ``images`` (uint8 ``(N, C, H, W)`` or floats in ``[-1, 1]``, on the device the models are on).

    Batches are drawn with replacement-free shuffles of ``images`` from ``generator`` (CPU), codes
    ``z ~ N(0, I)`` from the same generator, so a run is reproducible on one machine. ``augment(x,
    generator)`` edits each real batch; ``joint`` adds the walk's Eq. 1 loss to ``G``'s (Sec. 4.4).
    A non-finite loss raises ``FloatingPointError`` with the step. Returns the per-step history.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 (batch norm), got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if images.ndim != 4 or images.shape[0] < batch_size:
        raise ValueError(f"images must be (N, C, H, W) with N >= batch_size = {batch_size}, got {tuple(images.shape)}")
    device = next(G.parameters()).device
    nz = G.nz
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    g_groups = [{"params": list(G.parameters())}]
    if joint is not None:
        g_groups.append({"params": list(joint.walk.parameters()), "lr": joint.lr if joint.lr is not None else lr})
    opt_g = torch.optim.Adam(g_groups, lr=lr, betas=betas)
    G.train()
    D.train()
    history = GANHistory()
    n = images.shape[0]
    order, cursor = torch.randperm(n, generator=generator), 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=desc, leave=False, mininterval=1.0)
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

            # discriminator: real -> 1, generated -> 0
            fake = G(z)
            logit_real, logit_fake = D(real), D(fake.detach())
            d_loss = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                      + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

            # generator: non-saturating loss (+ λ · Eq. 1 when trained jointly with a walk)
            logit = D(fake)
            g_loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
            edit_value = float("nan")
            total = g_loss
            if joint is not None:
                alpha = joint.alpha_sampler(batch_size, generator)
                alpha = alpha.to(device) if torch.is_tensor(alpha) else alpha
                walk_a = None if joint.walk_alpha_fn is None else joint.walk_alpha_fn(alpha)
                edit_loss = walk_loss(G, joint.walk, z, alpha, joint.edit_fn, walk_alpha=walk_a)
                edit_value = edit_loss.item()
                total = g_loss + joint.lam * edit_loss
            opt_g.zero_grad(set_to_none=True)
            total.backward()
            opt_g.step()

            values = (d_loss.item(), g_loss.item())
            if not all(math.isfinite(v) for v in values) or (joint is not None and not math.isfinite(edit_value)):
                raise FloatingPointError(f"train_dcgan: a non-finite loss at step {step + 1} (D {values[0]}, "
                                         f"G {values[1]}, edit {edit_value}); try a lower lr")
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
    finally:
        if bar is not None:
            bar.close()
    G.eval()
    D.eval()
    return history
