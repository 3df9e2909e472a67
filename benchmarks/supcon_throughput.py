"""End-to-end SupCon training throughput (views/second) of our GPU pipeline.

One step = draw a batch of B uint8 images already on the device, make two augmented views per
image with per-sample parameters (RandomResizedCrop + flip, ColorJitter p=0.8, grayscale p=0.2,
normalise), run encoder + projection head on the 2B views (bf16 autocast and channels_last on
CUDA), SupConLoss (tau 0.1), backward and an SGD step. Data loading and augmentation are
included. ``--record`` writes results/benchmarks/supcon-<model>-<device>.json.

    python benchmarks/supcon_throughput.py --model resnet18 --batch-size 1024 --steps 50 --compile --record
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from reprobook.data import CIFAR_MEAN, CIFAR_STD, TensorBatches, simclr_augment
from reprobook.losses import SupConLoss
from reprobook.models import ContrastiveModel, build_encoder
from reprobook.train import autocast_for, maybe_compile, resolve_device


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=None, help="images per step (views = 2x); default 1024 on CUDA, 32 on CPU")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 50 on CUDA, 3 on CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile encoder + head (falls back to eager)")
    p.add_argument("--record", action="store_true")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    B = args.batch_size or (1024 if cuda else 32)
    steps = args.steps or (50 if cuda else 3)
    warmup = 15 if cuda else 1
    torch.backends.cudnn.benchmark = cuda
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    try:
        from reprobook.data import load_cifar
        x, y = load_cifar("cifar10", "train", download=False).tensors(device)
        source = "CIFAR-10 train"
    except Exception as e:
        x = torch.randint(0, 256, (max(4 * B, 8192), 3, 32, 32), dtype=torch.uint8, device=device)
        y = torch.randint(0, 10, (len(x),), device=device)
        source = f"random uint8 ({e.__class__.__name__})"
    g = torch.Generator(device=device).manual_seed(0)
    batches = TensorBatches(x, y, B, generator=g)
    aug = simclr_augment(32, CIFAR_MEAN["cifar10"], CIFAR_STD["cifar10"], scale=(0.2, 1.0))
    torch.manual_seed(0)
    encoder = build_encoder(args.model)
    model = ContrastiveModel(encoder, 128, hidden_dim=encoder.feat_dim).to(device).to(memory_format=torch.channels_last)
    net = maybe_compile(model, args.compile)
    loss_fn = SupConLoss(0.1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4)
    it = iter(batches)

    def step():
        nonlocal it
        try:
            xb, yb, _ = next(it)
        except StopIteration:
            it = iter(batches)
            xb, yb, _ = next(it)
        views = torch.cat([aug(xb, g), aug(xb, g)])
        with autocast_for(device):
            z = net(views)
        z1, z2 = z.float().chunk(2)
        loss = loss_fn(torch.stack([z1, z2], 1), yb, check=False)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    views_per_s = 2 * B / dt
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    compiled = args.compile and cuda and not getattr(net, "_eager", True)
    print(f"device: {name}; model {args.model}; batch {B} images = {2 * B} views; compile: {compiled}; data: {source}")
    print(f"SupCon training, end to end: {views_per_s:,.0f} views/s; one CIFAR-10 epoch (100,000 views) "
          f"in {100_000 / views_per_s:.2f} s")
    if args.record:
        out = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / f"supcon-{args.model}-{device.type}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"device": name, "model": args.model, "batch_images": B, "steps": steps,
                                   "compile": compiled, "amp": "bf16" if cuda else "off", "data": source,
                                   "views_per_s": round(views_per_s, 1), "torch": torch.__version__,
                                   "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=1) + "\n")
        print(f"written {out}")


if __name__ == "__main__":
    main()
