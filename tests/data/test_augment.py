"""Batched augmentations against the torchvision transforms they replace.

Parameter distributions are compared with two-sample Kolmogorov-Smirnov statistics on 20,000
draws (threshold at significance 0.001, deterministic seeds); the pixel operations are compared
with torchvision's functional ops for the same parameters.
"""
import itertools
import math

import numpy as np
import pytest
import torch
from torchvision import transforms as T
from torchvision.transforms.v2 import functional as TF

from reprobook.data import augment as A

N = 20000


def ks_statistic(a, b) -> float:
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def ks_threshold(n, m, alpha=0.001) -> float:
    return math.sqrt(-0.5 * math.log(alpha / 2)) * math.sqrt((n + m) / (n * m))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("scale,ratio,size", [((0.08, 1.0), (3 / 4, 4 / 3), (32, 32)),
                                              ((0.2, 1.0), (3 / 4, 4 / 3), (32, 32)),
                                              ((0.5, 1.0), (0.5, 2.0), (24, 40))])
def test_random_resized_crop_params_match_torchvision(scale, ratio, size):
    H, W = size
    ours = A.RandomResizedCrop(32, scale, ratio).sample_params(N, H, W, gen()).numpy()
    torch.manual_seed(1)
    img = torch.zeros(3, H, W)
    ref = np.array([T.RandomResizedCrop.get_params(img, list(scale), list(ratio)) for _ in range(N)])
    for k, name in enumerate("ijhw"):
        d = ks_statistic(ours[:, k], ref[:, k])
        assert d < ks_threshold(N, N), f"{name}: KS {d:.4f}"
    assert (ours[:, 0] + ours[:, 2] <= H).all() and (ours[:, 1] + ours[:, 3] <= W).all()
    assert (ours >= 0).all() and (ours[:, 2:] > 0).all()


def test_resized_crop_equals_torchvision_for_the_same_box():
    x = torch.rand(3, 3, 32, 32, generator=gen())
    boxes = torch.tensor([[3, 5, 20, 24], [0, 0, 32, 32], [10, 2, 7, 30]])
    flip = torch.tensor([True, False, True])
    ours = A.resized_crop(x, boxes, 32, flip)
    for b in range(3):
        i, j, h, w = boxes[b].tolist()
        ref = TF.resized_crop(x[b], i, j, h, w, [32, 32], antialias=False)
        ref = TF.horizontal_flip(ref) if flip[b] else ref
        torch.testing.assert_close(ours[b], ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("op,ref,lo,hi", [
    (A.adjust_brightness, TF.adjust_brightness, 0.6, 1.4),
    (A.adjust_contrast, TF.adjust_contrast, 0.6, 1.4),
    (A.adjust_saturation, TF.adjust_saturation, 0.6, 1.4),
    (A.adjust_hue, TF.adjust_hue, -0.5, 0.5),
])
def test_colour_ops_equal_torchvision(op, ref, lo, hi):
    g = gen(2)
    x = torch.rand(16, 3, 8, 8, generator=g)
    x[0] = 0.5                                                    # a grey image (hue undefined)
    f = lo + (hi - lo) * torch.rand(16, generator=g)
    ours = op(x, f)
    expected = torch.stack([ref(x[b], f[b].item()) for b in range(16)])
    torch.testing.assert_close(ours, expected, atol=2e-5, rtol=0)


def test_rgb_to_grayscale_matches_torchvision():
    x = torch.rand(4, 3, 5, 5, generator=gen())
    torch.testing.assert_close(A.rgb_to_grayscale(x), TF.rgb_to_grayscale(x), atol=1e-6, rtol=0)


def test_color_jitter_factor_distributions_and_order():
    cj = A.ColorJitter(0.4, 0.3, 0.2, 0.1, p=0.8)
    factors, order, apply = cj.sample_params(N, gen())
    torch.manual_seed(3)
    ref = [T.ColorJitter.get_params([0.6, 1.4], [0.7, 1.3], [0.8, 1.2], [-0.1, 0.1]) for _ in range(N)]
    ref_f = np.array([[r[1], r[2], r[3], r[4]] for r in ref])
    for k in range(4):
        d = ks_statistic(factors[:, k].numpy(), ref_f[:, k])
        assert d < ks_threshold(N, N), f"factor {k}: KS {d:.4f}"
    # the order is a uniform random permutation: each of the 24 appears about N/24 times
    counts = {p: 0 for p in itertools.permutations(range(4))}
    for row in order.tolist():
        counts[tuple(row)] += 1
    chi2 = sum((c - N / 24) ** 2 / (N / 24) for c in counts.values())
    assert chi2 < 49.7, chi2                                      # chi-square(23) at 0.001
    assert abs(apply.float().mean().item() - 0.8) < 0.015


def test_color_jitter_applies_the_drawn_factors_in_the_drawn_order():
    cj = A.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.7)
    x = torch.rand(64, 3, 6, 6, generator=gen(5))
    out = cj(x, gen(9))
    factors, order, apply = cj.sample_params(64, gen(9))
    refs = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    for b in range(64):
        y = x[b]
        if apply[b]:
            for k in order[b].tolist():
                y = refs[k](y, factors[b, k].item())
        torch.testing.assert_close(out[b], y, atol=3e-5, rtol=0)


