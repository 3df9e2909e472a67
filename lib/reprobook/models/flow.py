r"""A pixel-wise, invertible, volume-preserving flow: InfoMin's learned view generator.

Book: book/04-infomin/03-learned-views.

Tian et al. (2020, Sec. 4.1) learn views by mapping each pixel's colour :math:`X` through a flow
:math:`\hat X = g(X)` and splitting the 3 output channels into :math:`\hat X_{1}` (one channel)
and :math:`\hat X_{2:3}` (two); the flow is trained adversarially against the encoders,

.. math:: \min_g \max_{f_1, f_2} I_\text{NCE}\big(f_1(g(X)_1);\, f_2(g(X)_{2:3})\big),

and must be *volume-preserving* (:math:`|\det \partial g / \partial X| = 1`) so it can neither
collapse the input nor invent information, and invertible so no information is lost: only how it
is divided between the views changes. The official repository never released this generator.

Here :math:`g` is a stack of blocks, each a 3x3 colour rotation :math:`W = \exp(A - A^\top)`
(:math:`\det W = 1`) followed by two *additive couplings* (:math:`y_B = x_B + t(x_A)`, Dinh
et al. 2015, Jacobian determinant 1) that condition channel ``0`` on ``1, 2`` and back. :math:`t`
is a small per-pixel MLP (1x1 convolutions) with a bounded output, so the flow acts on each
pixel independently. (A general unit-determinant mixing, :math:`W = LU` with unit triangular
factors, let the adversary stretch one direction without bound: the views' scale ran to 1e5 in
a few epochs and their :math:`I_\text{NCE}` did not fall. A rotation and bounded shifts keep the
game fair.) Its last layer and the mixing start at zero: the flow starts as
the identity, i.e. from the input colour space's own split (R | GB for RGB input).
"""
from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor


class OrthogonalMixing(nn.Module):
    """``y = W x`` per pixel with ``W = exp(A - A^T)`` a rotation (``det W = 1``, ``W^{-1} = W^T``);
    starts at the identity. A rotation moves information between channels without stretching
    any direction, so the adversary cannot win by blowing one channel up."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.generator = nn.Parameter(torch.zeros(channels, channels))

    def weight(self) -> Tensor:
        return torch.linalg.matrix_exp(self.generator - self.generator.T)

    def forward(self, x: Tensor) -> Tensor:          # (B, C, H, W) -> (B, C, H, W)
        return torch.einsum("ij,bjhw->bihw", self.weight().to(x.dtype), x)

    def inverse(self, y: Tensor) -> Tensor:
        return torch.einsum("ji,bjhw->bihw", self.weight().to(y.dtype), y)


class AdditiveCoupling(nn.Module):
    """``y_B = x_B + t(x_A)``, ``y_A = x_A`` for channel groups ``A`` (``condition``) and ``B``
    (the rest); ``t = bound * tanh(mlp(x_A))`` with ``mlp`` Linear - ReLU - Linear - ReLU - Linear
    over each pixel's channels (zero-initialised last layer; about twice as fast as 1x1
    convolutions on CPU): a bounded shift, in the units of the normalised input."""

    def __init__(self, condition: list[int], channels: int = 3, hidden: int = 32, bound: float = 1.0):
        super().__init__()
        self.a = list(condition)
        self.b = [c for c in range(channels) if c not in self.a]
        if not self.a or not self.b or len(set(self.a)) != len(self.a) or any(
                isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < channels for c in self.a):
            raise ValueError(f"condition must be a proper, non-empty subset of the channels 0..{channels - 1} "
                             f"without repeats, got {condition}")
        self.channels = channels
        self.t = nn.Sequential(nn.Linear(len(self.a), hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                               nn.Linear(hidden, len(self.b)))
        nn.init.zeros_(self.t[-1].weight)
        nn.init.zeros_(self.t[-1].bias)
        self.bound = float(bound)

    def shift(self, xa: Tensor) -> Tensor:          # (B, |A|, H, W) -> (B, |B|, H, W)
        return self.bound * torch.tanh(self.t(xa.movedim(1, -1))).movedim(-1, 1)

    def _merge(self, xa: Tensor, xb: Tensor) -> Tensor:
        out = torch.empty(xa.shape[0], len(self.a) + len(self.b), *xa.shape[2:], dtype=xa.dtype, device=xa.device)
        out[:, self.a], out[:, self.b] = xa, xb
        return out

    def _check(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"the coupling maps (B, {self.channels}, H, W) images, got {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        xa = x[:, self.a]
        return self._merge(xa, x[:, self.b] + self.shift(xa).to(x.dtype))

    def inverse(self, y: Tensor) -> Tensor:
        self._check(y)
        ya = y[:, self.a]
        return self._merge(ya, y[:, self.b] - self.shift(ya).to(y.dtype))


class PixelFlow(nn.Module):
    """``blocks`` x (rotation, coupling 0 <- 1 2, coupling 1 2 <- 0) over ``channels`` channels.

    ``forward(x)`` -> ``y`` ``(B, C, H, W)``; ``inverse(y)`` -> ``x``; ``log_det(x)`` -> zeros
    ``(B,)`` (every layer has a unit Jacobian determinant, tested numerically);
    ``views(x)`` -> ``[y[:, :first], y[:, first:]]``, the two views (1 vs 2 channels by default).
    """

    def __init__(self, channels: int = 3, blocks: int = 2, hidden: int = 32, first: int = 1):
        super().__init__()
        if not 0 < first < channels:
            raise ValueError(f"first (the channels of view 1) must lie in (0, {channels}), got {first}")
        if blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks}")
        self.channels, self.first = channels, first
        layers = []
        for _ in range(blocks):
            layers += [OrthogonalMixing(channels), AdditiveCoupling(list(range(first)), channels, hidden),
                       AdditiveCoupling(list(range(first, channels)), channels, hidden)]
        self.layers = nn.ModuleList(layers)

    def _check(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"the flow maps (B, {self.channels}, H, W) images, got {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        for layer in self.layers:
            x = layer(x)
        return x

    def inverse(self, y: Tensor) -> Tensor:
        self._check(y)
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y

    def log_det(self, x: Tensor) -> Tensor:
        """``log |det dg/dx|`` per image: 0 by construction (volume-preserving)."""
        self._check(x)
        return x.new_zeros(x.shape[0])

    def views(self, x: Tensor) -> list[Tensor]:
        y = self(x)
        return [y[:, :self.first], y[:, self.first:]]
