"""What the benchmark scripts share: arguments, device set-up, data, timing and records."""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from reprobook.train import resolve_device

RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def parser(doc: str, batch_help: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=None, help=batch_help)
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 50 on CUDA, 3 on CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA only; falls back to eager)")
    p.add_argument("--record", action="store_true", help="write the figures under results/benchmarks/")
    return p


def setup(args, cuda_batch: int, cpu_batch: int):
    """``(device, batch, steps, warmup)``; cuDNN autotuning and TF32 on CUDA."""
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    batch = args.batch_size or (cuda_batch if cuda else cpu_batch)
    return device, batch, args.steps or (50 if cuda else 3), 15 if cuda else 1


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def cifar10(device, split: str = "train", min_size: int = 8192):
    """CIFAR-10 as uint8 tensors on ``device``, or random images of the same shape when the data
    is missing (the throughput does not depend on the pixels); returns ``(x, y, source)``."""
    try:
        from reprobook.data import load_cifar
        x, y = load_cifar("cifar10", split, download=False).tensors(device)
        return x, y, f"CIFAR-10 {split}"
    except Exception as e:
        x = torch.randint(0, 256, (min_size, 3, 32, 32), dtype=torch.uint8, device=device)
        return x, torch.randint(0, 10, (min_size,), device=device), f"random uint8 ({type(e).__name__})"


def seconds_per_call(fn, device, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def write_record(filename: str, record: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / filename
    record = {**record, "torch": torch.__version__, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"written {out}")
    return out
