"""Features of a frozen encoder over a whole dataset, in batches, without gradients."""
from __future__ import annotations

from typing import Callable

import torch

from ..train.loop import autocast_for


@torch.no_grad()
def extract_features(encoder: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                     transform: Callable | None = None, batch_size: int = 1024,
                     amp: bool | str = "auto") -> torch.Tensor:
    """``encoder(transform(images[k:k+b]))`` for all batches, as float32 ``(N, D)`` on the images' device."""
    was_training = getattr(encoder, "training", False)
    if hasattr(encoder, "eval"):
        encoder.eval()
    out = []
    try:
        for k in range(0, len(images), batch_size):
            x = images[k:k + batch_size]
            if transform is not None:
                x = transform(x)
            with autocast_for(images.device, amp):
                out.append(encoder(x).float())
    finally:
        if was_training:
            encoder.train()
    return torch.cat(out) if out else torch.zeros(0)
