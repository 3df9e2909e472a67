"""psnr and ssim against float64 numpy transcriptions, closed forms and skimage's
structural_similarity; per_step shapes; bad inputs."""
import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from reprobook.eval.video import gaussian_window, per_step, psnr, ssim


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def psnr_reference(pred, target, max_val):
    """10 log10(max_val^2 / mean((pred - target)^2)) for one (C, H, W) image, in numpy float64."""
    mse = np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2)
    return 10.0 * math.log10(max_val ** 2 / mse)


def skimage_ssim(pred, target, max_val=1.0):
    """skimage's SSIM of one (C, H, W) image with the options of Wang et al. 2004."""
    return structural_similarity(pred.numpy(), target.numpy(), gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=max_val, channel_axis=0)


def ssim_reference(x, y, max_val, window, sigma, k1=0.01, k2=0.03):
    """Loop transcription of Wang et al. 2004 on a (C, H, W) numpy pair: per channel and valid
    position, Gaussian-weighted means, population variances and covariance."""
    r = (window - 1) // 2
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    vals = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - window + 1):
            for j in range(x.shape[2] - window + 1):
                px, py = x[c, i:i + window, j:j + window], y[c, i:i + window, j:j + window]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cxy = (w * (px - mx) * (py - my)).sum()
                vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


# --------------------------------------------------------------------------------------- psnr

@pytest.mark.parametrize("max_val", [1.0, 255.0])
def test_psnr_matches_numpy_transcription(max_val):
    pred, target = max_val * rand(2, 3, 3, 8, 9, seed=0), max_val * rand(2, 3, 3, 8, 9, seed=1)
    got = psnr(pred, target, max_val=max_val)
    assert got.shape == (2, 3)
    for b in range(2):
        for t in range(3):
            assert got[b, t].item() == pytest.approx(psnr_reference(pred[b, t], target[b, t], max_val), rel=1e-12)
    assert psnr(pred, target, max_val=max_val, reduction="mean").item() == pytest.approx(got.mean().item(), rel=1e-12)


@pytest.mark.parametrize("d", [0.5, 0.1, 0.01])
def test_psnr_constant_offset_closed_form(d):
    target = 0.5 * rand(3, 5, 5)
    assert psnr(target + d, target).item() == pytest.approx(10 * math.log10(1 / d ** 2), rel=1e-10)
    assert psnr(target - d, target).item() == pytest.approx(-20 * math.log10(d), rel=1e-10)


def test_psnr_identical_images_is_infinite():
    x = rand(2, 3, 4, 4)
    got = psnr(x, x.clone())
    assert got.shape == (2,) and torch.isinf(got).all() and (got > 0).all()


def test_psnr_is_differentiable():
    pred, target = rand(1, 3, 6, 6, seed=0).requires_grad_(), rand(1, 3, 6, 6, seed=1)
    assert torch.autograd.gradcheck(lambda p: psnr(p, target), (pred,))


# --------------------------------------------------------------------------------------- ssim

@pytest.mark.parametrize("c,h,w,seed", [(3, 16, 16, 0), (1, 11, 11, 1), (3, 20, 13, 2)])
def test_ssim_matches_skimage_on_random_images(c, h, w, seed):
    pred, target = rand(c, h, w, seed=seed), rand(c, h, w, seed=seed + 10)
    assert ssim(pred, target).item() == pytest.approx(skimage_ssim(pred, target), rel=1e-4)


