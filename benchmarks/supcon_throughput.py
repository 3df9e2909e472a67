"""End-to-end SupCon training throughput (views/second) of our GPU pipeline.

One step = draw a batch of B uint8 images already on the device, make two augmented views per
image with per-sample parameters (RandomResizedCrop + flip, ColorJitter p=0.8, grayscale p=0.2,
normalise), run encoder + projection head on the 2B views (bf16 autocast and channels_last on
CUDA), SupConLoss (tau 0.1), backward and an SGD step. Data loading and augmentation are
included. ``--record`` writes results/benchmarks/supcon-<model>-<device>.json.

    python benchmarks/supcon_throughput.py --model resnet18 --batch-size 1024 --steps 50 --compile --record
"""
from __future__ import annotations

import torch

from bench_common import cifar10, device_name, parser, seconds_per_call, setup, write_record
from reprobook.data import CIFAR_MEAN, CIFAR_STD, TensorBatches, simclr_augment
from reprobook.losses import SupConLoss
from reprobook.models import ContrastiveModel, build_encoder
from reprobook.train import autocast_for, maybe_compile


def main(argv=None):
    args = parser(__doc__, "images per step (views = 2x); default 1024 on CUDA, 32 on CPU").parse_args(argv)
    device, B, steps, warmup = setup(args, cuda_batch=1024, cpu_batch=32)
    x, y, source = cifar10(device, "train", min_size=max(4 * B, 8192))
    g = torch.Generator(device=device).manual_seed(0)
    batches = TensorBatches(x, y, B, generator=g)
    aug = simclr_augment(32, CIFAR_MEAN["cifar10"], CIFAR_STD["cifar10"], scale=(0.2, 1.0))
    torch.manual_seed(0)
    encoder = build_encoder(args.model)
    model = ContrastiveModel(encoder, 128, hidden_dim=encoder.feat_dim).to(device).to(memory_format=torch.channels_last)
    net = maybe_compile(model, args.compile)
    loss_fn = SupConLoss(0.1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4)
    stream = iter(())

    def step():
        nonlocal stream
        batch = next(stream, None)
        if batch is None:
            stream = iter(batches)
            batch = next(stream)
        xb, yb, _ = batch
        with autocast_for(device):
            z = net(torch.cat([aug(xb, g), aug(xb, g)]))
        z1, z2 = z.float().chunk(2)
        loss = loss_fn(torch.stack([z1, z2], 1), yb, check=False)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    views_per_s = 2 * B / seconds_per_call(step, device, steps, warmup)
    compiled = bool(args.compile and device.type == "cuda" and not getattr(net, "_eager", True))
    print(f"device: {device_name(device)}; model {args.model}; batch {B} images = {2 * B} views; "
          f"compile: {compiled}; data: {source}")
    print(f"SupCon training, end to end: {views_per_s:,.0f} views/s; one CIFAR-10 epoch (100,000 views) "
          f"in {100_000 / views_per_s:.2f} s")
    if args.record:
        write_record(f"supcon-{args.model}-{device.type}.json", {
            "device": device_name(device), "model": args.model, "batch_images": B, "steps": steps,
            "compile": compiled, "amp": "bf16" if device.type == "cuda" else "off", "data": source,
            "views_per_s": round(views_per_s, 1)})


if __name__ == "__main__":
    main()
