"""Helpers shared by the zoo's families: running a stage that ends in a pre-activation tap, and the
official ``forward(x, is_feat, preact)`` return convention of HobbitLong/RepDistiller models/*.py."""
from __future__ import annotations

import torch
from torch import nn


def run_stage(stage: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``stage`` and return ``(output, preact)``: the stage's last block must have a
    ``forward_preact`` method (the official code's ``is_last=True`` blocks return the same pair)."""
    for block in stage[:-1]:
        x = block(x)
    return stage[-1].forward_preact(x)


def feature_output(logits: torch.Tensor, feats: list, preact_feats: list, is_feat: bool, preact: bool):
    """``logits`` alone, or ``(feats, logits)`` with the pre-activation list when ``preact``."""
    if not is_feat:
        return logits
    return (preact_feats if preact else feats), logits
