"""Batched Gaussian blur, RandAugment and the InfoMin recipe against torchvision.

Each sample of a batch is compared with torchvision.transforms.v2.functional run on that image
alone with the same parameters; parameter draws are checked with chi-square / KS statistics on
20,000 draws (significance 0.001, deterministic seeds).
"""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import v2 as T2
from torchvision.transforms.v2 import functional as TF

from reprobook.data import augment as A
from reprobook.data import blur as Bl
from reprobook.data import randaugment as R

N = 20000
K = len(R.OPS)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- gaussian_blur
@pytest.mark.parametrize("size", [(32, 32), (24, 40)])
def test_gaussian_blur_equals_torchvision_per_sample(size):
    H, W = size
    x = torch.rand(6, 3, H, W, generator=gen())
    sigma = torch.tensor([0.3, 0.7, 1.0, 1.5, 2.0, 0.0])          # one kernel size for all
    out = Bl.gaussian_blur(x, sigma)
    radius = math.ceil(3 * 2.0)
    for b in range(6):
        s = sigma[b].item()
        ref = x[b] if s == 0 else TF.gaussian_blur(x[b], [2 * radius + 1] * 2, [s, s])
        torch.testing.assert_close(out[b], ref, atol=1e-5, rtol=0)   # all pixels: both reflect


def test_gaussian_blur_explicit_radius_and_float_sigma():
    x = torch.rand(2, 3, 16, 16, generator=gen(1))
    out = Bl.gaussian_blur(x, 0.8, radius=4)
    for b in range(2):
        torch.testing.assert_close(out[b], TF.gaussian_blur(x[b], [9, 9], [0.8, 0.8]), atol=1e-5, rtol=0)
    # the default radius is ceil(3 sigma) = 3 taps a side
    torch.testing.assert_close(Bl.gaussian_blur(x, 0.8)[0], TF.gaussian_blur(x[0], [7, 7], [0.8, 0.8]),
                               atol=1e-5, rtol=0)


def test_sigma_zero_is_the_identity_and_a_constant_stays_constant():
    x = torch.rand(4, 3, 8, 8, generator=gen(2))
    assert torch.equal(Bl.gaussian_blur(x, 0.0), x)
    assert torch.equal(Bl.gaussian_blur(x, torch.tensor([0.0, 1.0, 0.0, 2.0]))[[0, 2]], x[[0, 2]])
    c = torch.full((3, 3, 10, 12), 0.37)
    torch.testing.assert_close(Bl.gaussian_blur(c, torch.tensor([0.5, 1.0, 3.0])), c, atol=1e-6, rtol=0)


def test_gaussian_blur_bad_inputs_are_clear_errors():
    x = torch.rand(2, 3, 8, 8)
    for bad in (-0.5, float("nan"), float("inf"), torch.tensor([1.0, -1.0])):
        with pytest.raises(ValueError, match="finite and >= 0"):
            Bl.gaussian_blur(x, bad)
    with pytest.raises(ValueError, match=r"\(2,\) tensor"):
        Bl.gaussian_blur(x, torch.ones(3))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        Bl.gaussian_blur(x[0], 1.0)
    with pytest.raises(ValueError, match="float batch"):
        Bl.gaussian_blur((x * 255).to(torch.uint8), 1.0)
    with pytest.raises(ValueError, match="smaller than the image"):
        Bl.gaussian_blur(x, 3.0)                                   # radius 9 on an 8-pixel image
    with pytest.raises(ValueError, match="radius must be an integer"):
        Bl.gaussian_blur(x, 1.0, radius=0)


# ---------------------------------------------------------------- GaussianBlur transform
def test_random_blur_rate_and_sigma_range_scale_with_the_image():
    blur = Bl.GaussianBlur(sigma=(0.1, 2.0), p=0.5)
    s = blur.sample_params(N, 32, gen()).numpy()
    on = s[s > 0]
    assert abs(len(on) / N - 0.5) < 0.015
    lo, hi = 0.1 * 32 / 224, 2.0 * 32 / 224
    assert blur.sigma_range(32) == pytest.approx((lo, hi))
    assert stats.kstest(on, "uniform", args=(lo, hi - lo)).pvalue > 0.001
    fixed = Bl.GaussianBlur(sigma=(0.1, 2.0), p=1.0, scale_to_image=False).sample_params(N, 32, gen(1))
    assert fixed.min() >= 0.1 and fixed.max() <= 2.0 and abs(fixed.mean().item() - 1.05) < 0.02


