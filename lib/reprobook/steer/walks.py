"""Walks in a GAN's latent space that imitate an image edit (Jahanian, Chai & Isola, "On the
'Steerability' of Generative Adversarial Networks", ICLR 2020, arXiv:1907.07171).

Given a frozen generator ``G`` and an edit ``edit(x, α)`` of an image (a colour shift, a zoom, a
shift, ...), the paper learns a walk ``walk(z, α)`` in latent space such that ``G(walk(z, α))``
looks like ``edit(G(z), α)`` (Eq. 1)::

    w* = argmin_w  E_{z, α} [ L( G(walk(z, α)),  edit(G(z), α) ) ]

with the L2 loss restricted to the pixels the edit defines (a mask ``m``; zooming out leaves a
border undefined). Two walks:

* **linear** (Eq. 1): ``walk(z, α) = z + α w``; for the colour edit one direction per channel,
  ``z + Σ_c α_c w_c`` (the official ``nsliders = 3``).
* **non-linear** (Eq. 4): ``walk(z, n) = f^n(z)`` for an integer number of steps ``n`` (``f^{-1}`` is
  a second network ``g`` for negative ``n``), each step a residual MLP followed by a renormalisation
  to the norm of the starting code,  ``z ← (z + f(z)) · ‖z_0‖ / ‖z + f(z)‖``. One step stands for
  the edit ``α = ε`` (so ``n`` steps for ``α = n ε``).

Official code (github.com/ali-design/gan_steerability, read for these facts):

* ``graphs/biggan/transform_base.py`` / ``graphs/stylegan/transform_base.py``: ``w`` of shape
  ``(1, dim_z, Nsliders)`` initialised ``N(0, 0.1)``, ``z_new = z + Σ_i α[:, i] w[:, :, i]``; the
  NN walk ``z_step = z_prev + T2(T1(z_prev))`` with ``T1 = Dense(dim_z, relu)``, ``T2 = Dense(dim_z)``
  (kernel ``RandomNormal`` = N(0, 0.05) for BigGAN, ``glorot_normal`` for StyleGAN; zero bias), then
  ``z_step · ‖z‖ / ‖z_step‖``; a separate pair ``T3, T4`` for the reverse direction. There is no ε
  inside the step: ε only scales the target edit (``α_target = n ε``).
  The loss is ``tf.losses.compute_weighted_loss(square(G(z_new) − target), weights=mask)``, i.e.
  TF1's ``SUM_BY_NONZERO_WEIGHTS``: ``Σ m (·)² / #{m ≠ 0}`` over all pixels and channels of the batch.
* ``utils/transforms.py``: training α per edit. Colour, linear: ``α ~ U[-0.5, 0.5)`` per sample and
  per channel; NN: one integer ``n ~ U{-N_f..N_f}`` per batch and ``α_target = n ε`` on every channel
  (luminance). Zoom, linear: ``s ~ U[0.25, 1]`` or ``U[1, 4]`` (a coin), graph ``α = log s``; NN:
  ``α_target = ε^n``. Shift / rotate, linear: an integer ``a ∈ [1, a_max)`` with a random sign,
  graph ``α = a / a_max`` (``a_max`` = img_size/2 pixels for shifts, 45° for rotations).
* ``train.py`` / ``options/train_options.py``: Adam, one pass over ``num_samples = 20000`` codes
  (BigGAN configs; the StyleGAN ones use 2,000 to 60,000 depending on the edit) in batches of
  ``BATCH_SIZE = 4`` (``graphs/*/constants.py``), i.e. 5000 steps, one α draw per batch for the
  geometric edits (per sample for colour); BigGAN codes from ``truncnorm(-2, 2)`` (ours:
  ``N(0, I)``, what a DCGAN is trained on). Linear walks: lr 1e-4 for colour and zoom, 1e-3 for
  shifts and rotations (``config/biggan_*_linear.yml``). NN walks (``config/biggan_*_nonlinear.yml``):
  colour ε 0.1, N_f 5, lr 1e-3; zoom ε 1.41 (a factor), N_f 4; shifts ε 25 px, rotations 10°, N_f 5,
  those at lr 1e-4 with the LPIPS loss.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import torch
from torch import nn


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------

def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_z(z, nz: int) -> None:
    if not torch.is_tensor(z):
        raise TypeError(f"z must be a tensor, got {type(z).__name__}")
    if z.ndim != 2 or z.shape[1] != nz:
        raise ValueError(f"z must have shape (B, {nz}), got {tuple(z.shape)}")
    if not z.is_floating_point():
        raise TypeError(f"z must be floating point, got {z.dtype}")


def _alpha_matrix(alpha, batch: int, n_dims: int, like: torch.Tensor) -> torch.Tensor:
    """α as ``(B, n_dims)``: a number or 0-d tensor broadcasts; ``(B,)`` needs ``n_dims == 1``."""
    if not torch.is_tensor(alpha):
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise TypeError(f"alpha must be a number or a tensor, got {type(alpha).__name__}")
        alpha = torch.tensor(float(alpha))
    alpha = alpha.to(device=like.device, dtype=like.dtype)
    if alpha.ndim == 0:
        alpha = alpha.expand(batch, n_dims)
    elif alpha.ndim == 1 and n_dims == 1 and alpha.shape[0] == batch:
        alpha = alpha[:, None]
    elif not (alpha.ndim == 2 and alpha.shape == (batch, n_dims)):
        want = "(B,) or (B, 1)" if n_dims == 1 else f"(B, {n_dims})"
        raise ValueError(f"alpha must be a number or have shape {want} with B = {batch}, got {tuple(alpha.shape)}")
    if not torch.isfinite(alpha).all():
        raise ValueError("alpha contains NaN or inf")
    return alpha


# ---------------------------------------------------------------------------------------------
# walks
# ---------------------------------------------------------------------------------------------

class LinearWalk(nn.Module):
    """The linear walk of Eq. 1: ``z' = z + Σ_i α_i w_i``, with ``n_dims`` learnable directions.

    ``w`` has shape ``(n_dims, nz)`` (the official ``(1, dim_z, Nsliders)``, transposed) and starts
    ``N(0, init_std²)``, ``init_std = 0.1`` as in the official code. ``forward(z, α)``: ``z (B, nz)``,
    ``α`` a number, ``(B,)`` (``n_dims == 1``) or ``(B, n_dims)`` -> ``(B, nz)``.
    """

    def __init__(self, nz: int, n_dims: int = 1, init_std: float = 0.1, generator: torch.Generator | None = None):
        super().__init__()
        self.nz = _check_int(nz, "nz")
        self.n_dims = _check_int(n_dims, "n_dims")
        if init_std != 0:
            _check_positive(init_std, "init_std")
        self.w = nn.Parameter(torch.randn(self.n_dims, self.nz, generator=generator) * init_std)  # (n_dims, nz)

    def forward(self, z: torch.Tensor, alpha) -> torch.Tensor:   # (B, nz), (B, n_dims) -> (B, nz)
        _check_z(z, self.nz)
        a = _alpha_matrix(alpha, z.shape[0], self.n_dims, z)         # (B, n_dims)
        return z + a @ self.w.to(z.dtype)                             # z + Σ_i α_i w_i


class NonlinearWalk(nn.Module):
    """The non-linear walk (Eq. 4 of the paper, the official ``NNz`` walk).

    One step: ``z ← (z + f(z)) · ‖z_0‖ / ‖z + f(z)‖`` with ``f(z) = W_2 relu(W_1 z + b_1) + b_2``
    (``hidden`` units, the official ``hidden = nz``) and ``z_0`` the starting code, so every step stays
    on the sphere of the start's radius. Negative steps use a second network ``g`` of the same form
    (the official reverse pair ``T3, T4``). ``forward(z, α)`` takes ``α`` in the walk's coordinate
    (:func:`reprobook.steer.edits.walk_alpha`: the edit's α for colour, ``log`` of a zoom factor, ...)
    and walks ``n = round(α / ε)`` steps (rounded as the official ``scale_test_alpha_for_graph``;
    more than ``50 · steps`` is refused); ``α`` is a
    number, ``(B,)``, or ``(B, d)`` with equal columns (the official NN colour walk moves all channels
    together). ``steps`` (the official ``N_f``) is the range trained on, ``n ∈ {-steps..steps}``
    (``alpha_sampler``); walking further just repeats the step, as the official code does.
    Weights start ``N(0, init_std²)`` (Keras ``RandomNormal``: 0.05), biases 0.
    """

    def __init__(self, nz: int, hidden: int | None = None, steps: int = 5, eps: float = 0.1,
                 init_std: float = 0.05, generator: torch.Generator | None = None):
        super().__init__()
        self.nz = _check_int(nz, "nz")
        self.hidden = self.nz if hidden is None else _check_int(hidden, "hidden")
        self.steps = _check_int(steps, "steps")
        self.eps = _check_positive(eps, "eps")
        init_std = _check_positive(init_std, "init_std")
        self.forward_net = self._mlp(init_std, generator)             # f: the official T2(T1(.))
        self.reverse_net = self._mlp(init_std, generator)             # g: the official T4(T3(.))

    def _mlp(self, init_std: float, generator) -> nn.Sequential:
        net = nn.Sequential(nn.Linear(self.nz, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.nz))
        with torch.no_grad():
            for layer in (net[0], net[2]):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * init_std)
                layer.bias.zero_()
        return net

    @staticmethod
    def _step(z: torch.Tensor, radius: torch.Tensor, net: nn.Module) -> torch.Tensor:
        z_step = z + net(z)                                           # (B, nz)
        return z_step * radius / z_step.norm(dim=1, keepdim=True)     # back onto the sphere ‖z_0‖

    def n_steps(self, alpha, batch: int, like: torch.Tensor) -> torch.Tensor:
        """The integer step counts ``round(α / ε)``, shape ``(B,)``."""
        if torch.is_tensor(alpha) and alpha.ndim == 2 and alpha.shape[0] == batch and alpha.shape[1] > 1:
            if not torch.equal(alpha, alpha[:, :1].expand_as(alpha)):
                raise ValueError("the non-linear walk has one slider: alpha of shape (B, d) must have equal "
                                 "columns (the same α on every channel)")
            alpha = alpha[:, 0]
        a = _alpha_matrix(alpha, batch, 1, like)[:, 0]                # (B,)
        n = torch.round(a / self.eps)
        limit = 50 * self.steps
        if bool((n.abs() > limit).any()):
            raise ValueError(f"alpha = {a.abs().max().item():.4g} asks for {int(n.abs().max().item())} steps of ε = "
                             f"{self.eps:.4g}; this walk was trained on up to {self.steps} and refuses more than "
                             f"{limit} (each step is one pass of its network)")
        return n.long()

    def walk_steps(self, z: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """``f^n(z)`` for integer ``n`` of shape ``(B,)`` (``g^{|n|}`` where ``n < 0``); ``(B, nz)``."""
        _check_z(z, self.nz)
        radius = z.norm(dim=1, keepdim=True)                          # (B, 1) ‖z_0‖
        out = z
        for net, sign in ((self.forward_net, 1), (self.reverse_net, -1)):
            todo = (n * sign).clamp(min=0)                            # steps left in this direction
            if not bool((todo > 0).any()):
                continue
            cur = z
            for t in range(1, int(todo.max()) + 1):
                cur = self._step(cur, radius, net)
                out = torch.where((todo == t)[:, None], cur, out)     # keep each sample's n-th step
        return out

    def forward(self, z: torch.Tensor, alpha) -> torch.Tensor:   # (B, nz), α -> (B, nz)
        _check_z(z, self.nz)
        return self.walk_steps(z, self.n_steps(alpha, z.shape[0], z))

    def alpha_sampler(self, n_dims: int = 1):
        """The official NN training α: one ``n ~ U{-steps..steps}`` per batch, ``α = n ε`` on all
        ``n_dims`` columns (``utils/transforms.py``, ``get_train_alpha`` of the ``NNz`` walk)."""
        return step_alpha(self.steps, self.eps, n_dims)


# ---------------------------------------------------------------------------------------------
# α samplers: callables (batch, generator) -> α
# ---------------------------------------------------------------------------------------------

def uniform_alpha(low: float, high: float, n_dims: int = 1):
    """``α ~ U[low, high)`` per sample and per column, shape ``(B, n_dims)``; the official linear
    colour walk uses ``uniform_alpha(-0.5, 0.5, 3)``."""
    if not (isinstance(low, numbers.Real) and isinstance(high, numbers.Real) and math.isfinite(low)
            and math.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got low={low!r}, high={high!r}")
    n_dims = _check_int(n_dims, "n_dims")

    def sample(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return low + (high - low) * torch.rand(batch, n_dims, generator=generator)
    return sample


def step_alpha(steps: int, eps: float, n_dims: int = 1):
    """One integer ``n ~ U{-steps..steps}`` per batch, ``α = n ε`` repeated to ``(B, n_dims)``."""
    steps, eps, n_dims = _check_int(steps, "steps"), _check_positive(eps, "eps"), _check_int(n_dims, "n_dims")

    def sample(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = torch.randint(-steps, steps + 1, (1,), generator=generator).item()
        return torch.full((batch, n_dims), n * eps)
    return sample


def edit_alpha(edit: str, size: int | None = None, per_sample: bool = False):
    """The official linear walks' training α for ``edit`` (``utils/transforms.py``,
    ``get_train_alpha``), in the units of :mod:`reprobook.steer.edits`:

    * ``zoom``: a fair coin picks the official ``U[0.25, 1)`` (zoom *in*: its α is a crop fraction)
      or ``U[1, 4)`` (zoom out); here the factor is the reciprocal, ``1 / u`` (α > 1 zooms in), so
      the distribution of zooms is the official one;
    * ``shiftx`` / ``shifty``: an integer ``a ∈ [1, size // 2)`` pixels with a random sign;
    * ``rotate2d``: an integer ``a ∈ [1, 45)`` degrees with a random sign;
    * ``color``: ``U[-0.5, 0.5)`` per sample and channel, shape ``(B, 3)``; ``brightness``:
      ``U[-0.5, 0.5)`` per sample.

    Officially zoom, shifts and rotations draw **one α per batch** (one coin, one sign); colour one
    per sample. ``per_sample=True`` draws the geometric α per sample instead (the joint training
    code of Sec. 4.4, ``steer_aug``, does). Returns a sampler ``(batch, generator) -> α`` of shape
    ``(B,)`` (colour ``(B, 3)``). Feed the walk ``edits.walk_alpha(edit, α, size)``
    (``train_walk(..., walk_alpha_fn=)``)."""
    from .edits import EDITS, alpha_range
    if edit not in EDITS:
        raise ValueError(f"unknown edit {edit!r}; expected one of {sorted(EDITS)}")
    if edit == "color":
        return uniform_alpha(-0.5, 0.5, 3)
    if edit == "brightness":
        inner = uniform_alpha(-0.5, 0.5, 1)
        return lambda batch, generator=None: inner(batch, generator)[:, 0]
    if edit == "zoom":
        def sample_zoom(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
            n = batch if per_sample else 1
            u = torch.rand(n, generator=generator)
            zoom_in = torch.rand(n, generator=generator) < 0.5          # the official coin
            crop = torch.where(zoom_in, 0.25 + 0.75 * u, 1.0 + 3.0 * u)  # the official α (a crop fraction)
            return (1.0 / crop).expand(batch).clone()                   # ours: the zoom factor
        return sample_zoom
    if edit in ("shiftx", "shifty"):
        if size is None:
            raise ValueError(f"{edit}: pass the image size (shifts are drawn in pixels up to size // 2)")
        top = int(alpha_range(edit, size)[1])
    else:
        top = 45
    if top < 2:
        raise ValueError(f"{edit}: the image is too small to shift ({size} pixels)")

    def sample_int(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = batch if per_sample else 1
        a = torch.randint(1, top, (n,), generator=generator).float()
        sign = torch.randint(0, 2, (n,), generator=generator).float() * 2 - 1
        return (a * sign).expand(batch).clone()
    return sample_int


# ---------------------------------------------------------------------------------------------
# Eq. 1 and its optimisation
# ---------------------------------------------------------------------------------------------

def masked_mse(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The masked L2 of Eq. 1, normalised as the official code (TF1 ``compute_weighted_loss``,
    ``SUM_BY_NONZERO_WEIGHTS``)::

        L = Σ_{b,c,h,w} m_{b,h,w} (x_{bchw} − y_{bchw})²  /  #{(b,c,h,w) : m_{b,h,w} ≠ 0}

    ``output``, ``target``: ``(B, C, H, W)``; ``mask``: ``(B, 1, H, W)`` (broadcast over channels) or
    ``(B, C, H, W)``, non-negative. For a 0/1 mask this is the mean squared error over the kept
    pixels; with an all-ones mask the plain mean. An all-zero mask gives 0 (TF's safe division).
    """
    for name, t in (("output", output), ("target", target), ("mask", mask)):
        if not torch.is_tensor(t):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be floating point, got {t.dtype}")
    if output.ndim != 4:
        raise ValueError(f"output must have shape (B, C, H, W), got {tuple(output.shape)}")
    if target.shape != output.shape:
        raise ValueError(f"output and target must have the same shape, got {tuple(output.shape)} and "
                         f"{tuple(target.shape)}")
    B, C, H, W = output.shape
    if mask.shape not in ((B, 1, H, W), (B, C, H, W)):
        raise ValueError(f"mask must have shape ({B}, 1, {H}, {W}) or ({B}, {C}, {H}, {W}), got {tuple(mask.shape)}")
    if not torch.isfinite(mask).all() or (mask < 0).any():
        raise ValueError("mask must be finite and non-negative")
    mask = mask.to(output.dtype).expand(B, C, H, W)
    count = (mask != 0).sum()
    sq = torch.where(mask != 0, (output - target) ** 2, torch.zeros((), dtype=output.dtype, device=output.device))
    total = (mask * sq).sum()                 # pixels outside the mask never count, even when NaN there
    return total / count.clamp(min=1)                                 # count = 0 -> total = 0 -> 0


def walk_loss(G: Callable, walk: nn.Module, z: torch.Tensor, alpha, edit_fn: Callable,
              walk_alpha=None) -> torch.Tensor:
    """Eq. 1 for one batch: ``masked_mse(G(walk(z, α_w)), edit(G(z), α), m)``, with the walk's
    coordinate ``α_w = walk_alpha`` when given (:func:`reprobook.steer.edits.walk_alpha`: the
    official walks see ``log`` of the zoom factor and shifts / rotations divided by their maximum),
    else ``α``.

    ``G``: ``(B, nz) -> (B, C, H, W)``; ``edit_fn(x, α) -> (edited (B, C, H, W), mask (B, 1, H, W))``.
    The target ``edit(G(z), α)`` and its mask are computed without gradient (the official code feeds
    them as placeholders), so only ``walk`` (through ``G``) receives gradient.
    """
    if not callable(edit_fn):
        raise TypeError(f"edit_fn must be callable, got {type(edit_fn).__name__}")
    with torch.no_grad():
        x = G(z)                                                      # (B, C, H, W)
        out = edit_fn(x, alpha)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ValueError("edit_fn(x, alpha) must return a pair (edited image, mask)")
        target, mask = out
    return masked_mse(G(walk(z, alpha if walk_alpha is None else walk_alpha)), target.detach(), mask.detach())


def train_walk(G: nn.Module | Callable, walk: nn.Module, edit_fn: Callable, alpha_sampler: Callable, steps: int = 5000,
               batch: int = 4, lr: float = 1e-3, generator: torch.Generator | None = None, device="cpu",
               progress: bool = False, z_sampler: Callable | None = None,
               walk_alpha_fn: Callable | None = None, callback: Callable | None = None) -> list[float]:
    """Minimise Eq. 1 over the walk's parameters with Adam (the official recipe: 5000 steps of batch
    4, lr 1e-4 to 1e-3), ``G`` frozen in eval mode (a module; a plain function is called as is).

    Each step draws ``z ~ N(0, I)`` of shape ``(batch, walk.nz)`` (or ``z_sampler(batch, generator)``)
    and ``α = alpha_sampler(batch, generator)``, both on the CPU from ``generator`` (reproducible
    across devices) and then moved to ``device``. Returns the loss of every step. ``G``'s training
    mode and ``requires_grad`` flags are restored afterwards. A non-finite loss raises
    ``FloatingPointError`` naming the step and learning rate. ``walk_alpha_fn(α)`` maps the edit's
    α to the walk's coordinate (e.g. ``partial(edits.walk_alpha, "zoom")``); default the same α.
    ``callback(step, loss)`` is called after every step (1-based), e.g. to trace the walk.
    """
    steps, batch = _check_int(steps, "steps"), _check_int(batch, "batch")
    lr = _check_positive(lr, "lr")
    if not callable(alpha_sampler):
        raise TypeError(f"alpha_sampler must be callable, got {type(alpha_sampler).__name__}")
    params = [p for p in walk.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the walk has no trainable parameters")
    nz = getattr(walk, "nz", None)
    if z_sampler is None and nz is None:
        raise ValueError("the walk has no attribute nz: pass z_sampler(batch, generator)")
    from ..train.seed import resolve_device
    device = resolve_device(device)
    walk.to(device)
    module = G if isinstance(G, nn.Module) else None                  # a plain function is used as is
    if module is not None:
        module.to(device)
        was_training, flags = module.training, [p.requires_grad for p in module.parameters()]
        module.eval()
        module.requires_grad_(False)
    optimizer = torch.optim.Adam(params, lr=lr)
    history: list[float] = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc="walk", leave=False, mininterval=1.0)
    try:
        for step in range(steps):
            z = z_sampler(batch, generator) if z_sampler is not None else torch.randn(batch, nz, generator=generator)
            alpha = alpha_sampler(batch, generator)
            z = z.to(device)
            alpha = alpha.to(device) if torch.is_tensor(alpha) else alpha
            walk_a = None if walk_alpha_fn is None else walk_alpha_fn(alpha)
            loss = walk_loss(G, walk, z, alpha, edit_fn, walk_alpha=walk_a)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"train_walk: the loss is {value} at step {step + 1} (lr {lr:.3g}); "
                                         f"try a lower learning rate or check G, the edit and α for NaN")
            optimizer.zero_grad(set_to_none=True)
            if loss.requires_grad:
                loss.backward()
            for p in params:                    # as in TF: an unused parameter (the reverse net on a
                if p.grad is None:              # forward batch, everything when α = 0) gets a zero
                    p.grad = torch.zeros_like(p)    # gradient, and Adam's momentum still moves it
            optimizer.step()
            history.append(value)
            if callback is not None:
                callback(step + 1, value)
            if bar is not None:
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{value:.4g}", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if module is not None:
            module.train(was_training)
            for p, flag in zip(module.parameters(), flags):
                p.requires_grad_(flag)
    return history
