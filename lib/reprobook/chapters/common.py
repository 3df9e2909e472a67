"""Data set-up shared by the CIFAR chapters."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import CIFAR_MEAN, CIFAR_STD, ImageDataset, eval_transform, load_cifar
from ..eval import ProbeResult, extract_features, linear_probe
from ..train.seed import make_generator, resolve_device


@dataclass
class CifarData:
    """Train and test splits as device-resident uint8 tensors, plus what describes them."""

    train: ImageDataset
    test: ImageDataset
    train_x: torch.Tensor      # (N, 3, 32, 32) uint8
    train_y: torch.Tensor      # (N,) int64
    test_x: torch.Tensor
    test_y: torch.Tensor
    device: torch.device

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    @property
    def mean(self):
        return CIFAR_MEAN[self.train.name]

    @property
    def std(self):
        return CIFAR_STD[self.train.name]

    def describe(self) -> str:
        return (f"{self.train.name}: {len(self.train)} train / {len(self.test)} test images, "
                f"{len(self.classes)} classes, on {self.device}")


def cifar_data(name: str = "cifar10", train_per_class: int | None = None, test_per_class: int | None = None,
               seed: int = 0, device: str | torch.device = "auto", classes=None) -> CifarData:
    """Load CIFAR (whole splits when ``*_per_class`` is None) onto ``device`` as uint8 tensors;
    ``classes`` (names or indices) keeps only those, relabelled 0..C-1 in the order given."""
    device = resolve_device(device)
    train, test = load_cifar(name, "train"), load_cifar(name, "test")
    for split, per_class in ((train, train_per_class), (test, test_per_class)):
        if per_class is None and split.note and "partial" in split.note:
            raise ValueError(f"{name} {split.split}: a run on the whole split needs every shard, but {split.note}")
    relabel = classes is not None
    if train_per_class is not None or relabel:
        train = train.subset(classes, per_class=train_per_class, seed=seed, relabel=relabel)
    if test_per_class is not None or relabel:
        test = test.subset(classes, per_class=test_per_class, seed=seed, relabel=relabel)
    (tx, ty), (vx, vy) = train.tensors(device), test.tensors(device)
    return CifarData(train, test, tx, ty, vx, vy, device)


def schedule(cfg, epochs: int | None = None) -> dict:
    """The optimisation settings of a chapter configuration as the ``fit_*`` recipes take them
    (everything but the lr and the generator): ``cfg.epochs`` unless ``epochs`` is given."""
    return dict(epochs=cfg.epochs if epochs is None else epochs, batch_size=cfg.batch_size,
                weight_decay=cfg.weight_decay, warmup_epochs=cfg.warmup_epochs, lr_milestones=cfg.lr_milestones,
                lr_decay=cfg.lr_decay)


def probe_frozen(net: torch.nn.Module, data: CifarData, epochs: int, seed: int = 0) -> ProbeResult:
    """Fit a linear probe on ``net``'s frozen features of the un-augmented training images and
    score it on the test images (its classifier acts on raw ``net`` features)."""
    tf = eval_transform(data.mean, data.std)
    f_train = extract_features(net, data.train_x, tf)
    f_test = extract_features(net, data.test_x, tf)
    return linear_probe(f_train, data.train_y, f_test, data.test_y, epochs=epochs,
                        generator=make_generator(seed, data.device))
