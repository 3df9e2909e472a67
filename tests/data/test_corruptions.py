"""Corruptions against transcriptions of make_cifar_c.py (hendrycks/robustness) in NumPy and the
standard library, noise statistics, reproducibility and severity ordering."""
import colorsys

import numpy as np
import pytest
import torch

from reprobook.data import CORRUPTIONS, corrupt
from reprobook.data.corruptions import SEVERITIES, disk_kernel


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=6, seed=0):
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen(seed))


def to_hwc(x):
    return x.permute(0, 2, 3, 1).numpy().astype(np.float64) / 255.0


def back(y):
    return torch.from_numpy(np.uint8(np.clip(y, 0, 1) * 255)).permute(0, 3, 1, 2)


def test_contrast_matches_the_numpy_formula():
    x = images()
    for s in range(1, 6):
        c = SEVERITIES["contrast"][s - 1]
        a = to_hwc(x)
        means = a.mean(axis=(1, 2), keepdims=True)
        assert torch.equal(corrupt(x, "contrast", s), back((a - means) * c + means))


@pytest.mark.parametrize("name", ["brightness", "saturate"])
def test_hsv_corruptions_match_colorsys(name):
    x = images(2)
    a = to_hwc(x)
    for s in (1, 4):
        c = SEVERITIES[name][s - 1]
        ref = np.empty_like(a)
        for idx in np.ndindex(a.shape[:3]):
            h, sat, v = colorsys.rgb_to_hsv(*a[idx])
            if name == "brightness":
                v = min(max(v + c, 0), 1)
            else:
                sat = min(max(sat * c[0] + c[1], 0), 1)
            ref[idx] = colorsys.hsv_to_rgb(h, sat, v)
        got = corrupt(x, name, s).int()
        assert (got - back(ref).int()).abs().max() <= 1          # float rounding at the truncation


def test_gaussian_blur_matches_a_separable_numpy_filter():
    x = images(2)
    a = to_hwc(x)
    for s in (1, 5):
        sigma = SEVERITIES["gaussian_blur"][s - 1]
        r = int(4 * sigma + 0.5)
        t = np.arange(-r, r + 1)
        k = np.exp(-t ** 2 / (2 * sigma ** 2))
        k /= k.sum()
        p = np.pad(a, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge")
        rows = sum(k[i] * p[:, i:i + 32, :, :] for i in range(2 * r + 1))
        ref = sum(k[j] * rows[:, :, j:j + 32, :] for j in range(2 * r + 1))
        assert (corrupt(x, "gaussian_blur", s).int() - back(ref).int()).abs().max() <= 1


def test_defocus_blur_kernel_and_filter():
    for radius, alias in SEVERITIES["defocus_blur"]:
        k = disk_kernel(radius, alias).numpy()
        assert k.shape == (17, 17) and k.sum() == pytest.approx(1.0)
        assert np.allclose(k, k.T) and np.allclose(k, k[::-1, ::-1])
    x = images(2)
    a = to_hwc(x)
    k = disk_kernel(*SEVERITIES["defocus_blur"][4]).numpy()
    p = np.pad(a, ((0, 0), (8, 8), (8, 8), (0, 0)), mode="reflect")      # reflect-101, as OpenCV
    ref = sum(k[i, j] * p[:, i:i + 32, j:j + 32, :] for i in range(17) for j in range(17))
    assert (corrupt(x, "defocus_blur", 5).int() - back(ref).int()).abs().max() <= 1


def test_noise_statistics():
    grey = torch.full((64, 3, 32, 32), 128, dtype=torch.uint8)
    base = 128 / 255
    for s, c in enumerate(SEVERITIES["gaussian_noise"], 1):
        d = corrupt(grey, "gaussian_noise", s, gen(s)).double() / 255 - base
        assert d.std().item() == pytest.approx(c, rel=0.03)
    for s, c in enumerate(SEVERITIES["shot_noise"], 1):
        y = corrupt(grey, "shot_noise", s, gen(s)).double() / 255
        assert y.var().item() == pytest.approx(base / c, rel=0.05)       # Poisson(x c) / c
    for s, c in enumerate(SEVERITIES["impulse_noise"], 1):
        y = corrupt(grey, "impulse_noise", s, gen(s))
        hit = ((y == 0) | (y == 255)).double().mean().item()
        assert hit == pytest.approx(c, rel=0.1)
        assert ((y == 255).double().mean() / ((y == 0) | (y == 255)).double().mean()).item() == pytest.approx(0.5, abs=0.05)


def test_pil_corruptions_are_pillow_exactly():
    from PIL import Image
    x = images(3)
    got = corrupt(x, "pixelate", 5)
    im = Image.fromarray(x[0].permute(1, 2, 0).numpy())
    ref = np.asarray(im.resize((20, 20), Image.BOX).resize((32, 32), Image.BOX))
    assert np.array_equal(got[0].permute(1, 2, 0).numpy(), ref)
    assert not torch.equal(corrupt(x, "jpeg_compression", 5), x)


def test_reproducible_and_ordered_by_severity(cifar10_test):
    x = torch.from_numpy(cifar10_test.images[:64]).permute(0, 3, 1, 2).contiguous()
    for name in CORRUPTIONS:
        assert torch.equal(corrupt(x, name, 3, gen(1)), corrupt(x, name, 3, gen(1)))
        if name == "saturate":                     # severities 1-2 desaturate, 3-5 saturate
            continue
        err = [(corrupt(x, name, s, gen(1)).double() - x.double()).abs().mean().item() for s in range(1, 6)]
        assert all(a <= b + 1e-9 for a, b in zip(err, err[1:])), (name, err)


def test_errors():
    x = images(1)
    with pytest.raises(ValueError, match="unknown corruption 'fog'; valid: gaussian_noise"):
        corrupt(x, "fog", 1)
    with pytest.raises(ValueError, match="severity must be 1..5"):
        corrupt(x, "contrast", 6)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(x.float(), "contrast", 1)
