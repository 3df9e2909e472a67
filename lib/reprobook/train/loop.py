"""The one training loop every chapter uses.

``train`` runs epochs of ``loss_fn`` over mini-batches with a tqdm progress bar, bf16 autocast
on CUDA, channels_last (on CPU too, where oneDNN's convolutions are about 1.8x faster), NaN/inf detection with a clear message, and checkpoint/resume: with
``checkpoint=path`` the full state (model, optimiser, schedule, generators, history) is saved
atomically after each epoch, and a later call with the same path continues from there and ends
with exactly the result of an uninterrupted run.
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message says where and what to try."""


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)   # one dict of epoch-mean metrics per epoch
    steps: int = 0
    resumed_from_epoch: int | None = None
    wall_s: float = 0.0

    def final(self, key: str = "loss") -> float:
        return self.history[-1][key]


def autocast_for(device: torch.device, amp: bool | str = "auto"):
    """bf16 autocast on CUDA (``amp="auto"`` or True), nothing on CPU unless ``amp=True``."""
    if amp == "auto":
        amp = device.type == "cuda"
    if not amp:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _split(out) -> tuple[torch.Tensor, dict]:
    if isinstance(out, tuple):
        loss, metrics = out
        return loss, dict(metrics)
    return out, {}


def train(model: torch.nn.Module, loss_fn: Callable, batches: Iterable, *, epochs: int,
          optimizer: torch.optim.Optimizer, scheduler=None,
          generators: Iterable[torch.Generator] = (), checkpoint: str | Path | None = None,
          amp: bool | str = "auto", channels_last: bool = True, grad_clip: float | None = None,
          check_every: int = 10, progress: bool = True, desc: str = "train") -> TrainResult:
    """Train ``model`` for ``epochs`` epochs; return per-epoch mean metrics.

    ``loss_fn(batch)`` returns the loss, or ``(loss, {name: value})`` for extra metrics; it
    closes over the model and draws augmentations from one of ``generators``. Every generator
    (and ``batches.generator`` if there is one) is checkpointed, so a resumed run draws the
    same batches and views as an uninterrupted one. The scheduler is stepped once per step.
    """
    device = next(model.parameters()).device
    if channels_last:   # faster convolutions on CUDA and (via oneDNN) on CPU alike
        model.to(memory_format=torch.channels_last)
    gens = list(generators)
    if getattr(batches, "generator", None) is not None and all(batches.generator is not g for g in gens):
        gens.append(batches.generator)

    result = TrainResult()
    start_epoch = 0
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, map_location=device)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
            if len(state["generators"]) != len(gens):
                raise ValueError(f"checkpoint {checkpoint} holds {len(state['generators'])} generator states "
                                 f"but this run passes {len(gens)}: resume with the same generators")
            for g, s in zip(gens, state["generators"]):
                g.set_state(s.to("cpu"))
            result.history, result.steps = state["history"], state["steps"]
            start_epoch = result.resumed_from_epoch = state["epoch"]
    t0 = time.perf_counter()
    steps_per_epoch = len(batches) if hasattr(batches, "__len__") else None
    total = None if steps_per_epoch is None else steps_per_epoch * (epochs - start_epoch)
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False, mininterval=2.0)
    model.train()
    for epoch in range(start_epoch, epochs):
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}       # a metric reported by some steps only is averaged over those
        for step, batch in enumerate(batches):
            with autocast_for(device, amp):
                loss, metrics = _split(loss_fn(batch))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            metrics["loss"] = loss
            for k, v in metrics.items():
                v = v.detach().float() if torch.is_tensor(v) else torch.tensor(float(v))
                sums[k] = sums.get(k, 0) + v
                counts[k] = counts.get(k, 0) + 1
            result.steps += 1
            bar.update(1)
            if step % check_every == 0:
                value = loss.item()
                if not math.isfinite(value):
                    raise NonFiniteLossError(
                        f"{desc}: the loss is {value} at epoch {epoch + 1}, step {step + 1} "
                        f"(lr {optimizer.param_groups[0]['lr']:.3g}). Try a lower learning rate or "
                        f"temperature, gradient clipping, or check the inputs for NaN.")
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4f}")
        row = {k: float(v) / counts[k] for k, v in sums.items()}
        if not math.isfinite(row.get("loss", 0.0)):
            raise NonFiniteLossError(f"{desc}: the mean loss of epoch {epoch + 1} is {row['loss']}; "
                                     f"try a lower learning rate or check the inputs for NaN.")
        row.update(epoch=epoch + 1, lr=optimizer.param_groups[0]["lr"])
        result.history.append(row)
        if checkpoint is not None:
            save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "generators": [g.get_state() for g in gens], "history": result.history,
                "steps": result.steps, "epoch": epoch + 1})
    bar.close()
    result.wall_s = time.perf_counter() - t0
    return result
