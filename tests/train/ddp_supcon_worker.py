"""Run by tests/train/test_distributed.py under torchrun (gloo, 2 processes): each rank holds
half of a fixed batch, computes SupConLoss with the gradient-preserving all-gather, and saves
its loss and its features' gradient for the test to compare with one process."""
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F

from reprobook.losses import SupConLoss


def main(out_prefix: str, form: str, mode: str, labelled: bool):
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    g = torch.Generator().manual_seed(0)
    full = F.normalize(torch.randn(8, 2, 5, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3])
    n = len(full) // world
    local = full[rank * n:(rank + 1) * n].clone().requires_grad_()
    loss = SupConLoss(0.2, form=form, contrast_mode=mode)(local, labels[rank * n:(rank + 1) * n] if labelled else None)
    loss.backward()
    total = loss.detach().clone()
    dist.all_reduce(total)
    torch.save({"loss_mean": total / world, "grad": local.grad, "rank": rank, "world": world},
               f"{out_prefix}-{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1")
