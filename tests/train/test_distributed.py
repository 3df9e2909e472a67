"""SupConLoss under torchrun with 2 gloo processes equals one process on the concatenated batch:
same loss (mean over ranks) and the same gradient (each rank's feature gradient, which the
all-reduce in the gather's backward sums over ranks, equals world x the single-process one; DDP
then averages parameter gradients over ranks)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from reprobook.losses import SupConLoss

WORKER = Path(__file__).with_name("ddp_supcon_worker.py")


@pytest.mark.distributed
@pytest.mark.parametrize("form,mode,labelled", [("out", "all", True), ("in", "all", True),
                                                ("out", "one", True), ("out", "all", False)])
def test_two_process_supcon_equals_one_process(tmp_path, form, mode, labelled):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(WORKER), str(tmp_path / "out"), form, mode, "1" if labelled else "0"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    results = [torch.load(tmp_path / f"out-{r}.pt") for r in range(2)]

    g = torch.Generator().manual_seed(0)
    full = F.normalize(torch.randn(8, 2, 5, generator=g, dtype=torch.float64), dim=-1).requires_grad_()
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3])
    loss = SupConLoss(0.2, form=form, contrast_mode=mode, gather=False)(full, labels if labelled else None)
    loss.backward()
    for r in results:
        assert r["loss_mean"].item() == pytest.approx(loss.item(), rel=1e-12)
        torch.testing.assert_close(r["grad"] / r["world"], full.grad[r["rank"] * 4:(r["rank"] + 1) * 4],
                                   rtol=1e-10, atol=1e-12)