def test_ssim_matches_skimage_on_structured_images():
    yy, xx = torch.meshgrid(torch.arange(24, dtype=torch.float64), torch.arange(24, dtype=torch.float64),
                            indexing="ij")
    ramp = (xx + yy) / 46
    checker = ((xx // 4 + yy // 4) % 2) * 0.8 + 0.1
    blob = torch.exp(-((xx - 12) ** 2 + (yy - 9) ** 2) / 30)
    target = torch.stack([ramp, checker, blob])
    for pred in (target.flip(-1), 0.7 * target + 0.1, (target + 0.05 * rand(3, 24, 24)).clamp(0, 1),
                 target.roll(2, dims=-2)):
        assert ssim(pred, target).item() == pytest.approx(skimage_ssim(pred, target), rel=1e-4)


def test_ssim_matches_skimage_with_another_range():
    pred, target = 255 * rand(3, 15, 17, seed=3), 255 * rand(3, 15, 17, seed=4)
    got = ssim(pred, target, max_val=255.0).item()
    assert got == pytest.approx(skimage_ssim(pred, target, max_val=255.0), rel=1e-4)


def test_ssim_batched_over_leading_dims_matches_per_image():
    pred, target = rand(2, 3, 3, 14, 12, seed=0), rand(2, 3, 3, 14, 12, seed=1)
    got = ssim(pred, target)
    assert got.shape == (2, 3)
    for b in range(2):
        for t in range(3):
            assert got[b, t].item() == pytest.approx(skimage_ssim(pred[b, t], target[b, t]), rel=1e-4)
    assert ssim(pred, target, reduction="mean").item() == pytest.approx(got.mean().item(), rel=1e-12)


@pytest.mark.parametrize("window,sigma", [(7, 1.0), (5, 2.0), (11, 1.5)])
def test_ssim_matches_loop_transcription_for_other_windows(window, sigma):
    x, y = rand(2, 14, 13, seed=5), rand(2, 14, 13, seed=6)
    x = (x + y) / 2                                             # correlated, so SSIM is not ~0
    want = ssim_reference(x.numpy(), y.numpy(), 1.0, window, sigma)
    assert ssim(x, y, window=window, sigma=sigma).item() == pytest.approx(want, rel=1e-10)


def test_gaussian_window_is_scipy_kernel():
    g = gaussian_window(11, 1.5)
    assert g.shape == (11,) and g.sum().item() == pytest.approx(1.0)
    assert g[5] / g[6] == pytest.approx(math.exp(0.5 / 1.5 ** 2))


def test_ssim_identity_symmetry_and_noise():
    x = rand(2, 3, 16, 16, seed=0)
    assert torch.allclose(ssim(x, x.clone()), torch.ones(2, dtype=torch.float64), atol=1e-12)
    y = (x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert torch.allclose(ssim(x, y), ssim(y, x), rtol=1e-12)
    assert (ssim(x, y) < 0.99).all()
    assert (ssim(x, y) > ssim(x, rand(2, 3, 16, 16, seed=9))).all()   # noisy copy beats unrelated image


def test_ssim_float32_close_to_float64():
    x, y = rand(3, 16, 16, seed=0), rand(3, 16, 16, seed=1)
    assert ssim(x.float(), y.float()).item() == pytest.approx(ssim(x, y).item(), abs=1e-4)


def test_ssim_is_differentiable():
    x, y = rand(1, 2, 12, 12, seed=0).requires_grad_(), rand(1, 2, 12, 12, seed=1)
    assert torch.autograd.gradcheck(lambda p: ssim(p, y, window=5, sigma=1.0), (x,))


# ----------------------------------------------------------------------------------- per_step

@pytest.mark.parametrize("metric", [psnr, ssim, "psnr", "ssim"])
def test_per_step_is_batch_mean_per_time_step(metric):
    pred, target = rand(4, 5, 3, 12, 12, seed=0), rand(4, 5, 3, 12, 12, seed=1)
    got = per_step(metric, pred, target)
    fn = {"psnr": psnr, "ssim": ssim}.get(metric, metric)
    assert got.shape == (5,)
    for t in range(5):
        assert got[t].item() == pytest.approx(fn(pred[:, t], target[:, t]).mean().item(), rel=1e-12)


def test_per_step_passes_keyword_arguments():
    pred, target = 255 * rand(2, 3, 1, 8, 8, seed=0), 255 * rand(2, 3, 1, 8, 8, seed=1)
    assert torch.allclose(per_step(psnr, pred, target, max_val=255.0), psnr(pred, target, 255.0).mean(0))
    assert per_step(ssim, pred, target, max_val=255.0, window=5).shape == (3,)


# --------------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("fn", [psnr, ssim])
def test_shape_mismatch_is_an_error(fn):
    with pytest.raises(ValueError, match="same shape"):
        fn(rand(3, 12, 12), rand(3, 12, 13))
    with pytest.raises(ValueError, match=r"\(\.\.\., C, H, W\)"):
        fn(rand(12, 12), rand(12, 12))


@pytest.mark.parametrize("fn", [psnr, ssim])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_max_val_must_be_positive(fn, bad):
    with pytest.raises(ValueError, match="max_val"):
        fn(rand(3, 12, 12), rand(3, 12, 12), max_val=bad)


@pytest.mark.parametrize("fn", [psnr, ssim])
def test_integer_images_and_bad_reduction_are_refused(fn):
    x = torch.zeros(3, 12, 12, dtype=torch.uint8)
    with pytest.raises(TypeError, match="floating point"):
        fn(x, x)
    with pytest.raises(ValueError, match="reduction"):
        fn(rand(3, 12, 12), rand(3, 12, 12), reduction="sum")


def test_ssim_window_checks():
    x = rand(3, 12, 12)
    for bad in (4, 0, -3, 2.0):
        with pytest.raises(ValueError, match="window"):
            ssim(x, x, window=bad)
    with pytest.raises(ValueError, match="smaller than the 13 x 13"):
        ssim(x, x, window=13)
    for name in ("sigma", "k1", "k2"):
        with pytest.raises(ValueError, match=name):
            ssim(x, x, **{name: 0.0})


def test_per_step_checks():
    v = rand(2, 3, 1, 12, 12)
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        per_step(psnr, v[0], v[0])
    with pytest.raises(ValueError, match="metric must be one of"):
        per_step("lpips", v, v)
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        per_step(lambda p, t, reduction: p.mean(), v, v)
