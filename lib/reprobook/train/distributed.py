"""Distributed helpers: a gradient-preserving all-gather for contrastive losses under DDP.

``torch.distributed.all_gather`` returns tensors detached from the graph, so a contrastive loss
that contrasts each rank's anchors with every rank's features would get no gradient through the
other ranks' features. :func:`all_gather_with_grad` keeps the graph: its backward sums the
gradient every rank computed for each slice (an all-reduce) and hands each rank its own slice.
With each rank computing the loss of its own anchors against the gathered batch, the DDP average
of the ranks' parameter gradients equals the gradient of the loss on the concatenated batch
(tests/train/test_distributed.py checks this with 2 gloo processes).
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _AllGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size()
        out = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(out, x.contiguous())
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)                      # sum of every rank's gradient for every slice
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` ``(n, ...)`` from every rank along dim 0 (rank order), keeping gradients.

    Every rank must pass the same ``n`` (checked). A no-op without an initialised process group.
    """
    if not is_distributed():
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, n)
    if len({int(s) for s in sizes}) != 1:
        raise ValueError(f"all_gather_with_grad needs equal batch sizes on every rank, got "
                         f"{[int(s) for s in sizes]}; use drop_last=True")
    return _AllGather.apply(x)


@torch.no_grad()
def all_gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank (labels, indices): no gradient."""
    if not is_distributed():
        return x
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)
