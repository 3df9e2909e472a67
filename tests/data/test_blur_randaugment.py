"""Batched Gaussian blur, RandAugment and the InfoMin recipe against torchvision and PIL.

Each sample of a batch is compared with torchvision.transforms.v2.functional (the torchvision
policy) or with PyContrast's PIL code (the timm policy, transcribed below) run on that image
alone with the same parameters; parameter draws are checked with chi-square / KS / binomial
statistics on 20,000 draws (significance 0.001, deterministic seeds).
"""
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps
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


# ---------------------------------------------------------------- RandAugment(policy="timm") vs PyContrast
# Reference: HobbitLong/PyContrast pycontrast/datasets/RandAugment.py (timm's RandAugment), its PIL
# ops and LEVEL_TO_ARG transcribed for the 15 ops of _RAND_TRANSFORMS; ``negate`` stands for the
# outcome of _randomly_negate (random() > 0.5) and ``resample`` for random.choice((BILINEAR, BICUBIC)).
PC_MAX_LEVEL = 10.
PC_FILL = (124, 116, 104)                     # datasets/util.py aug 'D': round(255 * ImageNet mean)


def pc_shear_x(img, factor, **kwargs):
    return img.transform(img.size, Image.AFFINE, (1, factor, 0, 0, 1, 0), **kwargs)


def pc_shear_y(img, factor, **kwargs):
    return img.transform(img.size, Image.AFFINE, (1, 0, 0, factor, 1, 0), **kwargs)


def pc_translate_x_rel(img, pct, **kwargs):
    pixels = pct * img.size[0]
    return img.transform(img.size, Image.AFFINE, (1, 0, pixels, 0, 1, 0), **kwargs)


def pc_translate_y_rel(img, pct, **kwargs):
    pixels = pct * img.size[1]
    return img.transform(img.size, Image.AFFINE, (1, 0, 0, 0, 1, pixels), **kwargs)


def pc_rotate(img, degrees, **kwargs):
    return img.rotate(degrees, **kwargs)                            # the file's PIL >= 5.2 branch


def pc_solarize_add(img, add, thresh=128, **__):
    lut = []
    for i in range(256):
        if i < thresh:
            lut.append(min(255, i + add))
        else:
            lut.append(i)
    return img.point(lut + lut + lut)


def pc_posterize(img, bits_to_keep, **__):
    if bits_to_keep >= 8:
        return img
    if bits_to_keep == 0:          # PIL < 10's ImageOps.posterize LUT: i & ~255 (PIL >= 10 refuses 0)
        return img.point([0] * 768)
    return ImageOps.posterize(img, bits_to_keep)


PC_NAME_TO_OP = {
    "AutoContrast": lambda img, **__: ImageOps.autocontrast(img),
    "Equalize": lambda img, **__: ImageOps.equalize(img),
    "Invert": lambda img, **__: ImageOps.invert(img),
    "Rotate": pc_rotate,
    "PosterizeTpu": pc_posterize,
    "Solarize": lambda img, thresh, **__: ImageOps.solarize(img, thresh),
    "SolarizeAdd": pc_solarize_add,
    "Color": lambda img, factor, **__: ImageEnhance.Color(img).enhance(factor),
    "Contrast": lambda img, factor, **__: ImageEnhance.Contrast(img).enhance(factor),
    "Brightness": lambda img, factor, **__: ImageEnhance.Brightness(img).enhance(factor),
    "Sharpness": lambda img, factor, **__: ImageEnhance.Sharpness(img).enhance(factor),
    "ShearX": pc_shear_x,
    "ShearY": pc_shear_y,
    "TranslateXRel": pc_translate_x_rel,
    "TranslateYRel": pc_translate_y_rel,
}


def pc_negate(v, negate):
    return -v if negate else v


def pc_rotate_arg(level, negate):
    return pc_negate((level / PC_MAX_LEVEL) * 30., negate),


def pc_enhance_arg(level, negate):
    return (level / PC_MAX_LEVEL) * 1.8 + 0.1,


def pc_shear_arg(level, negate):
    return pc_negate((level / PC_MAX_LEVEL) * 0.3, negate),


def pc_translate_rel_arg(level, negate):
    return pc_negate((level / PC_MAX_LEVEL) * 0.45, negate),


