"""Linear evaluation: a logistic-regression classifier on frozen features."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ProbeResult:
    train_acc: float     # percent
    test_acc: float      # percent
    classifier: torch.nn.Linear   # acts on raw (unstandardised) features


def _check(feats: torch.Tensor, labels: torch.Tensor, what: str) -> None:
    if feats.ndim != 2:
        raise ValueError(f"{what} features must be (N, D), got shape {tuple(feats.shape)}")
    if labels.shape != (feats.shape[0],):
        raise ValueError(f"{what} labels must be ({feats.shape[0]},), got {tuple(labels.shape)}")
    if not torch.isfinite(feats).all():
        raise ValueError(f"{what} features contain NaN or inf")


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                 test_labels: torch.Tensor, *, num_classes: int | None = None, epochs: int = 100,
                 batch_size: int = 256, lr: float = 1e-2, weight_decay: float = 0.0,
                 standardize: bool = True, generator: torch.Generator | None = None) -> ProbeResult:
    """Train a linear classifier (Adam, cosine lr) on frozen ``train_feats``; report top-1 %.

    Features are standardised with the training mean and std when ``standardize`` (the
    classifier is then still linear in the raw features), which lets Adam use lr 1e-2 (the
    official align_uniform evaluation uses 1e-3 on raw features for 100 epochs of 5,000
    images); the number of epochs is set per scale.
    """
    _check(train_feats, train_labels, "train")
    _check(test_feats, test_labels, "test")
    train_feats, test_feats = train_feats.float(), test_feats.float()
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    if standardize:
        mean, std = train_feats.mean(0), train_feats.std(0).clamp_min(1e-6)
        train_feats, test_feats = (train_feats - mean) / std, (test_feats - mean) / std
    device = train_feats.device
    with torch.random.fork_rng(devices=[]):
        if generator is not None:
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        clf = torch.nn.Linear(train_feats.shape[1], num_classes).to(device)
    opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(train_feats)
    steps = epochs * max(1, -(-n // batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gdev = generator.device if generator is not None else "cpu"
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator, device=gdev).to(device)
            for k in range(0, n, batch_size):
                idx = order[k:k + batch_size]
                loss = F.cross_entropy(clf(train_feats[idx]), train_labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    with torch.no_grad():
        train_acc, test_acc = accuracy(clf(train_feats), train_labels), accuracy(clf(test_feats), test_labels)
        if standardize:   # fold the standardisation into the layer: W (x - m) / s + b = (W / s) x + b'
            clf.bias -= clf.weight @ (mean / std)
            clf.weight /= std
    return ProbeResult(train_acc, test_acc, clf)
