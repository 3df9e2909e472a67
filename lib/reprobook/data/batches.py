"""Mini-batches drawn from tensors that already live on the training device."""
from __future__ import annotations

import math

import torch


class TensorBatches:
    """Iterate over ``(images, labels, index)`` mini-batches of device-resident tensors.

    The permutation is drawn from ``generator`` each epoch (on the generator's device), so
    the data order is reproducible and part of a checkpoint's state. No worker processes, no
    host-to-device copies: indexing a uint8 tensor on the GPU is the whole loader.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool = True, drop_last: bool = True,
                 generator: torch.Generator | None = None):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if drop_last and batch_size > len(images):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(images)} samples with "
                             f"drop_last=True: no batch would be produced")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.images) / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

    def __iter__(self):
        n = len(self.images)
        if self.shuffle:
            device = self.generator.device if self.generator is not None else "cpu"
            order = torch.randperm(n, generator=self.generator, device=device).to(self.images.device)
        else:
            order = torch.arange(n, device=self.images.device)
        for k in range(len(self)):
            idx = order[k * self.batch_size:(k + 1) * self.batch_size]
            yield self.images[idx], self.labels[idx], idx
