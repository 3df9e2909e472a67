"""Corruptions against transcriptions of make_cifar_c.py (hendrycks/robustness) in NumPy, SciPy
and the standard library, fed the same random draws; the OpenCV and ImageMagick steps against
fixtures those libraries made (tests/data/fixtures/make_*.py); noise statistics, reproducibility
and severity ordering."""
import colorsys
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from reprobook.data import BENCHMARK_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, corrupt
from reprobook.data.corruptions import (SEVERITIES, _correlate3, _cv2_affine_transform, _cv2_box3_f32,
                                        _cv2_box3_u8, _cv2_canny, _cv2_distance_transform5, _cv2_equalize_hist,
                                        _cv2_warp_affine, _rgb2gray_f32, _spatter_shade, disk_kernel,
                                        frost_pictures, magick_motion_blur, magick_motion_blur_kernel,
                                        magick_motion_offsets, numpy_rng, spatter)

FIXTURES = Path(__file__).parent / "fixtures"


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


# ------------------------------------------------------------------ the nine NumPy/SciPy corruptions
# Helpers shared by the transcriptions below: one image at a time, as make_cifar_c.py works.
def hwc_u8(x):
    return x.permute(0, 2, 3, 1).numpy()


def nchw(y):
    return torch.from_numpy(np.ascontiguousarray(np.uint8(y))).permute(0, 3, 1, 2)


def sk_gaussian(a, sigma, channels=True, mode="nearest", truncate=4.0):
    """skimage.filters.gaussian (multichannel when ``channels``): SciPy's filter, channels untouched."""
    return ndimage.gaussian_filter(a, (sigma, sigma, 0) if channels else sigma, mode=mode, truncate=truncate)


def clipped_zoom_one(img, z):
    """make_cifar_c.py's clipped_zoom of one (H, W, C) image."""
    h = img.shape[0]
    ch = int(np.ceil(h / z))
    top = (h - ch) // 2
    img = ndimage.zoom(img[top:top + ch, top:top + ch], (z, z, 1), order=1)
    trim = (img.shape[0] - h) // 2
    return img[trim:trim + h, trim:trim + h]


def test_the_nineteen_corruptions():
    assert len(CORRUPTIONS) == 19 and all(len(SEVERITIES[c]) == 5 for c in CORRUPTIONS)
    assert BENCHMARK_CORRUPTIONS == ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
                                     "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
                                     "elastic_transform", "pixelate", "jpeg_compression")
    assert EXTRA_CORRUPTIONS == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert CORRUPTIONS == BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS


def test_speckle_noise_matches_the_formula():
    x = images(4)
    a = to_hwc(x)
    for s in (1, 5):
        c = SEVERITIES["speckle_noise"][s - 1]
        z = torch.randn(x.shape, generator=gen(s), dtype=torch.float64).permute(0, 2, 3, 1).numpy()
        assert torch.equal(corrupt(x, "speckle_noise", s, gen(s)), back(a + a * (c * z)))


def test_glass_blur_matches_the_loop_of_the_original():
    x = images(3)
    for s in (1, 3, 4):
        sigma, d, iterations = SEVERITIES["glass_blur"][s - 1]
        shifts = numpy_rng(gen(s)).integers(-d, d, size=(3, iterations, 30, 30, 2))
        ref = []
        for n, img in enumerate(hwc_u8(x)):
            y = np.uint8(sk_gaussian(img / 255., sigma) * 255)
            for it in range(iterations):
                for hh, h in enumerate(range(32 - d, d, -1)):
                    for ww, w in enumerate(range(32 - d, d, -1)):
                        dx, dy = shifts[n, it, hh, ww]
                        hp, wp = h + dy, w + dx
                        y[h, w], y[hp, wp] = y[hp, wp], y[h, w]      # the original's "swap" of two views
            ref.append(np.clip(sk_gaussian(y / 255., sigma), 0, 1) * 255)
        assert torch.equal(corrupt(x, "glass_blur", s, gen(s)), nchw(np.stack(ref)))


