r"""Action-conditioned stochastic video prediction: a CDNA predictor with a SAVP-style VAE latent.

Chapter 09 (Experience-embedded Visual Foresight, Lin, Bauza & Isola, CoRL 2019, arXiv 1911.05071)
builds its video-prediction model on the VAE-only variant of SAVP (Lee et al. 2018, "Stochastic
Adversarial Video Prediction", arXiv 1804.01523), whose generator is the CDNA model of Finn et al.
2016 ("Unsupervised Learning for Physical Interaction through Video Prediction", arXiv 1605.07157).
The code here is our own re-implementation in PyTorch.

**Generator (one step).** At step :math:`t` the network reads the current image :math:`\hat x_t`
(ground truth :math:`x_t` for :math:`t < \text{context}`, afterwards its own previous prediction:
closed loop, or in training the ground truth with SAVP's scheduled-sampling probability) beside
the clip's first frame :math:`x_0` (SAVP concatenates the two on the channel axis), the state :math:`\hat s_t` (same rule), the action :math:`a_t`, a latent :math:`z_t`
and, for EVF, an experience embedding :math:`e`. An encoder-decoder of ConvLSTM layers
(resolutions :math:`H, H/2, H/4, H/2, H`, skip connections at :math:`H` and :math:`H/2`) produces

* :math:`K` = ``num_masks`` CDNA kernels :math:`k_i \in \mathbb R^{k \times k}` from the flattened
  bottleneck (Finn et al. Sec. 3.1), normalised by a softmax over the :math:`k^2` taps so that
  :math:`k_i \ge 0,\ \sum k_i = 1`, and applied depthwise (the same kernel to every colour channel,
  zero "same" padding) to the *previous* frame: :math:`\tilde x^{(i)}_t = k_i * \hat x_t`;
* with SAVP's defaults two more sources: the clip's first frame :math:`x_0` and a *scratch* image
  :math:`g_t = \sigma(\mathrm{conv}_{3\times3}(d_2))` generated from the last decoder layer (it can
  draw what no transformation of the previous frame holds, e.g. uncovered floor);
* one compositing mask per source (a 1x1 conv of the last decoder layer, softmax over the sources at
  every pixel, :math:`\sum_i m_i = 1`).

The next frame is the per-pixel convex combination (Finn et al. Eq. 1-2, with SAVP's sources)

.. math:: \hat x_{t+1} = m_0 \odot \hat x_t + m_f \odot x_0 + m_g \odot g_t
          + \sum_{i=1}^{K} m_i \odot (k_i * \hat x_t).

``first_image_background=False, scratch_image=False`` leaves Finn et al.'s CDNA (previous frame
plus :math:`K` transforms). Why the extra sources matter here: with the previous frame and the
transforms alone our L1-trained model settled within 100 steps on copying the last frame exactly
(the kernels became deltas; PSNR equal to the copy's to 4 digits after 800 steps), with them it
did not. Because kernels, masks and the sigmoid are all convex or bounded in [0, 1], predictions of
images in :math:`[0, 1]` stay in :math:`[0, 1]`.

The next state is linear in the current state and action, as in Finn et al.:
:math:`\hat s_{t+1} = W [\hat s_t, a_t] + b`.

**Where conditioning enters.** The vector :math:`c_t = [a_t, e, \hat s_t, z_t]` (:math:`e` is the
same at every step, i.e. tiled over time; the official EVF code appends the embedding last, after
the action, the state and the LSTM-filtered :math:`z`, an order that does not matter) is tiled over
the :math:`H/4 \times H/4` grid and concatenated to the input of the bottleneck ConvLSTM (Finn et
al. concatenate the tiled state-action at the lowest resolution as well; SAVP concatenates it to
the input of every layer).

**Where this differs from SAVP's generator** (evf-public ``savp_model.py``; ours is simpler):
ConvLSTMs at resolutions :math:`H, H/2, H/4, H/2, H` with strided convolutions and nearest
upsampling (SAVP at 64 px: :math:`H/2, H/4, H/8` and back, ``conv_pool2d`` / ``upsample_conv2d``,
instance norm); masks from a 1x1 convolution of the last layer (SAVP's masks also see the candidate
images, ``dependent_mask``); the scratch image from one 3x3 convolution (SAVP: a hidden 3x3 layer
first); :math:`z` fed directly (SAVP filters it with an LSTM, ``use_rnn_z``); a smaller posterior
network without the action (SAVP: three 4x4 convolutions of 64-256 channels on the frame pair and
the tiled action); softmax kernels with zero padding (SAVP: ``relu`` normalisation around an added
identity kernel, symmetric padding); the state receives the image loss's gradient (SAVP stops it);
at test time all :math:`z_t` from the prior (SAVP takes the first ``context - 1`` from the
posterior).

**Latent (SAVP VAE).** Per step a posterior :math:`q(z_t \mid x_t, x_{t+1}) = \mathcal N(\mu_t,
\operatorname{diag} \sigma_t^2)` is computed by a small conv encoder of the concatenated ground-truth
frame pair (training, ``posterior=True``); at test time ``posterior=False`` draws :math:`z_t` from
the fixed prior :math:`\mathcal N(0, I)`. ``sample=False`` uses the mean instead of a draw
(:math:`\mu_t`, resp. 0). The KL to the unit prior is (SAVP ``kl_loss``: summed over latent
dimensions, averaged over batch and time)

.. math:: \mathrm{KL} = \frac{1}{B(T-1)} \sum_{b,t} -\tfrac12 \sum_{d}
          \left(1 + \log \sigma^2_{btd} - \mu^2_{btd} - \sigma^2_{btd}\right).

**Objective** (SAVP VAE variant, official EVF settings: L1 loss, KL weight 0.001 annealed linearly
from step 50k to 100k, lr 1e-3, batch 8, 64x64 RGB, 12 frames, 2 context frames, 3-d state, 4-d
action):

.. math:: \mathcal L = \operatorname{mean} |\hat x_{1:T-1} - x_{1:T-1}| + \lambda_{KL}\, \mathrm{KL}
          \;(+\ \lambda_s \operatorname{mean} \|\hat s_{1:T-1} - s_{1:T-1}\|^2,\ \lambda_s = 0
          \text{ by default, as SAVP's } \texttt{state\_weight}).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

Tensor = torch.Tensor

__all__ = [
    "ConvLSTMCell",
    "CDNAPredictor",
    "normalize_cdna_kernels",
    "apply_cdna_kernels",
    "composite",
    "gaussian_kl",
    "video_prediction_loss",
    "scheduled_sampling_prob",
    "kl_anneal_weight",
]


# --------------------------------------------------------------------------------------------
# CDNA primitives (pure functions, unit-testable)
# --------------------------------------------------------------------------------------------
def normalize_cdna_kernels(logits: Tensor) -> Tensor:
    """Softmax over the taps of each kernel: logits (B, K, k, k) -> kernels (B, K, k, k), every
    kernel non-negative and summing to 1. (Finn et al. and SAVP use ``relu(x - eps) + eps`` divided
    by the sum, SAVP around an added identity kernel: the same constraints, a different function;
    ours starts near the uniform kernel, theirs near the identity.)"""
    if logits.dim() != 4 or logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"kernel logits must have shape (B, K, k, k), got {tuple(logits.shape)}")
    b, k_num, k, _ = logits.shape
    return torch.softmax(logits.reshape(b, k_num, k * k), dim=-1).reshape(b, k_num, k, k)


def apply_cdna_kernels(image: Tensor, kernels: Tensor) -> Tensor:
    """Depthwise-filter each image with its own K kernels (same kernel for every channel, zero
    "same" padding (SAVP pads symmetrically), cross-correlation as TensorFlow's ``depthwise_conv2d``).
    image (B, C, H, W), kernels (B, K, k, k) with odd k -> (B, K, C, H, W)."""
    if image.dim() != 4:
        raise ValueError(f"image must have shape (B, C, H, W), got {tuple(image.shape)}")
    if kernels.dim() != 4 or kernels.shape[0] != image.shape[0] or kernels.shape[-1] != kernels.shape[-2]:
        raise ValueError(f"kernels must have shape ({image.shape[0]}, K, k, k), got {tuple(kernels.shape)}")
    k = kernels.shape[-1]
    if k % 2 == 0:
        raise ValueError(f"CDNA kernel size must be odd, got {k}")
    b, c, h, w = image.shape
    k_num = kernels.shape[1]
    # channels become the conv batch; one group per example with 1 input and K output channels
    x = image.transpose(0, 1)                                  # (C, B, H, W)
    weight = kernels.reshape(b * k_num, 1, k, k)               # (B*K, 1, k, k)
    # a cross-correlation, as tf.nn.depthwise_conv2d in Finn et al.: out[i, j] = sum_ab k[a, b] x[i+a-r, j+b-r]
    y = F.conv2d(x, weight, padding=k // 2, groups=b)         # (C, B*K, H, W)
    return y.reshape(c, b, k_num, h, w).permute(1, 2, 0, 3, 4)      # (B, K, C, H, W)


def composite(prev: Tensor, transformed: Tensor, masks: Tensor) -> Tensor:
    """Finn et al. Eq. 2: ``masks[:, 0] * prev + sum_i masks[:, i] * transformed[:, i-1]``.
    prev (B, C, H, W), transformed (B, K, C, H, W), masks (B, K+1, H, W) -> (B, C, H, W)."""
    if masks.shape[1] != transformed.shape[1] + 1:
        raise ValueError(f"need K+1 masks for K transformed images, got {masks.shape[1]} and {transformed.shape[1]}")
    sources = torch.cat([prev.unsqueeze(1), transformed], dim=1)   # (B, K+1, C, H, W)
    return (masks.unsqueeze(2) * sources).sum(dim=1)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    r""":math:`\mathrm{KL}(\mathcal N(\mu, e^{\text{logvar}}) \,\|\, \mathcal N(0, I))` summed over
    the last (latent) dimension and averaged over all leading dimensions (SAVP ``kl_loss``)."""
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have equal shapes, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)).mean()


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------
class ConvLSTMCell(nn.Module):
    r"""Convolutional LSTM (Shi et al. 2015), the recurrent unit of Finn et al. and SAVP.

    .. math:: [i, f, o, g] = W * [x, h_{t-1}] + b,\quad
              c_t = \sigma(f + 1) \odot c_{t-1} + \sigma(i) \odot \tanh g,\quad
              h_t = \sigma(o) \odot \tanh c_t

    (forget bias 1 as in Finn et al.). With ``layer_norm=True`` each of the four gate
    pre-activations is layer-normalised over (channels, height, width) before the non-linearities.
    x (B, in_ch, H, W), state (h, c) each (B, hidden_ch, H, W) or None (zeros) -> (h, (h, c)).
    """

    def __init__(self, in_ch: int, hidden_ch: int, kernel: int = 5, layer_norm: bool = False):
        super().__init__()
        if in_ch < 1 or hidden_ch < 1:
            raise ValueError(f"in_ch and hidden_ch must be >= 1, got {in_ch}, {hidden_ch}")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be a positive odd integer, got {kernel}")
        self.in_ch, self.hidden_ch, self.kernel = in_ch, hidden_ch, kernel
        self.conv = nn.Conv2d(in_ch + hidden_ch, 4 * hidden_ch, kernel, padding=kernel // 2,
                              bias=not layer_norm)
        # GroupNorm with 4 groups on the 4*hidden gate channels == per-gate layer norm
        self.norm = nn.GroupNorm(4, 4 * hidden_ch) if layer_norm else None

    def forward(self, x: Tensor, state: Optional[tuple[Tensor, Tensor]] = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if x.dim() != 4 or x.shape[1] != self.in_ch:
            raise ValueError(f"x must have shape (B, {self.in_ch}, H, W), got {tuple(x.shape)}")
        if state is None:
            z = x.new_zeros(x.shape[0], self.hidden_ch, *x.shape[2:])
            state = (z, z)
        h, c = state
        if h.shape != (x.shape[0], self.hidden_ch, *x.shape[2:]) or c.shape != h.shape:
            raise ValueError(f"state must be two tensors of shape {(x.shape[0], self.hidden_ch, *x.shape[2:])}, "
                             f"got {tuple(h.shape)} and {tuple(c.shape)}")
        gates = self.conv(torch.cat([x, h], dim=1))             # (B, 4*hid, H, W)
        if self.norm is not None:
            gates = self.norm(gates)
        i, f, o, g = gates.chunk(4, dim=1)
        c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class _PairEncoder(nn.Module):
    """Inference network q(z_t | x_t, x_{t+1}): three stride-2 3x3 convs (width ``width``,
    ``2*width``, ``2*width``) with ReLU on the channel-concatenated pair, global average pool, then
    linear maps to ``mu`` and ``logvar`` (SAVP's posterior encoder, smaller). (N, 2C, H, W) ->
    (N, L), (N, L)."""

    def __init__(self, channels: int, width: int, latent_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.mu = nn.Linear(2 * width, latent_dim)
        self.logvar = nn.Linear(2 * width, latent_dim)

    def forward(self, pair: Tensor) -> tuple[Tensor, Tensor]:
        h = self.net(pair).mean(dim=(2, 3))                     # (N, 2w)
        return self.mu(h), self.logvar(h)


# --------------------------------------------------------------------------------------------
# the predictor
# --------------------------------------------------------------------------------------------
class CDNAPredictor(nn.Module):
    """CDNA video predictor with a per-step VAE latent (SAVP-VAE) and an optional EVF embedding.

    Args:
        image_size: H = W, divisible by 4 (64 official).
        channels: image channels (3).
        action_dim, state_dim: 4 and 3 in the EVF data.
        latent_dim: size of z_t (8, SAVP default).
        hidden: ConvLSTM widths at resolutions (H, H/2, H/4); the decoder mirrors them.
        num_masks: number K of CDNA kernels (4, SAVP's ``num_transformed_images``; Finn et al. 10).
        kernel: CDNA kernel size k (5, Finn et al.'s ``DNA_KERN_SIZE``), odd.
        embedding_dim: size of the EVF experience embedding; 0 = no embedding (plain SAVP).
        lstm_kernel: ConvLSTM kernel size (5, Finn et al.).
        layer_norm: layer-normalise the ConvLSTM gates (Finn et al. layer-normalise every LSTM).
        first_image_background: composite the clip's first frame as one more source (SAVP default).
        scratch_image: composite a generated image, the sigmoid of a 3x3 conv of the last decoder
            layer, as one more source (SAVP's ``generate_scratch_image``, default on).

    Layers (shapes for one step, B examples): stem conv 5x5 (C -> h0, H) -> ConvLSTM e1 (h0, H) ->
    stride-2 conv -> ConvLSTM e2 (h1, H/2) -> stride-2 conv -> concat tiled condition ->
    ConvLSTM bottleneck (h2, H/4) -> nearest x2, concat e2 -> ConvLSTM d1 (h1, H/2) -> nearest x2,
    concat e1 -> ConvLSTM d2 (h0, H) -> 1x1 conv -> ``num_sources`` masks. CDNA kernels: Linear of the flattened
    bottleneck output (h2 * (H/4)^2 -> K k^2), as Finn et al. take them from the lowest layer.
    """

    def __init__(self, image_size: int = 64, channels: int = 3, action_dim: int = 4, state_dim: int = 3,
                 latent_dim: int = 8, hidden: Sequence[int] = (32, 64, 128), num_masks: int = 4,
                 kernel: int = 5, embedding_dim: int = 0, lstm_kernel: int = 5, layer_norm: bool = True,
                 first_image_background: bool = True, scratch_image: bool = True):
        super().__init__()
        if image_size < 4 or image_size % 4:
            raise ValueError(f"image_size must be a positive multiple of 4 (two x2 downsamplings), got {image_size}")
        hidden = tuple(int(h) for h in hidden)
        if len(hidden) != 3 or min(hidden) < 1:
            raise ValueError(f"hidden must be three positive widths (H, H/2, H/4 levels), got {hidden}")
        for name, v in (("channels", channels), ("num_masks", num_masks), ("latent_dim", latent_dim)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        for name, v in (("action_dim", action_dim), ("state_dim", state_dim), ("embedding_dim", embedding_dim)):
            if v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel (CDNA kernel size) must be a positive odd integer, got {kernel}")
        self.image_size, self.channels = image_size, channels
        self.action_dim, self.state_dim, self.latent_dim = action_dim, state_dim, latent_dim
        self.hidden, self.num_masks, self.kernel = hidden, num_masks, kernel
        self.embedding_dim = embedding_dim
        self.first_image_background, self.scratch_image = bool(first_image_background), bool(scratch_image)
        self.num_sources = 1 + self.first_image_background + self.scratch_image + num_masks   # masks per pixel
        h0, h1, h2 = hidden
        self.cond_dim = action_dim + embedding_dim + state_dim + latent_dim
        lk = dict(kernel=lstm_kernel, layer_norm=layer_norm)

        self.stem = nn.Conv2d(2 * channels, h0, 5, padding=2)                   # [image, first frame]
        self.enc1 = ConvLSTMCell(h0, h0, **lk)                                   # H
        self.down1 = nn.Conv2d(h0, h0, 3, stride=2, padding=1)
        self.enc2 = ConvLSTMCell(h0, h1, **lk)                                   # H/2
        self.down2 = nn.Conv2d(h1, h1, 3, stride=2, padding=1)
        self.bottleneck = ConvLSTMCell(h1 + self.cond_dim, h2, **lk)             # H/4
        self.dec1 = ConvLSTMCell(h2 + h1, h1, **lk)                              # H/2
        self.dec2 = ConvLSTMCell(h1 + h0, h0, **lk)                              # H
        self.mask_head = nn.Conv2d(h0, self.num_sources, 1)
        self.scratch_head = nn.Conv2d(h0, channels, 3, padding=1) if scratch_image else None
        self.kernel_head = nn.Linear(h2 * (image_size // 4) ** 2, num_masks * kernel * kernel)
        self.state_head = nn.Linear(state_dim + action_dim, state_dim) if state_dim > 0 else None
        self.posterior_net = _PairEncoder(channels, h0, latent_dim)

    # ---------------------------------------------------------------------------------------
    def _check_inputs(self, frames: Tensor, actions: Tensor, states: Tensor, context: int,
                      embedding: Optional[Tensor]) -> None:
        C, S = self.channels, self.image_size
        if frames.dim() != 5 or frames.shape[2:] != (C, S, S):
            raise ValueError(f"frames must have shape (B, T, {C}, {S}, {S}), got {tuple(frames.shape)}")
        B, T = frames.shape[:2]
        if T < 2:
            raise ValueError(f"need at least 2 frames, got T={T}")
        if actions.dim() != 3 or actions.shape[0] != B or actions.shape[1] not in (T, T - 1) \
                or actions.shape[2] != self.action_dim:
            raise ValueError(f"actions must have shape ({B}, {T} or {T - 1}, {self.action_dim}), "
                             f"got {tuple(actions.shape)}")
        if states.dim() != 3 or states.shape != (B, T, self.state_dim):
            raise ValueError(f"states must have shape ({B}, {T}, {self.state_dim}), got {tuple(states.shape)}")
        if isinstance(context, bool) or not isinstance(context, int) or not 1 <= context < T:
            raise ValueError(f"context must be an int with 1 <= context < T={T}, got {context!r}")
        if self.embedding_dim == 0:
            if embedding is not None:
                raise ValueError("this model has embedding_dim=0 but an embedding was given")
        else:
            if embedding is None:
                raise ValueError(f"this model needs an embedding of shape (B, {self.embedding_dim})")
            if embedding.dim() != 2 or embedding.shape != (B, self.embedding_dim):
                raise ValueError(f"embedding must have shape ({B}, {self.embedding_dim}), got {tuple(embedding.shape)}")

    def latent_posterior(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """q(z_t | x_t, x_{t+1}) for t = 0..T-2: frames (B, T, C, H, W) -> mu, logvar (B, T-1, L)."""
        B, T = frames.shape[:2]
        pair = torch.cat([frames[:, :-1], frames[:, 1:]], dim=2)               # (B, T-1, 2C, H, W)
        mu, logvar = self.posterior_net(pair.flatten(0, 1))                     # (B*(T-1), L)
        return mu.view(B, T - 1, -1), logvar.view(B, T - 1, -1)

    def step(self, image: Tensor, cond: Tensor, states: Optional[list],
             first: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor, list]:
        """One generator step. image (B, C, H, W), cond (B, cond_dim), recurrent states (5 ConvLSTM
        states or None), ``first`` (B, C, H, W) the clip's first frame (needed with
        ``first_image_background``) -> next image (B, C, H, W), kernels (B, K, k, k), masks
        (B, num_sources, H, W) (order: previous frame, first frame, scratch image, the K CDNA
        transforms, the optional ones when enabled), states."""
        if states is None:
            states = [None] * 5
        B = image.shape[0]
        if first is None:
            raise ValueError("step needs the clip's first frame (first=...): SAVP's generator reads it at every step")
        x = torch.relu(self.stem(torch.cat([image, first], dim=1)))             # (B, h0, H, W)
        e1, s1 = self.enc1(x, states[0])                                       # (B, h0, H, W)
        e2, s2 = self.enc2(torch.relu(self.down1(e1)), states[1])              # (B, h1, H/2, W/2)
        x = torch.relu(self.down2(e2))                                         # (B, h1, H/4, W/4)
        tiled = cond[:, :, None, None].expand(-1, -1, *x.shape[2:])            # (B, cond, H/4, W/4)
        b, s3 = self.bottleneck(torch.cat([x, tiled], dim=1), states[2])       # (B, h2, H/4, W/4)
        x = F.interpolate(b, scale_factor=2, mode="nearest")
        d1, s4 = self.dec1(torch.cat([x, e2], dim=1), states[3])               # (B, h1, H/2, W/2)
        x = F.interpolate(d1, scale_factor=2, mode="nearest")
        d2, s5 = self.dec2(torch.cat([x, e1], dim=1), states[4])               # (B, h0, H, W)
        masks = torch.softmax(self.mask_head(d2), dim=1)                       # (B, num_sources, H, W)
        logits = self.kernel_head(b.flatten(1)).view(B, self.num_masks, self.kernel, self.kernel)
        kernels = normalize_cdna_kernels(logits)                               # (B, K, k, k)
        sources = []
        if self.first_image_background:
            sources.append(first)
        if self.scratch_head is not None:
            sources.append(torch.sigmoid(self.scratch_head(d2)))               # (B, C, H, W)
        transformed = apply_cdna_kernels(image, kernels)                       # (B, K, C, H, W)
        if sources:
            transformed = torch.cat([torch.stack(sources, 1), transformed], dim=1)
        nxt = composite(image, transformed, masks)                             # (B, C, H, W)
        return nxt, kernels, masks, [s1, s2, s3, s4, s5]

    def forward(self, frames: Tensor, actions: Tensor, states: Tensor, context: int = 2,
                embedding: Optional[Tensor] = None, sample: bool = True, posterior: bool = True,
                ground_truth_prob: float = 0.0) -> dict:
        """Roll the model over a clip.

        Args:
            frames: (B, T, C, H, W) in [0, 1]. Frames at t >= context are only read by the
                posterior network (``posterior=True``); the generator never sees them.
            actions: (B, T, A) (or (B, T-1, A)); action t moves frame t to t+1.
            states: (B, T, S); only states[:, :context] are fed, later ones are predicted.
            context: number of ground-truth frames fed, 1 <= context < T.
            embedding: (B, E) EVF experience embedding if ``embedding_dim > 0``, else None.
            sample: draw z (reparameterised) rather than use the mean.
            posterior: z from q(z_t | x_t, x_{t+1}) (training) or from the prior N(0, I) (test).
            ground_truth_prob: scheduled sampling (SAVP's ``schedule_sampling``, training only): after
                the context, each example is fed its ground-truth frame and state instead of its own
                prediction with this probability, drawn per example and step
                (:func:`scheduled_sampling_prob` gives SAVP's schedule). 0: closed loop (test).

        Returns dict with ``frames_pred`` (B, T-1, C, H, W) (prediction of frames 1..T-1),
        ``states_pred`` (B, T-1, S), ``kl`` (scalar; 0 when ``posterior=False``), ``z_mu``,
        ``z_logvar`` (B, T-1, L) (zeros for the prior), ``kernels`` (B, T-1, K, k, k), ``masks``
        (B, T-1, num_sources, H, W).
        """
        self._check_inputs(frames, actions, states, context, embedding)
        if not 0.0 <= float(ground_truth_prob) <= 1.0:
            raise ValueError(f"ground_truth_prob must be in [0, 1], got {ground_truth_prob!r}")
        B, T = frames.shape[:2]
        L = self.latent_dim
        if posterior:
            z_mu, z_logvar = self.latent_posterior(frames)                     # (B, T-1, L)
            kl = gaussian_kl(z_mu, z_logvar)
        else:
            z_mu = frames.new_zeros(B, T - 1, L)
            z_logvar = frames.new_zeros(B, T - 1, L)
            kl = frames.new_zeros(())
        z = z_mu + torch.exp(0.5 * z_logvar) * torch.randn_like(z_mu) if sample else z_mu

        rnn = None
        image, state = frames[:, 0], states[:, 0]
        preds, state_preds, kernels, masks = [], [], [], []
        for t in range(T - 1):
            if t < context:                     # ground truth inside the context, else own outputs
                image, state = frames[:, t], states[:, t]
            elif ground_truth_prob > 0:         # scheduled sampling: some examples get the truth
                feed = torch.rand(B, device=frames.device) < ground_truth_prob               # (B,)
                image = torch.where(feed[:, None, None, None], frames[:, t], image)
                state = torch.where(feed[:, None], states[:, t], state)
            act = actions[:, t]
            parts = [act] + ([embedding] if embedding is not None else []) + [state, z[:, t]]
            cond = torch.cat(parts, dim=-1)                                     # (B, cond_dim)
            image, k, m, rnn = self.step(image, cond, rnn, first=frames[:, 0])
            state = self.state_head(torch.cat([state, act], dim=-1)) if self.state_head is not None else state
            preds.append(image)
            state_preds.append(state)
            kernels.append(k)
            masks.append(m)
        return dict(frames_pred=torch.stack(preds, 1), states_pred=torch.stack(state_preds, 1), kl=kl,
                    z_mu=z_mu, z_logvar=z_logvar, kernels=torch.stack(kernels, 1), masks=torch.stack(masks, 1))


def scheduled_sampling_prob(step: int, k: float = 900.0) -> float:
    """SAVP's inverse-sigmoid schedule (``schedule_sampling='inverse_sigmoid'``,
    ``schedule_sampling_k=900``): the probability of feeding ground truth at optimizer step ``step``,
    ``k / (k + exp(step / k))``, and exactly 0 once it falls below 0.001 (SAVP: "eventually the model
    is deterministically autoregressive"). About 0.5 at step 6,100, 0 from step 12,400 on."""
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k!r}")
    x = step / k
    p = 0.0 if x > 700 else k / (k + math.exp(x))
    return p if p >= 0.001 else 0.0


def kl_anneal_weight(step: int, kl_weight: float, start: int, end: int) -> float:
    """SAVP's linear KL annealing (``kl_anneal='linear'``, default ``kl_anneal_steps=(50000,
    100000)``): 0 before ``start``, ``kl_weight`` from ``end`` on, linear in between."""
    if end < start:
        raise ValueError(f"end must be >= start, got {start}, {end}")
    if end == start:
        return kl_weight if step >= start else 0.0
    return kl_weight * min(max(step - start, 0), end - start) / (end - start)


def video_prediction_loss(out: dict, frames: Tensor, kl_weight: float = 0.001,
                          states: Optional[Tensor] = None, state_weight: float = 0.0, pixel_loss: str = "l1") -> dict:
    """SAVP VAE objective: ``l1 = mean |frames_pred - frames[:, 1:]|``, ``loss = l1 + kl_weight * kl``
    (+ ``state_weight * mean (states_pred - states[:, 1:])^2`` when ``states`` is given and
    ``state_weight > 0``; SAVP's ``state_weight`` defaults to 0). ``pixel_loss="l2"`` uses
    ``mean (frames_pred - frames[:, 1:])^2`` instead of the L1 term (SAVP's ``l2_weight``; Finn et
    al.'s CDNA loss), reported under ``l2``. Returns dict(loss, l1 or l2, kl[, state])."""
    pred = out["frames_pred"]
    if frames.dim() != 5 or frames.shape[0] != pred.shape[0] or frames.shape[1] != pred.shape[1] + 1 \
            or frames.shape[2:] != pred.shape[2:]:
        raise ValueError(f"frames must have shape {(pred.shape[0], pred.shape[1] + 1, *pred.shape[2:])} "
                         f"for predictions of shape {tuple(pred.shape)}, got {tuple(frames.shape)}")
    if kl_weight < 0 or state_weight < 0:
        raise ValueError(f"weights must be >= 0, got kl_weight={kl_weight}, state_weight={state_weight}")
    if pixel_loss not in ("l1", "l2"):
        raise ValueError(f"pixel_loss must be 'l1' or 'l2', got {pixel_loss!r}")
    err = pred - frames[:, 1:]
    pix = err.abs().mean() if pixel_loss == "l1" else err.pow(2).mean()
    kl = out["kl"]
    loss = pix + kl_weight * kl
    res = {"loss": loss, pixel_loss: pix, "kl": kl}
    if states is not None:
        sp = out["states_pred"]
        if states.shape != (sp.shape[0], sp.shape[1] + 1, sp.shape[2]):
            raise ValueError(f"states must have shape {(sp.shape[0], sp.shape[1] + 1, sp.shape[2])}, "
                             f"got {tuple(states.shape)}")
        state_loss = (sp - states[:, 1:]).pow(2).mean()
        res["state"] = state_loss
        res["loss"] = loss + state_weight * state_loss
    return res
