"""Few-shot evaluation cost: features extracted once per split (ours) against per episode (rfs).

The official ``meta_test`` (WangYueFt/rfs ``eval/meta_eval.py``) runs the network on every
episode's images: ``n_aug`` augmented copies of each support image and every query, so E episodes
cost ``E * (n_aug * W * K + W * Q)`` forward passes. Ours (``reprobook.chapters.rfs.novel_features``
+ ``reprobook.eval.evaluate_episodes``) runs it once over the split's N images and ``n_aug``
augmented copies of each, ``(1 + n_aug) * N`` passes in large batches, then every episode,
classifier and protocol of a chapter indexes into those features. The logistic regressions
(scikit-learn, as the official code) cost the same either way and are timed separately.

Prints seconds for 5-way 1-shot and 5-shot evaluations over ``--episodes`` episodes, for one
protocol and for the chapter's eleven evaluations of one network (notebooks 2 and 3), with
random weights (the cost does not depend on them); ``--record`` writes
results/benchmarks/fewshot-eval-<model>-<device>.json.

    python benchmarks/fewshot_eval.py --model resnet12 --episodes 600 --record
"""
from __future__ import annotations

import time

import torch

from bench_common import device_name, parser, setup, write_record
from reprobook.chapters import rfs
from reprobook.data import eval_transform
from reprobook.eval import evaluate_episodes
from reprobook.train import make_generator

#: feature extractions one network gets in notebooks 2 and 3 (benchmark, the five ablation
#: rows, classifiers, features and logits, generations) if each re-ran the network
EVALUATIONS_PER_NETWORK = 11


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def per_episode_features(net, data, episodes, n_aug, aug, test_tf, g, device):
    """The official way: the network on each episode's augmented supports and queries."""
    for e in range(len(episodes)):
        sup = torch.as_tensor(episodes.support[e], device=device)
        qry = torch.as_tensor(episodes.query[e], device=device)
        x_s = data.test_x[sup].repeat(n_aug, 1, 1, 1)
        with torch.no_grad():
            net.embed(aug(x_s, g))
            net.embed(test_tf(data.test_x[qry]))


def main(argv=None):
    p = parser(__doc__, "unused")
    p.set_defaults(model="conv4")
    p.add_argument("--episodes", type=int, default=None, help="episodes (default 600 on CUDA, 100 on CPU)")
    p.add_argument("--eval-per-class", type=int, default=None,
                   help="images per novel class (default 600 on CUDA, 100 on CPU)")
    args = p.parse_args(argv)
    device, _, _, _ = setup(args, cuda_batch=0, cpu_batch=0)
    cuda = device.type == "cuda"
    episodes_n = args.episodes or (600 if cuda else 100)
    per_class = args.eval_per_class or (600 if cuda else 100)
    cfg = rfs.config("benchmark", "smoke", model=args.model, eval_per_class=per_class, n_episodes=episodes_n)
    data = rfs.load("cifar-fs", cfg, 0, device)
    torch.manual_seed(0)
    net = rfs.build(cfg, len(data.train_classes)).to(device).eval()
    aug, test_tf = rfs.augment(data), eval_transform(data.mean, data.std)
    g = make_generator(0, device)
    with torch.no_grad():                  # warm-up: kernels, allocator, the augmentation's first call
        for n in (64, 1024):
            net.embed(aug(data.test_x[:n], g))
    rows = {}
    for shot in cfg.shots:
        episodes = rfs.episodes(data, cfg, shot)
        _sync(device)
        t0 = time.perf_counter()
        per_episode_features(net, data, episodes, cfg.n_aug, aug, test_tf, g, device)
        _sync(device)
        t_official = time.perf_counter() - t0
        t0 = time.perf_counter()
        feats = rfs.novel_features(net, data, cfg.n_aug)
        _sync(device)
        t_once = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluate_episodes(feats.query, episodes=episodes, support_features=feats.support)
        t_lr = time.perf_counter() - t0
        rows[shot] = dict(per_episode_s=t_official, once_s=t_once, logistic_regression_s=t_lr)
        n_once = (1 + cfg.n_aug) * len(data.test_x)
        n_per = episodes_n * (cfg.n_aug * cfg.n_way * shot + cfg.n_way * cfg.n_query)
        print(f"5-way {shot}-shot, {episodes_n} episodes, {len(data.test_x)} novel images, {args.model}:")
        print(f"  features per episode (official): {t_official:8.2f} s ({n_per:,} forward passes)")
        print(f"  features once per split (ours):  {t_once:8.2f} s ({n_once:,} forward passes)")
        print(f"  logistic regressions (both):     {t_lr:8.2f} s")
        print(f"  the chapter's {EVALUATIONS_PER_NETWORK} evaluations of one network: "
              f"{EVALUATIONS_PER_NETWORK * t_official:.1f} s per episode against {t_once:.1f} s once "
              f"(speed-up {EVALUATIONS_PER_NETWORK * t_official / t_once:.1f}x on the features)")
    print(f"device: {device_name(device)}")
    if args.record:
        write_record(f"fewshot-eval-{args.model}-{device.type}.json", {
            "device": device_name(device), "model": args.model, "episodes": episodes_n,
            "images_per_novel_class": per_class, "n_aug": cfg.n_aug,
            "seconds": {f"{s}-shot": {k: round(v, 3) for k, v in r.items()} for s, r in rows.items()}})


if __name__ == "__main__":
    main()
