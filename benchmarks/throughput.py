"""Throughput of the batched augmentation pipeline and of a ResNet-18 training step.

Prints images/second on the current (or given) device; with ``--record`` writes the figures to
``results/benchmarks/throughput-<device>.json``. Not a test: numbers depend on the machine.

    python benchmarks/throughput.py                      # CPU here, CUDA where available
    python benchmarks/throughput.py --device cuda --batch-size 512 --steps 50 --record
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bench_common import cifar10, device_name, parser, seconds_per_call, setup, write_record
from reprobook.data import CIFAR_MEAN, CIFAR_STD, simclr_augment, standard_augment
from reprobook.models import build_encoder
from reprobook.train import autocast_for, maybe_compile


def main(argv=None):
    args = parser(__doc__, "images per step (default 512 on CUDA, 64 on CPU)").parse_args(argv)
    device, B, steps, warmup = setup(args, cuda_batch=512, cpu_batch=64)
    x, _, source = cifar10(device, "test")
    x = x[:B]
    g = torch.Generator(device=device).manual_seed(0)
    mean, std = CIFAR_MEAN["cifar10"], CIFAR_STD["cifar10"]
    contrastive, supervised = simclr_augment(mean=mean, std=std), standard_augment(mean=mean, std=std)
    print(f"device: {device_name(device)}; batch {B}; {steps} timed steps; data: {source}")

    figures = {"augment_simclr_views_per_s": B / seconds_per_call(lambda: contrastive(x, g), device, steps, warmup),
               "augment_standard_images_per_s": B / seconds_per_call(lambda: supervised(x, g), device, steps, warmup)}

    torch.manual_seed(0)
    encoder = build_encoder(args.model)
    model = torch.nn.Sequential(encoder, torch.nn.Linear(encoder.feat_dim, 10)).to(device)
    model = model.to(memory_format=torch.channels_last)
    net = maybe_compile(model, args.compile)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    y = torch.randint(0, 10, (B,), device=device)
    fixed = supervised(x, g)

    def step(with_aug: bool):
        with autocast_for(device):
            loss = F.cross_entropy(net(supervised(x, g) if with_aug else fixed).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    figures[f"{args.model}_train_step_images_per_s"] = B / seconds_per_call(lambda: step(False), device, steps, warmup)
    figures[f"{args.model}_train_step_with_augment_images_per_s"] = B / seconds_per_call(
        lambda: step(True), device, steps, warmup)
    for k, v in figures.items():
        print(f"{k:48s} {v:12,.0f}")
    if args.record:
        write_record(f"throughput-{device.type}.json", {
            "device": device_name(device), "batch_size": B, "steps": steps,
            "amp": "bf16" if device.type == "cuda" else "off", "channels_last": True,
            "compile": bool(args.compile and device.type == "cuda"), "data": source,
            "figures": {k: round(v, 1) for k, v in figures.items()}})


if __name__ == "__main__":
    main()
