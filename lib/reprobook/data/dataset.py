"""An in-memory image classification dataset: uint8 images, integer labels, class names."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import torch


@dataclass(frozen=True)
class ImageDataset:
    """Images as a uint8 array ``(N, H, W, 3)`` with labels ``(N,)`` into ``classes``.

    ``coarse_labels`` (CIFAR-100 superclasses) is carried along through subsets. ``note``
    says where the data came from and whether it is a subset of the full split.
    """

    name: str
    split: str
    images: np.ndarray            # (N, H, W, 3) uint8
    labels: np.ndarray            # (N,) int64
    classes: tuple[str, ...]
    coarse_labels: np.ndarray | None = None   # (N,) int64
    coarse_classes: tuple[str, ...] | None = None
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {self.images.dtype} "
                             f"{self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must have shape ({len(self.images)},), got {self.labels.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name}/{self.split}: {len(self)} images, "
                f"{len(np.unique(self.labels))} of {len(self.classes)} classes"
                + (f"; {self.note}" if self.note else "") + ")")

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}

    def take(self, index: np.ndarray, note: str | None = None) -> "ImageDataset":
        """The samples at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        return replace(
            self, images=self.images[index], labels=self.labels[index],
            coarse_labels=None if self.coarse_labels is None else self.coarse_labels[index],
            note=note if note is not None else self.note)

    def subset(self, classes: Sequence[str | int] | None = None, per_class: int | None = None,
               seed: int = 0, relabel: bool = False) -> "ImageDataset":
        """A deterministic subset: only ``classes`` (names or indices), ``per_class`` samples each.

        The same ``seed`` always picks the same samples. With ``relabel`` the kept classes are
        renumbered 0..C-1 in the order given (useful for few-shot splits).
        """
        if classes is None:
            keep = list(range(len(self.classes)))
        else:
            keep = []
            for c in classes:
                if isinstance(c, str):
                    if c not in self.classes:
                        raise ValueError(f"unknown class {c!r} for {self.name}; valid: "
                                         f"{', '.join(self.classes)}")
                    keep.append(self.classes.index(c))
                else:
                    if not 0 <= int(c) < len(self.classes):
                        raise ValueError(f"class index {c} out of range 0..{len(self.classes) - 1}")
                    keep.append(int(c))
        rng = np.random.default_rng(seed)
        chosen = []
        for c in keep:
            idx = np.flatnonzero(self.labels == c)
            if per_class is not None:
                if per_class > len(idx):
                    raise ValueError(f"class {self.classes[c]!r} has only {len(idx)} samples in "
                                     f"{self.name}/{self.split} ({self.note or 'full split'}); "
                                     f"asked for {per_class}")
                idx = np.sort(rng.choice(idx, size=per_class, replace=False))
            chosen.append(idx)
        index = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
        note = f"subset: {len(index)} of {len(self)} images"
        out = self.take(index, note=(self.note + "; " if self.note else "") + note)
        if relabel:
            mapping = np.full(len(self.classes), -1, np.int64)
            mapping[keep] = np.arange(len(keep))
            out = replace(out, labels=mapping[out.labels],
                          classes=tuple(self.classes[c] for c in keep))
        return out

    def tensors(self, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``(images, labels)`` as tensors on ``device``: uint8 ``(N, 3, H, W)`` and int64 ``(N,)``.

        The images stay uint8 on the device (4x smaller than float); augmentations convert
        batches to float on the fly.
        """
        x = torch.from_numpy(np.ascontiguousarray(self.images)).to(device)
        return x.permute(0, 3, 1, 2).contiguous(), torch.from_numpy(self.labels).to(device)