PC_LEVEL_TO_ARG = {
    "AutoContrast": None, "Equalize": None, "Invert": None,
    "Rotate": pc_rotate_arg,
    "PosterizeTpu": lambda level, negate: (int((level / PC_MAX_LEVEL) * 4),),
    "Solarize": lambda level, negate: (int((level / PC_MAX_LEVEL) * 256),),
    "SolarizeAdd": lambda level, negate: (int((level / PC_MAX_LEVEL) * 110),),
    "Color": pc_enhance_arg, "Contrast": pc_enhance_arg, "Brightness": pc_enhance_arg,
    "Sharpness": pc_enhance_arg,
    "ShearX": pc_shear_arg, "ShearY": pc_shear_arg,
    "TranslateXRel": pc_translate_rel_arg, "TranslateYRel": pc_translate_rel_arg,
}
PC_RAND_TRANSFORMS = ["AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeTpu", "Solarize",
                      "SolarizeAdd", "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY",
                      "TranslateXRel", "TranslateYRel"]


def pc_op(x, name, level, negate, bicubic):
    """PyContrast's AutoAugmentOp body after its draws, on one float image on the uint8 grid."""
    img = Image.fromarray((x * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    level_fn = PC_LEVEL_TO_ARG[name]
    level_args = level_fn(level, negate) if level_fn is not None else tuple()
    kwargs = dict(fillcolor=PC_FILL, resample=Image.BICUBIC if bicubic else Image.BILINEAR)
    out = PC_NAME_TO_OP[name](img, *level_args, **kwargs)
    return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1).float() / 255


KT = len(R.TIMM_OPS)
TIMM_LEVELS = (10.0, 8.7, 5.3, 2.0)     # 10: the clipped draw (half of them at m = 10); 2.0: 0 bits


def timm_ra(**kw):
    return R.RandAugment(**{**R.INFOMIN_RANDAUGMENT, **kw})


def uint8_grid_images(n, H, W, seed):
    """Float images on the uint8 grid, cycling: full-range noise, mid-range noise (autocontrast),
    a noisy colour ramp, four grey levels, a constant image."""
    g = gen(seed)
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ramp = (yy * 5 + xx * 3)[None] + torch.tensor([0, 40, 90]).view(3, 1, 1)
    kinds = [lambda: torch.randint(0, 256, (3, H, W), generator=g),
             lambda: torch.randint(40, 191, (3, H, W), generator=g),
             lambda: (ramp + torch.randint(0, 30, (3, H, W), generator=g)) % 256,
             lambda: torch.randint(0, 4, (3, H, W), generator=g) * 60 + 20,
             lambda: torch.full((3, H, W), 77)]
    return torch.stack([kinds[i % len(kinds)]() for i in range(n)]).float() / 255


def test_timm_op_list_and_level_to_arg_are_pycontrast_s():
    assert list(R.TIMM_OPS) == PC_RAND_TRANSFORMS
    assert R.TIMM_GEOMETRIC == {"Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"}
    levels = [0.0, 0.3, 2.5, 5.0, 7.5, 7.4999, 9.2, 9.96, 9.999, 10.0]
    for name in R.TIMM_OPS:
        for negate in (False, True):
            op = torch.full((len(levels),), R.TIMM_OPS.index(name))
            ours = R.timm_op_args(op, torch.tensor(levels, dtype=torch.float64),
                                  torch.full((len(levels),), negate))
            fn = PC_LEVEL_TO_ARG[name]
            ref = [fn(lv, negate)[0] if fn is not None else 0.0 for lv in levels]
            assert ours.tolist() == [float(r) for r in ref], (name, negate)       # exact


# tolerances in 1/255 units, (ours - PIL) * 255 in [lo, hi]:
#   exact LUT ops: 0 up to float rounding; PIL's resampling (affine), autocontrast LUT and blend
#   (brightness) truncate to uint8: [0, 1]; Color, Contrast, Sharpness also round their
#   degenerate image (grey, mean grey, smoothed) to uint8 before the blend, an error of up to a
#   level times |1 - factor| <= 0.9: [-1, 2].
TIMM_TOL = {**{name: (0.0, 1.0) for name in R.TIMM_GEOMETRIC | {"AutoContrast", "Brightness"}},
            **{name: (0.0, 0.0) for name in ("Equalize", "Invert", "PosterizeTpu", "Solarize", "SolarizeAdd")},
            **{name: (-1.0, 2.0) for name in ("Color", "Contrast", "Sharpness")}}


def every_timm_op():
    """Each op at each level; the geometric ops with each sign and filter, the others (which
    ignore both) with alternating ones: ``TimmParams`` of ``(B, 1)`` tensors."""
    rows = []
    for k, name in enumerate(R.TIMM_OPS):
        for i, level in enumerate(TIMM_LEVELS):
            if name in R.TIMM_GEOMETRIC:
                rows += [(k, level, neg, bic) for neg in (0, 1) for bic in (0, 1)]
            else:
                rows.append((k, level, i % 2, (i // 2) % 2))
    op, level, neg, bic = (torch.tensor(c) for c in zip(*rows))
    return R.TimmParams(op[:, None], neg.bool()[:, None], torch.ones(len(op), 1, dtype=torch.bool),
                        level.double()[:, None], bic.bool()[:, None])


@pytest.mark.parametrize("H,W,indexed", [(32, 32, True), (24, 40, True), (7, 5, True), (24, 40, False)])
def test_every_timm_op_equals_pycontrast_pil_on_single_images(H, W, indexed):
    params = every_timm_op()
    x = uint8_grid_images(len(params.ops), H, W, seed=H * W)
    out = timm_ra(n=1).apply(x, *params, indexed=indexed)
    for b in range(len(x)):
        name = R.TIMM_OPS[params.ops[b, 0]]
        level, negate, bicubic = params.level[b, 0].item(), bool(params.negate[b, 0]), bool(params.bicubic[b, 0])
        d = (out[b] - pc_op(x[b], name, level, negate, bicubic)) * 255                # all pixels
        lo, hi = TIMM_TOL[name]
        assert lo - 1e-3 <= d.min() and d.max() <= hi + 1e-3, (name, level, negate, bicubic, d.min(), d.max())


def test_timm_fill_is_the_mean_colour_and_the_filter_is_per_sample():
    x = uint8_grid_images(2, 16, 16, seed=3)[:1].expand(2, -1, -1, -1)
    op = torch.full((2, 1), R.TIMM_OPS.index("TranslateXRel"))
    params = R.TimmParams(op, torch.ones(2, 1, dtype=torch.bool), torch.ones(2, 1, dtype=torch.bool),
                          torch.full((2, 1), 10.0, dtype=torch.float64), torch.tensor([[False], [True]]))
    out = timm_ra(n=1).apply(x, *params)
    # shifted by -0.45 * 16 = -7.2 px: output columns 0..6 sample x_in < 0, the fill
    fill = torch.tensor(PC_FILL, dtype=torch.float32).view(3, 1, 1) / 255
    assert torch.equal(out[:, :, :, :7], fill.expand(2, 3, 16, 7))
    assert not torch.allclose(out[0, :, :, 8:], out[1, :, :, 8:], atol=2 / 255)   # the filters differ
    # a filter fixed by ``interpolation`` overrides the drawn one
    assert torch.equal(timm_ra(n=1, interpolation="bilinear").apply(x, *params)[1], out[0])


def test_timm_ops_skip_when_not_applied_and_positions_compose():
    ra = timm_ra(n=2)
    x = uint8_grid_images(40, 12, 12, seed=9)
    p = ra.sample_params(40, gen(10))
    assert 0 < p.applied.sum() < 80
    out = ra.apply(x, *p)
    one = timm_ra(n=1)
    y = x
    for pos in range(2):
        y = one.apply(y, *(t[:, pos:pos + 1] for t in p))
    assert torch.equal(out, y)
    off = p._replace(applied=torch.zeros_like(p.applied))
    assert torch.equal(ra.apply(x, *off), x)


def test_timm_chain_of_drawn_ops_matches_pycontrast_pil():
    """Whole draws (n = 2, PyContrast's settings) against PIL applying the same ops in turn. PIL
    rounds each op's output to uint8, so the second op may cross a threshold (posterize,
    solarize, equalize bins) the float image does not: almost all pixels agree."""
    ra = timm_ra()
    B = 256
    x = uint8_grid_images(B, 20, 20, seed=11)
    p = ra.sample_params(B, gen(12))
    out = ra.apply(x, *p)
    close, worst = [], []
    for b in range(B):
        y = x[b]
        for pos in range(2):
            if p.applied[b, pos]:
                y = pc_op(y, R.TIMM_OPS[p.ops[b, pos]], p.level[b, pos].item(), bool(p.negate[b, pos]),
                          bool(p.bicubic[b, pos]))
        d = (out[b] - y).abs() * 255
        close.append((d <= 3.0).float().mean().item())
        worst.append(d.max().item())
    assert np.mean(close) > 0.999 and np.median(worst) <= 2.0, (np.mean(close), np.median(worst))


def test_timm_draws_op_apply_sign_and_filter():
    p = timm_ra().sample_params(N, gen())
    for pos in range(2):
        counts = np.bincount(p.ops[:, pos].numpy(), minlength=KT)
        assert stats.chisquare(counts).pvalue > 0.001, counts
        for flag in (p.applied, p.negate, p.bicubic):           # each with probability 1/2
            assert stats.binomtest(int(flag[:, pos].sum()), N, 0.5).pvalue > 0.001
    # applied with probability ``prob``, independently of the op
    q = timm_ra(prob=0.2).sample_params(N, gen(1))
    assert stats.binomtest(int(q.applied.sum()), 2 * N, 0.2).pvalue > 0.001
    for k in range(KT):
        on = q.applied[q.ops == k]
        assert stats.binomtest(int(on.sum()), on.numel(), 0.2).pvalue > 0.001
    # a fixed filter: all bilinear / all bicubic
    assert not timm_ra(interpolation="bilinear").sample_params(100, gen()).bicubic.any()
    assert timm_ra(interpolation="bicubic").sample_params(100, gen()).bicubic.all()


def test_timm_magnitude_is_a_clipped_normal():
    lv = timm_ra().sample_params(N, gen(2)).level.flatten().numpy()              # clip(N(10, 0.5), 0, 10)
    phi0 = stats.norm.pdf(0.0)
    mean, sd = 10 - 0.5 * phi0, math.sqrt(0.5 ** 2 / 2 - (0.5 * phi0) ** 2)      # 9.8005, 0.2919
    assert lv.max() == 10.0 and stats.binomtest(int((lv == 10.0).sum()), 2 * N, 0.5).pvalue > 0.001
    assert abs(lv.mean() - mean) < 0.01 and abs(lv.std() - sd) < 0.01
    assert stats.kstest((10.0 - lv[lv < 10.0]) / 0.5, "halfnorm").pvalue > 0.001
    mid = timm_ra(m=5).sample_params(N, gen(3)).level.flatten().numpy()           # unclipped: N(5, 0.5)
    assert abs(mid.mean() - 5.0) < 0.01 and abs(mid.std() - 0.5) < 0.01
    assert stats.kstest(mid, "norm", args=(5.0, 0.5)).pvalue > 0.001
    low = timm_ra(m=0.2).sample_params(N, gen(4)).level.flatten().numpy()         # clipped at 0 too
    assert low.min() == 0.0 and stats.binomtest(int((low == 0).sum()), 2 * N, stats.norm.cdf(-0.4)).pvalue > 0.001
    fixed = timm_ra(magnitude_std=0.0, m=7.5).sample_params(100, gen(5)).level
    assert torch.equal(fixed, torch.full_like(fixed, 7.5))


def test_timm_policy_is_seeded_and_paths_agree():
    ra = timm_ra()
    x = uint8_grid_images(48, 16, 16, seed=13)
    out = ra(x, gen(8))
    assert torch.equal(out, ra.apply(x, *ra.sample_params(48, gen(8)), indexed=True))
    torch.testing.assert_close(ra.apply(x, *ra.sample_params(48, gen(8)), indexed=False), out, atol=1e-5, rtol=0)
    assert torch.equal(ra(x, gen(8)), out) and not torch.equal(ra(x, gen(9)), out)
    assert torch.equal(ra((x * 255).round().to(torch.uint8), gen(8)), out)      # uint8 in: the same


def test_randaugment_policy_arguments():
    assert R.RandAugment().policy == "torchvision"
    assert repr(R.RandAugment(2, 10)) == "RandAugment(n=2, m=10, num_magnitude_bins=31, interpolation='nearest')"
    with pytest.raises(ValueError, match="policy must be"):
        R.RandAugment(policy="autoaugment")
    with pytest.raises(ValueError, match="policy='timm' only"):
        R.RandAugment(magnitude_std=0.5)
    with pytest.raises(ValueError, match="policy='torchvision' only"):
        R.RandAugment(policy="timm", num_magnitude_bins=31)
    with pytest.raises(ValueError, match=r"m \(magnitude\) must be a number in \[0, 10\]"):
        R.RandAugment(policy="timm", m=11)
    for bad in (dict(magnitude_std=-1.0), dict(prob=1.5), dict(interpolation="nearest"),
                dict(fill=(0.5, 0.5)), dict(fill=(0, 0, 300))):
        with pytest.raises(ValueError):
            R.RandAugment(policy="timm", **bad)
    ra = R.RandAugment(policy="timm")                  # timm's own defaults: no noise, grey 128 fill
    assert (ra.m, ra.magnitude_std, ra.prob, ra.interpolation) == (10, 0.0, 0.5, "random")
    assert ra.fill == (128 / 255,) * 3
    with pytest.raises(ValueError, match="needs ops, negate, applied"):
        ra.apply(torch.rand(2, 3, 8, 8), *ra.sample_params(2)[:2])
    with pytest.raises(ValueError, match="takes only ops and negate"):
        R.RandAugment().apply(torch.rand(2, 3, 8, 8), *ra.sample_params(2))


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
    ra = aug.transforms[3]                            # PyContrast's rand-n2-m10-mstd0.5
    assert (ra.policy, ra.n, ra.m, ra.magnitude_std, ra.prob, ra.interpolation) == ("timm", 2, 10, 0.5, 0.5, "random")
    assert ra.fill == pytest.approx((124 / 255, 116 / 255, 104 / 255))
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
    assert "RandAugment(policy='timm', n=2, m=10, magnitude_std=0.5, prob=0.5" in repr(ladder["infomin"])


# ---------------------------------------------------------------- InfoMin's view families (data/views.py)
def test_view_families_shapes_and_closed_forms():
    from reprobook.data.views import BlurViews, ColorSplitViews, PatchViews

    x = (torch.rand(6, 3, 32, 32, generator=gen(0)) * 255).to(torch.uint8)
    same = PatchViews(0)(x, gen(1))
    assert torch.equal(same[0], same[1])                                  # distance 0: the same patch twice
    first, second = PatchViews(12).boxes(500, gen(2))
    gap = (first[:, :2] - second[:, :2]).abs()
    assert ((gap.max(1).values == 12) & (gap.min(1).values == 0)).all()     # 12 px apart along one axis
    assert (torch.cat([first, second])[:, :2] >= 0).all() and (torch.cat([first, second])[:, :2] <= 16).all()
    crop, low = BlurViews(0.0)(x, gen(3))
    assert torch.equal(crop, low)
    l, ab = ColorSplitViews("L|ab")(x, gen(4))
    assert l.shape == (6, 1, 32, 32) and ab.shape == (6, 2, 32, 32)


def test_view_families_refuse_bad_input():
    from reprobook.data.views import BlurViews, ColorSplitViews, PatchViews, resize_whole

    x = (torch.rand(2, 3, 32, 32, generator=gen(0)) * 255).to(torch.uint8)
    for views in (PatchViews(4), BlurViews(1.0), ColorSplitViews("L|ab")):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            views(x.float(), gen(1))                                        # 0-255 floats
        with pytest.raises(ValueError, match="empty batch"):
            views(x[:0], gen(1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        resize_whole(x.float(), 16)
    with pytest.raises(TypeError, match="whole number"):
        PatchViews(2.7)
    with pytest.raises(ValueError, match="distance must lie"):
        PatchViews(20)
    with pytest.raises(ValueError, match="sigma"):
        BlurViews(True)
    with pytest.raises(ValueError, match="two views"):
        ColorSplitViews("L|a|b")
