"""Learning-rate schedules as ``LambdaLR`` multipliers (step-wise, so resumable)."""
from __future__ import annotations

import math

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                  final_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``final_ratio`` x base lr."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be positive, got {total_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def multistep(optimizer: torch.optim.Optimizer, milestones_steps, gamma: float = 0.1):
    """Multiply the lr by ``gamma`` at each milestone (in steps): the papers' step schedules."""
    milestones = sorted(milestones_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: gamma ** sum(step >= m for m in milestones))
