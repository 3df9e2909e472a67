r"""CRD's class-aware contrast indices, batched and on the device (Tian et al., ICLR 2020).

The official ``CIFAR100InstanceSample`` of HobbitLong/RepDistiller draws, in each data-loader
worker and per sample, the ``1 + K`` memory-bank rows that :class:`~reprobook.losses.crd.CRDLoss`
scores: the positive first, then ``K`` negatives taken from the samples of the **other** classes
(never the anchor's own class, so a same-class sample is never pushed away):

* ``mode="exact"``: the positive is the sample itself (its own row in the banks);
* ``mode="relax"``: the positive is a random sample of the anchor's class (possibly itself).

Negatives are uniform over the other-class samples. The official code calls
``np.random.choice(cls_negative[y], K, replace=K > len(cls_negative[y]))``: **without**
replacement whenever there are enough other-class samples (CIFAR-100: 49,500 for K = 16,384),
with replacement otherwise. ``replace=None`` (default) reproduces that rule row by row;
``replace=True`` always draws with replacement (cheaper: ``O(B K)`` instead of ``O(B N)``;
at K / M = 1/3 a row then repeats about 15 % of its negatives).

Here the whole batch is drawn at once from the label tensor of the training set, on its
device, from a ``torch.Generator``: no per-sample NumPy in the loader.
"""
from __future__ import annotations

import numbers

import torch

from ..losses._checks import as_integers

MODES = ("exact", "relax")


def _check_int_tensor(x, name: str, device=None) -> torch.Tensor:
    x = as_integers(x, name, "an integer tensor of indices")
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {tuple(x.shape)}")
    return x.long() if device is None else x.to(device=device, dtype=torch.long)


def contrast_indices(labels_all: torch.Tensor, index: torch.Tensor, K: int, mode: str = "exact",
                     generator: torch.Generator | None = None, replace: bool | None = None) -> torch.Tensor:
    """``(B, 1 + K)`` bank rows for the anchors ``index`` ``(B,)`` of a training set labelled
    ``labels_all`` ``(N,)``: column 0 the positive, columns ``1..K`` negatives of other classes.

    ``generator`` (on the labels' device) makes the draw reproducible; ``replace`` as in the
    module docstring (``None``: official, without replacement when ``K`` <= #other-class samples).
    """
    labels_all = _check_int_tensor(labels_all, "labels_all")
    device = labels_all.device
    index = _check_int_tensor(index, "index", device)
    N = labels_all.numel()
    if N == 0:
        raise ValueError("labels_all is empty: no training set to sample from")
    if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 1:
        raise ValueError(f"K (the number of negatives) must be an int >= 1, got {K!r}")
    K = int(K)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if replace is not None and not isinstance(replace, bool):
        raise TypeError(f"replace must be None, True or False, got {replace!r}")
    if int(labels_all.min()) < 0:
        raise ValueError(f"labels_all must be non-negative class indices, got min {int(labels_all.min())}")
    B = index.numel()
    if B and (int(index.min()) < 0 or int(index.max()) >= N):
        raise ValueError(f"index must lie in [0, {N}), got [{int(index.min())}, {int(index.max())}]")

    order = torch.argsort(labels_all, stable=True)              # (N,) sample ids grouped by class
    counts = torch.bincount(labels_all)                         # (C,) samples per class
    starts = torch.cumsum(counts, 0) - counts                   # (C,) first position of each class in order
    y = labels_all[index]                                       # (B,) anchor classes
    n_pos, start = counts[y], starts[y]                         # (B,)
    n_neg = N - n_pos                                           # (B,) other-class samples per anchor
    if B and int(n_neg.min()) < 1:
        c = int(y[n_neg.argmin()])
        raise ValueError(f"class {c} has no samples of another class to draw negatives from "
                         f"(every one of the {N} labels is {c})")

    if mode == "exact":
        positive = index
    else:                                                       # a uniform same-class sample (maybe itself)
        u = torch.rand(B, generator=generator, device=device, dtype=torch.float64)
        r = torch.minimum((u * n_pos).long(), n_pos - 1)
        positive = order[start + r]

    with_replacement = (torch.full_like(n_neg, True, dtype=torch.bool) if replace
                        else (n_neg < K) if replace is None
                        else torch.zeros_like(n_neg, dtype=torch.bool))
    if replace is False and B and bool((n_neg < K).any()):
        raise ValueError(f"replace=False needs K <= the number of other-class samples, got K = {K} "
                         f"and only {int(n_neg.min())} for some anchor")
    negatives = torch.empty(B, K, dtype=torch.long, device=device)
    rows = with_replacement.nonzero().flatten()
    if len(rows):   # position r in the other classes' part of `order`, skipping the anchor's block
        u = torch.rand(len(rows), K, generator=generator, device=device, dtype=torch.float64)
        r = torch.minimum((u * n_neg[rows, None]).long(), n_neg[rows, None] - 1)         # (R, K)
        r = r + n_pos[rows, None] * (r >= start[rows, None])
        negatives[rows] = order[r]
    rows = (~with_replacement).nonzero().flatten()
    if len(rows):   # a uniform K-subset: the K largest of N iid keys, same-class keys pushed below 0
        keys = torch.rand(len(rows), N, generator=generator, device=device)
        keys = keys.masked_fill(labels_all[None, :] == y[rows, None], -1.0)              # (R, N)
        negatives[rows] = keys.topk(K, dim=1).indices
    return torch.cat([positive[:, None], negatives], dim=1)     # (B, 1 + K)