def test_random_blur_blurs_the_drawn_samples_with_the_drawn_sigma():
    blur = Bl.GaussianBlur(p=0.5, size_ref=32)                     # sigma in [0.1, 2] on 32 px
    x = torch.rand(16, 3, 32, 32, generator=gen(3))
    out = blur(x, gen(4))
    sigma = blur.sample_params(16, 32, gen(4))
    assert 0 < (sigma > 0).sum() < 16
    for b in range(16):
        s = sigma[b].item()
        ref = x[b] if s == 0 else TF.gaussian_blur(x[b], [13, 13], [s, s])      # radius ceil(3 x 2)
        torch.testing.assert_close(out[b], ref, atol=1e-5, rtol=0)


def test_random_blur_bad_arguments():
    with pytest.raises(ValueError, match="sigma must be a range"):
        Bl.GaussianBlur(sigma=(2.0, 0.1))
    with pytest.raises(ValueError, match="p must lie"):
        Bl.GaussianBlur(p=1.5)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        Bl.GaussianBlur()(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="smaller than the image"):
        Bl.GaussianBlur(sigma=(1.0, 5.0), scale_to_image=False)(torch.rand(1, 3, 8, 8))


# ---------------------------------------------------------------- RandAugment: the op list
@pytest.mark.parametrize("m,bins,H,W", [(10, 31, 32, 32), (0, 31, 24, 40), (30, 31, 32, 32), (5, 11, 96, 96)])
def test_op_list_and_magnitudes_are_torchvision_s(m, bins, H, W):
    space = T2.RandAugment._AUGMENTATION_SPACE
    assert tuple(space) == R.OPS
    ours = R.op_magnitudes(m, bins, H, W)
    for name, (fn, signed) in space.items():
        assert signed == (name in R.SIGNED), name
        ref = fn(bins, H, W)
        assert ours[name] == (0.0 if ref is None else float(ref[m])), name


def ref_op(img, name, mag, interpolation):
    """torchvision RandAugment's op ``name`` at signed magnitude ``mag`` (its own mapping)."""
    ip = interpolation
    if name == "Identity":
        return img
    if name in ("ShearX", "ShearY"):
        deg = math.degrees(math.atan(mag))
        shear = [deg, 0.0] if name == "ShearX" else [0.0, deg]
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=shear, interpolation=ip, center=[0, 0])
    if name in ("TranslateX", "TranslateY"):
        t = [int(mag), 0] if name == "TranslateX" else [0, int(mag)]
        return TF.affine(img, angle=0.0, translate=t, scale=1.0, shear=[0.0, 0.0], interpolation=ip)
    if name == "Rotate":
        return TF.rotate(img, angle=mag, interpolation=ip)
    enhance = {"Brightness": TF.adjust_brightness, "Color": TF.adjust_saturation,
               "Contrast": TF.adjust_contrast, "Sharpness": TF.adjust_sharpness}
    if name in enhance:
        return enhance[name](img, 1.0 + mag)
    if name == "Posterize":
        return TF.posterize(img, int(mag))
    if name == "Solarize":
        return TF.solarize(img, 1.0 * mag)
    return {"AutoContrast": TF.autocontrast, "Equalize": TF.equalize}[name](img)


def every_op_twice():
    """Each op once with each sign: ``ops (2K, 1)``, ``negate (2K, 1)``."""
    return torch.arange(K).repeat_interleave(2)[:, None], torch.tensor([False, True]).repeat(K)[:, None]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("indexed", [True, False])
@pytest.mark.parametrize("m,H,W", [(10, 32, 32), (30, 24, 40), (0, 7, 5), (17, 32, 32)])
def test_every_op_equals_torchvision_on_single_images(interpolation, indexed, m, H, W):
    ops, negate = every_op_twice()
    x = torch.rand(2 * K, 3, H, W, generator=gen(m))
    x[-1] = (x[-1] * 4).floor() / 4                                # few grey levels (equalize)
    x[-2] = 0.3                                                     # a constant image
    ra = R.RandAugment(1, m, interpolation=interpolation)
    out = ra.apply(x, ops, negate, indexed=indexed)
    mags = R.op_magnitudes(m, 31, H, W)
    for b in range(2 * K):
        name = R.OPS[ops[b, 0]]
        mag = -mags[name] if negate[b, 0] and name in R.SIGNED else mags[name]
        ref = ref_op(x[b], name, mag, interpolation)
        torch.testing.assert_close(out[b], ref, atol=1e-5, rtol=0, msg=lambda s: f"{name} {mag}: {s}")


