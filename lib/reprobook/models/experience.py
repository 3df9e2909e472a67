r"""Experience encoder of Experience-embedded Visual Foresight (EVF; Lin, Bauza & Isola, CoRL 2019).

EVF conditions an action-conditioned video predictor on a low-dimensional *experience embedding*
:math:`z` of the object being pushed, so that the same predictor adapts to a new object from a few
videos of it. The embedding is tiled over time (and space) and fed to the predictor with each
input frame; the encoder and the predictor are meta-trained jointly (a Reptile-style outer loop
over objects, meta-batch 8; see :mod:`reprobook.train.reptile`).

Facts taken from the official code (yenchenlin/evf-public, TensorFlow 1; the code here is our own):

* the encoder sees a clip's **first and last frames**, concatenated on the channel axis
  (``2 * C`` input channels);
* 4 convolutions with 32 / 64 / 64 / 64 channels, stride 2, each followed by layer norm and ReLU;
  then flatten and one fully connected layer to a **5-d** embedding;
* the embedding is tiled over the time steps of the predictor's input (:func:`tile_embedding`).

**Official code vs paper.** The paper describes embedding *other* pushes of the same object (K
prior experiences) and conditioning the prediction of a new push on them, whereas the released
code embeds the *same* clip's first and last frames (so the "experience" is the clip being
predicted). We follow the paper: :class:`ExperienceEncoder` embeds each of ``K`` *other* clips of
the object independently and averages the ``K`` embeddings, which makes the result invariant to
the order of the clips and lets the number of clips vary per object (``mask``). With ``K = 1`` and
the predicted clip itself as input it reduces to the official code's encoder.

Kernel sizes as the official (slim ``conv2d``, SAME padding): 5 x 5 for the first convolution,
3 x 3 after it. Not taken from the official code: the averaging over clips; layer norm here
normalises each sample over all of ``(C, H, W)`` with a learned per-element affine
(``torch.nn.LayerNorm``; TensorFlow's ``layer_norm`` learns one per channel). **Training**: the
paper trains the encoder with the predictor; in the released code it is never trained (its
variables are created outside the ``generator`` scope whose variables the optimizer updates, so
the embedding is a fixed random projection). We train it, as the paper describes.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

Tensor = torch.Tensor

__all__ = ["ExperienceEncoder", "tile_embedding", "OFFICIAL_WIDTHS", "OFFICIAL_EMBEDDING_DIM"]

OFFICIAL_WIDTHS = (32, 64, 64, 64)   # evf-public: 4 conv layers, stride 2, layer norm, ReLU
OFFICIAL_EMBEDDING_DIM = 5           # evf-public: 5-d experience embedding


def _conv_out(size: int, kernel: int, stride: int = 2, padding: int = 1) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class ExperienceEncoder(nn.Module):
    """Embeds ``K`` clips of one object into one vector: per clip ``cat(first, last)`` frame ->
    convs -> Linear -> ``(E,)``, then the (masked) mean over the clips.

    Args:
        image_size: height = width of the frames.
        channels: channels per frame (the convs see ``2 * channels``).
        widths: output channels of the stride-2 convolutions (official: 32, 64, 64, 64).
        embedding_dim: ``E`` (official: 5).
        kernel_size: 3 or 4 (padding 1, stride 2) for the convolutions after the first (official 3).
        first_kernel_size: odd kernel of the first convolution, padding ``k // 2`` (official 5).

    Shapes: ``clips`` (B, K, T, C, H, W) float, ``T >= 2``; ``mask`` (B, K) bool (True = use the
    clip). :meth:`forward` -> (B, E); :meth:`embed_clips` -> (B, K, E) per-clip embeddings.
    """

    def __init__(self, image_size: int = 64, channels: int = 3, widths: Sequence[int] = OFFICIAL_WIDTHS,
                 embedding_dim: int = OFFICIAL_EMBEDDING_DIM, kernel_size: int = 3, first_kernel_size: int = 5):
        super().__init__()
        widths = tuple(widths)
        if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths must be a non-empty sequence of positive ints, got {widths!r}")
        if kernel_size not in (3, 4):
            raise ValueError(f"kernel_size must be 3 or 4, got {kernel_size!r}")
        if isinstance(first_kernel_size, bool) or not isinstance(first_kernel_size, int) or first_kernel_size < 1 \
                or first_kernel_size % 2 == 0:
            raise ValueError(f"first_kernel_size must be a positive odd int, got {first_kernel_size!r}")
        for name, v in (("image_size", image_size), ("channels", channels), ("embedding_dim", embedding_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.image_size, self.channels, self.embedding_dim = image_size, channels, embedding_dim
        self.widths, self.kernel_size, self.first_kernel_size = widths, kernel_size, first_kernel_size
        layers: list[nn.Module] = []
        c_in, size = 2 * channels, image_size
        for i, w in enumerate(widths):
            k, pad = (first_kernel_size, first_kernel_size // 2) if i == 0 else (kernel_size, 1)
            size = _conv_out(size, k, padding=pad)
            if size < 1:
                raise ValueError(f"image_size {image_size} is too small for {len(widths)} stride-2 "
                                 f"convolutions with kernel {kernel_size}")
            layers += [nn.Conv2d(c_in, w, k, stride=2, padding=pad),
                       nn.LayerNorm([w, size, size]), nn.ReLU()]
            c_in = w
        self.convs = nn.Sequential(*layers)
        self.feature_shape = (c_in, size, size)
        self.fc = nn.Linear(c_in * size * size, embedding_dim)

    # ----------------------------------------------------------------------------------------
    def _check_clips(self, clips: Tensor) -> None:
        if not torch.is_tensor(clips) or clips.dim() != 6:
            shape = tuple(clips.shape) if torch.is_tensor(clips) else type(clips).__name__
            raise ValueError(f"clips must be a 6-d tensor (B, K, T, C, H, W), got {shape}")
        if not clips.is_floating_point():
            raise ValueError(f"clips must be floating point, got {clips.dtype}")
        B, K, T, C, H, W = clips.shape
        if B < 1 or K < 1:
            raise ValueError(f"clips need B >= 1 objects and K >= 1 clips, got B = {B}, K = {K}")
        if T < 2:
            raise ValueError(f"each clip needs at least 2 frames (first and last), got T = {T}")
        if (C, H, W) != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"frames must be (C, H, W) = {(self.channels, self.image_size, self.image_size)}, "
                             f"got {(C, H, W)}")

    def embed_clips(self, clips: Tensor) -> Tensor:
        """Per-clip embeddings (B, K, E) from the first and last frame of each clip."""
        self._check_clips(clips)
        B, K = clips.shape[:2]
        x = torch.cat([clips[:, :, 0], clips[:, :, -1]], dim=2)            # (B, K, 2C, H, W)
        h = self.convs(x.reshape(B * K, *x.shape[2:]))                      # (B*K, c, s, s)
        return self.fc(h.flatten(1)).view(B, K, self.embedding_dim)        # (B, K, E)

    def forward(self, clips: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Experience embedding (B, E): the mean of the per-clip embeddings over the ``K`` clips, or
        over the clips with ``mask[b, k] = True`` only. A row of ``mask`` with no True entry is an
        error (an object needs at least one experience)."""
        self._check_clips(clips)
        B, K = clips.shape[:2]
        if mask is not None:
            if not torch.is_tensor(mask) or mask.dtype != torch.bool or mask.shape != (B, K):
                got = (f"{tuple(mask.shape)} {mask.dtype}" if torch.is_tensor(mask) else type(mask).__name__)
                raise ValueError(f"mask must be a bool tensor of shape (B, K) = {(B, K)}, got {got}")
            mask = mask.to(clips.device)
            empty = ~mask.any(dim=1)
            if bool(empty.any()):
                raise ValueError(f"mask rows {empty.nonzero().flatten().tolist()} select no clip; "
                                 f"every object needs at least one experience")
        z = self.embed_clips(clips)                                         # (B, K, E)
        if mask is None:
            return z.mean(dim=1)
        m = mask[..., None]                                                 # (B, K, 1)
        z = torch.where(m, z, torch.zeros((), dtype=z.dtype, device=z.device))  # masked clips contribute 0
        return z.sum(dim=1) / m.sum(dim=1).to(z.dtype)


def tile_embedding(embedding: Tensor, steps: int, height: Optional[int] = None,
                   width: Optional[int] = None) -> Tensor:
    """Tile a (B, E) embedding over time: (B, steps, E), or over time and space when ``height`` and
    ``width`` are given: (B, steps, E, height, width), ready to concatenate on the channel axis of
    the predictor's per-frame input (as the official code does)."""
    if not torch.is_tensor(embedding) or embedding.dim() != 2:
        raise ValueError("embedding must be a 2-d tensor (B, E)")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if (height is None) != (width is None):
        raise ValueError("give both height and width, or neither")
    out = embedding[:, None].expand(-1, steps, -1)
    if height is None:
        return out
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be positive, got {height}, {width}")
    return out[..., None, None].expand(-1, -1, -1, height, width)