def test_indexed_and_masked_jitter_paths_agree():
    cj = A.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8)
    x = torch.rand(32, 3, 6, 6, generator=gen(1))
    params = cj.sample_params(32, gen(4))
    torch.testing.assert_close(cj.apply_indexed(x, *params), cj.apply_masked(x, *params), atol=1e-6, rtol=0)


def test_grayscale_and_flip_rates():
    x = torch.rand(N, 3, 2, 2, generator=gen())
    gray = A.RandomGrayscale(0.2)(x, gen(1))
    is_gray = (gray[:, 0] == gray[:, 1]).all(-1).all(-1) & (gray[:, 1] == gray[:, 2]).all(-1).all(-1)
    assert abs(is_gray.float().mean().item() - 0.2) < 0.01
    flipped = A.RandomHorizontalFlip(0.5)(x, gen(2))
    rate = (flipped != x).flatten(1).any(1).float().mean().item()
    assert abs(rate - 0.5) < 0.015


def test_random_crop_offsets_are_uniform_and_content_is_a_window():
    x = torch.arange(32 * 32, dtype=torch.float32).view(1, 1, 32, 32).expand(N, 3, 32, 32)
    out = A.RandomCrop(32, padding=4)(x, gen())
    padded = torch.nn.functional.pad(x[:1], (4, 4, 4, 4))[0, 0]
    # recover each offset from the first non-padding pixel and check the window matches
    offsets = []
    for b in range(200):
        found = [(i, j) for i in range(9) for j in range(9) if torch.equal(out[b, 0], padded[i:i + 32, j:j + 32])]
        assert len(found) == 1
        offsets.append(found[0])
    offsets = np.array(offsets)
    assert set(offsets[:, 0]) == set(range(9)) and set(offsets[:, 1]) == set(range(9))


def test_same_generator_same_views_and_shapes():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=gen())
    aug = A.simclr_augment(size=24)
    a, b = aug(x, gen(7)), aug(x, gen(7))
    assert a.shape == (8, 3, 24, 24) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert a.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(a, aug(x, gen(8)))


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        A.RandomGrayscale()(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="hue"):
        A.ColorJitter(hue=0.7)


def test_fewshot_augment_is_rfs_transform_d():
    """RandomCrop(32, 4), ColorJitter(0.4, 0.4, 0.4) without hue, flip, normalisation; reproducible by seed."""
    from reprobook.data import fewshot_augment
    from reprobook.data.augment import ColorJitter, RandomCrop, RandomHorizontalFlip

    aug = fewshot_augment(mean=(0.5071, 0.4867, 0.4408), std=(0.2675, 0.2565, 0.2761))
    kinds = [type(t) for t in aug.transforms]
    assert kinds[1:4] == [RandomCrop, ColorJitter, RandomHorizontalFlip]
    jitter = aug.transforms[2]
    assert jitter.args == (0.4, 0.4, 0.4, 0.0) and jitter.ranges[3] is None and jitter.p == 1.0
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    assert a.shape == (6, 3, 32, 32) and a.dtype == torch.float32 and torch.equal(a, b)