def test_two_ops_in_sequence_equal_torchvision():
    ra = R.RandAugment(2, 10)
    x = torch.rand(64, 3, 16, 16, generator=gen(5))
    ops, negate = ra.sample_params(64, gen(6))
    out = ra.apply(x, ops, negate)
    mags = R.op_magnitudes(10, 31, 16, 16)
    for b in range(64):
        y = x[b]
        for pos in range(2):
            name = R.OPS[ops[b, pos]]
            y = ref_op(y, name, -mags[name] if negate[b, pos] and name in R.SIGNED else mags[name], "nearest")
        torch.testing.assert_close(out[b], y, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- RandAugment: the draws
def test_op_choice_is_uniform_and_signs_are_fair():
    ops, negate = R.RandAugment(2, 10).sample_params(N, gen())
    for pos in range(2):
        counts = np.bincount(ops[:, pos].numpy(), minlength=K)
        assert stats.chisquare(counts).pvalue > 0.001, counts
        assert abs(negate[:, pos].float().mean().item() - 0.5) < 0.015
    # the two positions are drawn independently: the K x K table of pairs is uniform too
    pairs = np.bincount((ops[:, 0] * K + ops[:, 1]).numpy(), minlength=K * K)
    assert stats.chisquare(pairs).pvalue > 0.001


def test_call_applies_the_drawn_ops_and_paths_agree():
    ra = R.RandAugment(2, 10)
    x = torch.rand(48, 3, 12, 12, generator=gen(7))
    out = ra(x, gen(8))
    ops, negate = ra.sample_params(48, gen(8))
    assert torch.equal(out, ra.apply(x, ops, negate, indexed=True))
    torch.testing.assert_close(ra.apply(x, ops, negate, indexed=False), out, atol=1e-6, rtol=0)
    assert torch.equal(ra(x, gen(8)), out) and not torch.equal(ra(x, gen(9)), out)


def test_randaugment_bad_arguments():
    with pytest.raises(ValueError, match="n \\(ops per image\\)"):
        R.RandAugment(-1)
    with pytest.raises(ValueError, match=r"m \(magnitude\) must be an integer in \[0, 30\]"):
        R.RandAugment(2, 31)
    with pytest.raises(ValueError, match="interpolation"):
        R.RandAugment(interpolation="bicubic")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        R.RandAugment()(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="float images"):
        R.RandAugment()(torch.zeros(2, 3, 8, 8, dtype=torch.int32))


# ---------------------------------------------------------------- recipes
def uint8_batch(seed=0, b=8, size=32):
    return torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=gen(seed)).float() / 255


def test_infomin_augment_runs_and_is_seeded():
    aug = R.infomin_augment(32, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    names = [type(t).__name__ for t in aug.transforms]
    assert names == ["RandomResizedCrop", "ColorJitter", "GaussianBlur", "RandAugment",
                     "RandomGrayscale", "Normalize"]
    jitter = aug.transforms[1]
    assert jitter.args == (0.8, 0.8, 0.8, 0.2) and jitter.p == 0.8
    x = uint8_batch()
    a, b = aug(x, gen(3)), aug(x, gen(3))
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert a.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(a, b) and not torch.equal(a, aug(x, gen(4)))
    assert aug(torch.randint(0, 256, (8, 3, 40, 40), dtype=torch.uint8), gen(5)).shape == (8, 3, 32, 32)


def test_augmentation_ladder_is_ordered_and_runs():
    ladder = R.augmentation_ladder(24, (0.5,) * 3, (0.5,) * 3)
    assert list(ladder) == ["crop", "crop+jitter", "crop+jitter+blur", "infomin"]
    lengths = [len(t.transforms) for t in ladder.values()]
    assert lengths == [2, 4, 5, 6]
    assert any(isinstance(t, Bl.GaussianBlur) for t in ladder["crop+jitter+blur"].transforms)
    x = uint8_batch(1)
    for name, aug in ladder.items():
        y = aug(x, gen(2))
        assert y.shape == (8, 3, 24, 24) and torch.isfinite(y).all(), name
    assert "RandAugment(n=2, m=30" in repr(ladder["infomin"])