def test_motion_blur_kernel_and_offsets():
    for radius, sigma in SEVERITIES["motion_blur"] + [c[4:6] for c in SEVERITIES["snow"]]:
        k = magick_motion_blur_kernel(radius, sigma)
        i = np.arange(2 * int(np.ceil(radius)) + 1)
        ref = np.exp(-i ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
        assert np.allclose(k, ref / ref.sum(), rtol=1e-12, atol=0) and np.all(np.diff(k) < 0)
    assert np.array_equal(magick_motion_offsets(5, 0.0), [(i, 0) for i in range(5)])      # along +x
    assert np.array_equal(magick_motion_offsets(5, 90.0), [(0, i) for i in range(5)])     # along +y (down)
    assert np.array_equal(magick_motion_offsets(5, -45.0), [(0, 0), (1, -1), (1, -1), (2, -2), (3, -3)])


def test_motion_blur_matches_imagemagick():
    """ImageMagick 6.9.11 Q16 through Wand, as make_cifar_c.py calls it (fixtures/make_motion_blur_fixtures.py):
    90 cases (3 RGB images x the 5 motion_blur severities x 4 angles, 2 greyscale snow layers x
    snow's 5 blurs x 3 angles), all equal to the last uint8 level."""
    f = np.load(FIXTURES / "motion_blur_wand.npz")
    assert {tuple(r[1:3]) for r in f["rgb_case"]} == {tuple(map(float, c)) for c in SEVERITIES["motion_blur"]}
    assert {tuple(r[1:3]) for r in f["gray_case"]} == {tuple(map(float, c[4:6])) for c in SEVERITIES["snow"]}
    for kind in ("rgb", "gray"):
        for (i, radius, sigma, angle), want in zip(f[f"{kind}_case"], f[f"{kind}_outputs"]):
            img = f[f"{kind}_inputs"][int(i)]
            img = img if img.ndim == 3 else img[..., None]
            got = magick_motion_blur(img[None], radius, sigma, [angle])[0].reshape(want.shape)
            assert np.array_equal(got, want), (kind, i, radius, sigma, angle)


def test_motion_blur_draws_its_angles():
    x = images(4)
    for s in (1, 5):
        angles = numpy_rng(gen(s)).uniform(-45, 45, size=4)
        assert np.all(np.abs(angles) <= 45)
        ref = magick_motion_blur(hwc_u8(x), *SEVERITIES["motion_blur"][s - 1], angles)
        assert torch.equal(corrupt(x, "motion_blur", s, gen(s)), nchw(ref))


def test_zoom_blur_matches_the_original():
    x = images(3)
    for s, stop in ((1, 1.06), (5, 1.26)):
        zooms = SEVERITIES["zoom_blur"][s - 1]
        assert zooms == tuple(np.arange(1, stop, 0.01))                # the original's factors, end included
        ref = []
        for img in hwc_u8(x):
            a = (img / 255.).astype(np.float32)
            out = np.zeros_like(a)
            for z in zooms:
                out += clipped_zoom_one(a, z)
            ref.append(np.clip((a + out) / (len(zooms) + 1), 0, 1) * 255)
        assert torch.equal(corrupt(x, "zoom_blur", s), nchw(np.stack(ref)))


def test_snow_matches_the_original():
    x = images(3)
    for s in (1, 3, 5):
        c = SEVERITIES["snow"][s - 1]
        rng = numpy_rng(gen(s))
        layers, angles = rng.normal(c[0], c[1], size=(3, 32, 32)), rng.uniform(-135, -45, size=3)
        ref = []
        for img, layer, angle in zip(hwc_u8(x), layers, angles):
            a = img.astype(np.float32) / 255.
            snow = clipped_zoom_one(layer[..., None], c[2])
            snow[snow < c[3]] = 0
            snow = (np.clip(snow.squeeze(), 0, 1) * 255).astype(np.uint8)
            snow = magick_motion_blur(snow[None, ..., None], c[4], c[5], [angle])[0] / 255.   # Wand: see above
            grey = _rgb2gray_f32(a)[..., None]                                           # OpenCV: see below
            a = c[6] * a + (1 - c[6]) * np.maximum(a, grey * 1.5 + 0.5)
            ref.append(np.clip(a + snow + np.rot90(snow, k=2), 0, 1) * 255)
        assert torch.equal(corrupt(x, "snow", s, gen(s)), nchw(np.stack(ref)))


def test_frost_pictures_are_opencvs_and_frost_matches_the_original():
    """The six pictures of the imagecorruptions wheel, read and resized by 0.2 as cv2.imread and
    cv2.resize do (fixtures/make_opencv_fixtures.py, OpenCV 3.4.18), then the blend of a crop."""
    f = np.load(FIXTURES / "opencv_ops.npz")
    pics = frost_pictures()
    for pic, want in zip(pics, f["frost_sha256"]):
        assert hashlib.sha256(np.ascontiguousarray(pic).tobytes()).hexdigest() + f" {pic.shape}" == want
    x = images(8)
    for s in (1, 5):
        c = SEVERITIES["frost"][s - 1]
        rng = numpy_rng(gen(s))
        idx = rng.integers(5, size=8)                                  # the sixth picture is never drawn
        tops = rng.integers(0, np.array([pics[k].shape[0] for k in idx]) - 32)
        lefts = rng.integers(0, np.array([pics[k].shape[1] for k in idx]) - 32)
        ref = [np.clip(c[0] * img + c[1] * pics[k][t:t + 32, l:l + 32], 0, 255)
               for img, k, t, l in zip(hwc_u8(x), idx, tops, lefts)]
        assert torch.equal(corrupt(x, "frost", s, gen(s)), nchw(np.stack(ref)))


def plasma_one(draws, mapsize=32):
    """The original's diamond-square, one map; ``draws`` yields its wibbles, U(-w, w) in order."""
    a = np.empty((mapsize, mapsize))
    a[0, 0] = 0
    step = mapsize
    while step >= 2:
        h = step // 2
        corners = a[0::step, 0::step]
        sq = corners + np.roll(corners, -1, axis=0)
        sq += np.roll(sq, -1, axis=1)
        a[h::step, h::step] = sq / 4 + wibble_of(draws)
        dr, ul = a[h::step, h::step], a[0::step, 0::step]
        a[0::step, h::step] = ((dr + np.roll(dr, 1, axis=0)) + (ul + np.roll(ul, -1, axis=1))) / 4 + wibble_of(draws)
        a[h::step, 0::step] = ((dr + np.roll(dr, 1, axis=1)) + (ul + np.roll(ul, -1, axis=0))) / 4 + wibble_of(draws)
        step //= 2
    a -= a.min()
    return a / a.max()


def wibble_of(draws):
    w, u = next(draws)
    return w * u                                                        # wibble * U(-wibble, wibble)


def test_fog_matches_the_original():
    x = images(3)
    for s in (1, 5):
        c = SEVERITIES["fog"][s - 1]
        rng = numpy_rng(gen(s))
        batched, wibble = [], 100.0
        for k in (1, 2, 4, 8, 16):                                       # stepsize 32, 16, ..., 2
            batched += [(wibble, rng.uniform(-wibble, wibble, (3, k, k))) for _ in range(3)]
            wibble /= c[1]
        ref = []
        for n, img in enumerate(hwc_u8(x)):
            a = img / 255.
            max_val = a.max()
            a += c[0] * plasma_one(iter((w, u[n]) for w, u in batched))[:32, :32][..., None]
            ref.append(np.clip(a * max_val / (max_val + c[0]), 0, 1) * 255)
        assert torch.equal(corrupt(x, "fog", s, gen(s)), nchw(np.stack(ref)))


def test_opencv_helpers_match_opencv():
    """fixtures/make_opencv_fixtures.py (OpenCV 3.4.18): every value equal."""
    f = np.load(FIXTURES / "opencv_ops.npz")
    pts1 = np.float32([[26, 26], [26, 6], [6, 6]])
    M = _cv2_affine_transform(np.broadcast_to(pts1, f["warp_pts2"].shape), f["warp_pts2"])
    assert np.allclose(M, f["warp_M"], rtol=0, atol=1e-12)
    assert np.array_equal(_cv2_warp_affine(f["warp_in"].astype(np.float32) / 255., f["warp_M"]), f["warp_out"])
    assert np.array_equal(_cv2_canny(f["layer"], 50, 150), f["canny"] > 0)
    assert np.array_equal(_cv2_distance_transform5(f["canny"] > 0), f["dist"])
    assert np.array_equal(_spatter_shade(f["layer"]), f["shade"])
    assert np.array_equal(_rgb2gray_f32(f["gray_in"].astype(np.float32) / 255.), f["gray_out"])


def test_opencv_helpers_small_cases():
    edge = np.zeros((1, 7, 9), bool)
    edge[0, 3, 4] = True
    d = _cv2_distance_transform5(edge)[0]
    assert d[3, 4] == 0 and d[3, 5] == 1 and d[4, 5] == np.float32(1.4) and d[5, 5] == np.float32(2.1969)
    assert d[3, 8] == 4 and d[0, 0] == pytest.approx(2.1969 + 2 * 1.4, abs=1e-6)     # a knight's move, 2 diagonals
    a = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    p = np.pad(a[0], 1, mode="reflect")                                 # OpenCV's default border, reflect-101
    assert np.allclose(_cv2_box3_f32(a)[0], sum(p[i:i + 3, j:j + 4] for i in range(3) for j in range(3)) / 9)
    assert np.array_equal(_cv2_box3_u8(np.uint8([[[0, 9, 0], [0, 0, 0]]]))[0], [[2, 1, 2], [4, 2, 4]])   # reflect-101 rows 1,0,1 and 0,1,0
    eq = _cv2_equalize_hist(np.uint8([[[3, 3, 5, 7]]]))
    assert np.array_equal(eq, [[[0, 0, 128, 255]]]) and np.array_equal(_cv2_equalize_hist(np.full((1, 2, 2), 9, np.uint8)), np.full((1, 2, 2), 9))
    assert np.array_equal(_correlate3(np.arange(9).reshape(1, 3, 3), [[0, 0, 0], [0, 0, 1], [0, 0, 0]], "reflect")[0],
                          [[1, 2, 1], [4, 5, 4], [7, 8, 7]])


def test_elastic_transform_matches_the_original():
    x = images(3)
    pts1 = np.float32([[26, 26], [26, 6], [6, 6]])                     # centre 16 +- 32 // 3
    for s in (1, 2, 5):
        c = SEVERITIES["elastic_transform"][s - 1]
        rng = numpy_rng(gen(s))
        jitter = rng.uniform(-c[2], c[2], size=(3, 3, 2)).astype(np.float32)
        ux, uy = rng.uniform(-1, 1, size=(3, 32, 32)), rng.uniform(-1, 1, size=(3, 32, 32))
        ref = []
        for n, img in enumerate(hwc_u8(x)):
            a = img.astype(np.float32) / 255.
            M = _cv2_affine_transform(pts1[None], (pts1 + jitter[n])[None])   # cv2.getAffineTransform, see above
            a = _cv2_warp_affine(a[None], M)[0]                                 # cv2.warpAffine, see above
            dx = (sk_gaussian(ux[n], c[1], False, "reflect", 3) * c[0]).astype(np.float32)[..., None]
            dy = (sk_gaussian(uy[n], c[1], False, "reflect", 3) * c[0]).astype(np.float32)[..., None]
            xs, ys, zs = np.meshgrid(np.arange(32), np.arange(32), np.arange(3))
            idx = np.reshape(ys + dy, (-1, 1)), np.reshape(xs + dx, (-1, 1)), np.reshape(zs, (-1, 1))
            ref.append(np.clip(ndimage.map_coordinates(a, idx, order=1, mode="reflect").reshape(a.shape), 0, 1) * 255)
        assert torch.equal(corrupt(x, "elastic_transform", s, gen(s)), nchw(np.stack(ref)))


def test_spatter_matches_the_original():
    x = images(4)
    for s in range(1, 6):
        c = SEVERITIES["spatter"][s - 1]
        liquids = numpy_rng(gen(s)).normal(c[0], c[1], size=(4, 32, 32))
        ref = []
        for img, liquid in zip(hwc_u8(x), liquids):
            a = img.astype(np.float32) / 255.
            liquid = sk_gaussian(liquid, c[2], channels=False)
            liquid[liquid < c[3]] = 0
            if c[5] == 0:
                liquid8 = ((liquid * 255).astype(np.int64) & 255).astype(np.uint8)   # the x86 cast wraps
                m = liquid8 * _spatter_shade(liquid8[None])[0].astype(np.float32)     # OpenCV's chain, see above
                m /= np.max(m)
                m *= c[4]
                color = np.float32([175, 238, 238]) / np.float32(255)
                ref.append(np.clip(a + m[..., None] * color, 0, 1) * 255)
            else:
                m = sk_gaussian(np.where(liquid > c[3], 1, 0).astype(np.float32), c[4], channels=False)
                m[m < 0.8] = 0
                color = np.float32([63, 42, 20]) / np.float32(255) * m[..., None]
                a *= (1 - m[..., None])
                ref.append(np.clip(a + color, 0, 1) * 255)
        assert torch.equal(corrupt(x, "spatter", s, gen(s)), nchw(np.stack(ref))), s


def test_spatter_without_drops_leaves_the_image():
    """The original divides by the largest drop value; with no drop at all it would make NaNs."""
    class NoDrops:
        def normal(self, loc, scale, size):
            return np.zeros(size)

    x = hwc_u8(images(2))
    with np.errstate(all="raise"):
        y = spatter(x, SEVERITIES["spatter"][0], NoDrops())
    assert np.array_equal(y, np.uint8(np.clip(x.astype(np.float32) / 255., 0, 1) * 255))


def test_numpy_corruptions_leave_numpys_global_rng_alone():
    x = images(2)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    for name in ("glass_blur", "fog", "frost", "snow", "spatter", "elastic_transform", "motion_blur"):
        corrupt(x, name, 2, gen(0))
    assert np.array_equal(np.random.get_state()[1], state)
    a, b = numpy_rng(gen(7)).random(3), numpy_rng(gen(7)).random(3)
    assert np.array_equal(a, b) and not np.array_equal(a, numpy_rng(gen(8)).random(3))


def test_reproducible_and_ordered_by_severity(cifar10_test):
    """Same generator, same images; every severity changes the images; the mean absolute change
    grows with severity over 64 test images, except where the original's parameters do not order
    it: saturate (severities 1-2 desaturate, 3-5 saturate), glass blur (a stronger blur can lower
    the change the shuffle makes; 4-5 shuffle twice with the blurs of 2-3), frost (the image's own
    weight drops from 1 to 0.75 at 3-5), elastic transform (its affine jitter shrinks from 2.56 to
    0.96 px as the displacement field grows: the mean change falls) and spatter (1-3 water, 4-5 mud)."""
    unordered = {"saturate", "glass_blur", "frost", "elastic_transform", "spatter"}
    x = torch.from_numpy(cifar10_test.images[:64]).permute(0, 3, 1, 2).contiguous()
    for name in CORRUPTIONS:
        assert torch.equal(corrupt(x, name, 3, gen(1)), corrupt(x, name, 3, gen(1)))
        err = [(corrupt(x, name, s, gen(1)).double() - x.double()).abs().mean().item() for s in range(1, 6)]
        assert min(err) > 0.5, (name, err)
        if name not in unordered:
            assert all(a <= b + 1e-9 for a, b in zip(err, err[1:])), (name, err)
    for name in ("glass_blur", "motion_blur", "snow", "frost", "fog", "elastic_transform", "spatter", "speckle_noise"):
        assert not torch.equal(corrupt(x[:8], name, 3, gen(1)), corrupt(x[:8], name, 3, gen(2))), name


def test_errors():
    x = images(1)
    with pytest.raises(ValueError, match="unknown corruption 'rain'; valid: gaussian_noise"):
        corrupt(x, "rain", 1)
    with pytest.raises(ValueError, match="severity must be 1..5"):
        corrupt(x, "contrast", 6)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(x.float(), "contrast", 1)
    with pytest.raises(ValueError, match="severity must be 1..5"):
        corrupt(x, "fog", 0)
