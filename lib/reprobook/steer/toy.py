"""A linear toy generator on which the optimal linear walk of Eq. 1 is known in closed form.

``G(z) = A z`` reshaped to ``(B, C, H, W)``, with the ``C`` constant channel images ``e_c`` (1 in
channel ``c``, 0 elsewhere) inside the range of ``A``. The colour edit ``x + α_c e_c`` is then
realised exactly by ``z + α_c w*_c`` with ``A w*_c = e_c``: ``w*_c = A⁺ e_c`` (the least-squares
solution, unique because ``A`` has full column rank), and Eq. 1 reaches zero loss there. Used by the
tests of :mod:`reprobook.steer.walks` and by the chapter's first notebook.
"""
from __future__ import annotations

import torch
from torch import nn


class ToyLinearGenerator(nn.Module):
    """``G(z) = (A z).reshape(B, C, H, W)``, ``A = [E | R] M`` (``E`` the channel images, ``R`` random,
    ``M`` a random rotation), in float64 internally; ``nz > C``."""

    def __init__(self, nz: int = 8, channels: int = 3, height: int = 4, width: int = 4, seed: int = 0):
        super().__init__()
        if not (isinstance(nz, int) and isinstance(channels, int) and nz > channels >= 1):
            raise ValueError(f"need integers nz > channels >= 1, got nz={nz!r}, channels={channels!r}")
        if not (isinstance(height, int) and isinstance(width, int) and height >= 1 and width >= 1):
            raise ValueError(f"height and width must be positive integers, got {height!r}, {width!r}")
        self.nz, self.shape = nz, (channels, height, width)
        g = torch.Generator().manual_seed(seed)
        E = torch.zeros(channels, channels, height, width, dtype=torch.float64)
        for c in range(channels):
            E[c, c] = 1.0
        E = E.reshape(channels, -1).T                                     # (D, C): the images e_c
        R = torch.randn(E.shape[0], nz - channels, generator=g, dtype=torch.float64)
        M, _ = torch.linalg.qr(torch.randn(nz, nz, generator=g, dtype=torch.float64))
        self.register_buffer("A", torch.cat([E, R], dim=1) @ M)         # (D, nz), full column rank
        self.register_buffer("E", E)

    def forward(self, z: torch.Tensor) -> torch.Tensor:               # (B, nz) -> (B, C, H, W)
        return (z.to(self.A.dtype) @ self.A.T).reshape(-1, *self.shape).to(z.dtype)

    def optimal_colour_walk(self) -> torch.Tensor:
        """``w*`` of shape ``(C, nz)``, row ``c`` = ``A⁺ e_c`` (float64)."""
        return (torch.linalg.pinv(self.A) @ self.E).T


def colour_shift(x: torch.Tensor, alpha) -> tuple[torch.Tensor, torch.Tensor]:
    """The colour edit without range checks (for toy images of any value range): ``x + α_c`` per
    channel (``α`` a number, ``(B,)`` or ``(B, C)``), and an all-ones mask ``(B, 1, H, W)``."""
    a = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
    if a.ndim == 0:
        a = a.expand(x.shape[0])
    if a.ndim == 1:
        a = a[:, None].expand(x.shape[0], x.shape[1])
    return x + a[:, :, None, None], torch.ones(x.shape[0], 1, x.shape[2], x.shape[3], dtype=x.dtype, device=x.device)
