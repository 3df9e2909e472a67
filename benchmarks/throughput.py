"""Throughput of the batched augmentation pipeline and of a ResNet-18 training step.

Prints images/second on the current (or given) device; with ``--record`` writes the figures to
``results/benchmarks/throughput-<device>.json``. Not a test: numbers depend on the machine.

    python benchmarks/throughput.py                      # CPU here, CUDA where available
    python benchmarks/throughput.py --device cuda --batch-size 512 --steps 50 --record
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from reprobook.data import CIFAR_MEAN, CIFAR_STD, simclr_augment, standard_augment
from reprobook.models import build_encoder
from reprobook.train import autocast_for, maybe_compile, resolve_device


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, steps: int, warmup: int) -> float:
    """Seconds per call of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / steps


def images(device, n: int) -> tuple[torch.Tensor, str]:
    try:
        from reprobook.data import load_cifar
        ds = load_cifar("cifar10", "test", download=False)
        x, _ = ds.tensors(device)
        return x[:n], "CIFAR-10 test images"
    except Exception as e:  # no data here: the pipeline's cost does not depend on the pixels
        return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, device=device), f"random uint8 ({e.__class__.__name__})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=None, help="default: 512 on CUDA, 64 on CPU")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: 50 on CUDA, 3 on CPU)")
    p.add_argument("--model", default="resnet18")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA only)")
    p.add_argument("--record", action="store_true", help="write results/benchmarks/throughput-<device>.json")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    B = args.batch_size or (512 if cuda else 64)
    steps = args.steps or (50 if cuda else 3)
    warmup = 10 if cuda else 1
    torch.backends.cudnn.benchmark = cuda
    x, source = images(device, max(B, 1024))
    x = x[:B]
    g = torch.Generator(device=device).manual_seed(0)
    mean, std = CIFAR_MEAN["cifar10"], CIFAR_STD["cifar10"]
    contrastive = simclr_augment(mean=mean, std=std)
    supervised = standard_augment(mean=mean, std=std)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"device: {name}; batch {B}; {steps} timed steps; data: {source}")

    figures = {}
    s = timed(lambda: contrastive(x, g), device, steps, warmup)
    figures["augment_simclr_views_per_s"] = B / s
    s = timed(lambda: supervised(x, g), device, steps, warmup)
    figures["augment_standard_images_per_s"] = B / s

    torch.manual_seed(0)
    encoder = build_encoder(args.model)
    model = torch.nn.Sequential(encoder, torch.nn.Linear(encoder.feat_dim, 10)).to(device)
    model = model.to(memory_format=torch.channels_last)
    run_model = maybe_compile(model, args.compile)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    y = torch.randint(0, 10, (B,), device=device)

    def step(with_aug: bool):
        inp = supervised(x, g) if with_aug else xf
        with autocast_for(device):
            loss = F.cross_entropy(run_model(inp).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    xf = supervised(x, g)
    s = timed(lambda: step(False), device, steps, warmup)
    figures[f"{args.model}_train_step_images_per_s"] = B / s
    s = timed(lambda: step(True), device, steps, warmup)
    figures[f"{args.model}_train_step_with_augment_images_per_s"] = B / s

    for k, v in figures.items():
        print(f"{k:48s} {v:12,.0f}")
    if args.record:
        out = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / f"throughput-{device.type}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        record = {"device": name, "batch_size": B, "steps": steps, "amp": "bf16" if cuda else "off",
                  "channels_last": True, "compile": bool(args.compile and cuda), "data": source,
                  "figures": {k: round(v, 1) for k, v in figures.items()}, "torch": torch.__version__,
                  "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"written {out}")


if __name__ == "__main__":
    main()
