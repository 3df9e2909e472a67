"""Steerability target edits: exact results on synthetic images, loop transcriptions of the
official cv2 definitions, masks, identity alphas, per-sample alphas and bad inputs."""
import math

import numpy as np
import pytest
import torch

from reprobook.steer import (ALPHA_RANGES, EDITS, IDENTITY_ALPHAS, alpha_range, brightness, color, rotate, shift,
                             zoom)


def rand(*shape, seed=0):
    return 2 * torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) - 1


def square(size=32, lo=12, hi=20, channels=3, batch=1):
    """A white square [lo, hi)^2 on black, in [-1, 1]."""
    x = -torch.ones(batch, channels, size, size, dtype=torch.float64)
    x[..., lo:hi, lo:hi] = 1.0
    return x


def cv2_resize_linear(img, out_h, out_w):
    """Loop transcription of cv2.resize(..., INTER_LINEAR) on a (C, h, w) float array: source
    coordinate (d + 0.5) * scale - 0.5, clamped to the first / last pixel."""
    c, h, w = img.shape
    out = np.zeros((c, out_h, out_w))

    def coord(d, n_in, n_out):
        f = (d + 0.5) * n_in / n_out - 0.5
        s = math.floor(f)
        f -= s
        if s < 0:
            return 0, 0, 0.0
        if s >= n_in - 1:
            return n_in - 1, n_in - 1, 0.0
        return s, s + 1, f

    for i in range(out_h):
        y0, y1, fy = coord(i, h, out_h)
        for j in range(out_w):
            x0, x1, fx = coord(j, w, out_w)
            out[:, i, j] = ((1 - fy) * ((1 - fx) * img[:, y0, x0] + fx * img[:, y0, x1])
                            + fy * ((1 - fx) * img[:, y1, x0] + fx * img[:, y1, x1]))
    return out


def official_zoom(img, alpha_official):
    """utils/transforms.py ZoomTransform.get_target_np for one (C, S, S) image (even S), with the
    official alpha (< 1 crops = zooms in), and this module's strict mask (resized ones == 1)."""
    c, s, _ = img.shape
    new = int(alpha_official * s)
    if alpha_official < 1:
        cropped = img[:, s // 2 - new // 2:s // 2 + new // 2, s // 2 - new // 2:s // 2 + new // 2]
        mask = np.ones((1,) + cropped.shape[1:])
    else:
        cropped, mask = np.zeros((c, new, new)), np.zeros((1, new, new))
        sl = slice(new // 2 - s // 2, new // 2 + s // 2)
        cropped[:, sl, sl], mask[:, sl, sl] = img, 1
    return cv2_resize_linear(cropped, s, s), (cv2_resize_linear(mask, s, s) >= 1 - 1e-6).astype(float)


def rotate_reference(img, degrees):
    """Loop transcription of rotate for one (C, H, W) image: inverse-map each output pixel about
    ((W-1)/2, (H-1)/2), bilinear with a zero border; mask 1 where the source is in the frame."""
    c, h, w = img.shape
    t = math.radians(degrees)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    out, mask = np.zeros((c, h, w)), np.zeros((1, h, w))
    for i in range(h):
        for j in range(w):
            sx = cx + math.cos(t) * (j - cx) - math.sin(t) * (i - cy)
            sy = cy + math.sin(t) * (j - cx) + math.cos(t) * (i - cy)
            mask[0, i, j] = float(-1e-9 <= sx <= w - 1 + 1e-9 and -1e-9 <= sy <= h - 1 + 1e-9)
            x0, y0 = math.floor(sx), math.floor(sy)
            for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                if 0 <= yy < h and 0 <= xx < w:
                    out[:, i, j] += (1 - abs(sx - xx)) * (1 - abs(sy - yy)) * img[:, yy, xx]
    return out, mask


# --------------------------------------------------------------------------------------- shift

@pytest.mark.parametrize("alpha", [3, -3, 8, -6])
def test_shift_x_moves_a_pixel_and_masks_vacated_columns(alpha):
    x = -torch.ones(1, 3, 16, 16, dtype=torch.float64)
    x[0, :, 5, 7] = 1.0
    out, mask = shift(x, alpha, axis="x")
    assert out.shape == x.shape and mask.shape == (1, 1, 16, 16)
    assert out[0, 0].eq(1).nonzero().tolist() == [[5, 7 + alpha]]
    vacated = slice(0, alpha) if alpha > 0 else slice(16 + alpha, 16)
    expected_mask = torch.ones(16, 16, dtype=torch.float64)
    expected_mask[:, vacated] = 0
    assert torch.equal(mask[0, 0], expected_mask)
    assert torch.equal(out[0, :, :, vacated], torch.zeros_like(out[0, :, :, vacated]))   # official zero fill
    keep = expected_mask.bool()
    assert torch.equal(out[0][:, keep], torch.roll(x, alpha, dims=-1)[0][:, keep])


def test_shift_y_moves_down_for_positive_alpha():
    x = rand(2, 3, 12, 10)
    out, mask = shift(x, 2, axis="y")
    assert torch.equal(out[:, :, 2:], x[:, :, :-2]) and torch.equal(out[:, :, :2], torch.zeros_like(out[:, :, :2]))
    assert torch.equal(mask[:, 0, :2], torch.zeros(2, 2, 10, dtype=x.dtype)) and mask[:, :, 2:].eq(1).all()
    assert torch.equal(EDITS["shifty"](x, 2)[0], out) and torch.equal(EDITS["shiftx"](x, 2)[0], shift(x, 2)[0])


# --------------------------------------------------------------------------------------- zoom

def test_zoom_in_by_two_doubles_a_centred_square():
    out, mask = zoom(square(), 2.0)
    rows, cols = torch.nonzero(out[0, 0] > 0, as_tuple=True)
    assert (rows.min().item(), rows.max().item() + 1) == (8, 24)                 # side 8 -> 16
    assert (cols.min().item(), cols.max().item() + 1) == (8, 24)
    assert mask.eq(1).all()


def test_zoom_out_by_half_halves_a_centred_square_with_masked_padding():
    out, mask = zoom(square(), 0.5)
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[14:18, 14:18] = True
    assert torch.equal(out[0, 0] == 1, inside)                                   # side 8 -> 4, exactly
    expected_mask = torch.zeros(32, 32, dtype=torch.float64)
    expected_mask[8:24, 8:24] = 1
    assert torch.equal(mask[0, 0], expected_mask)
    assert out[0, :, ~expected_mask.bool()].eq(0).all()                          # the official zero canvas


@pytest.mark.parametrize("alpha", [4.0, 1.5, 0.75, 0.3, 0.25])
def test_zoom_matches_the_official_crop_pad_resize(alpha):
    x = rand(1, 2, 16, 16, seed=3)
    out, mask = zoom(x, alpha)
    ref, ref_mask = official_zoom(x[0].numpy(), 1.0 / alpha)                     # official alpha = 1 / ours
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-12)
    np.testing.assert_array_equal(mask[0].numpy(), ref_mask)


# --------------------------------------------------------------------------------------- rotate

@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_rotate_by_90_multiples_equals_rot90(size, k):
    x = rand(2, 3, size, size, seed=k + 5)
    out, mask = rotate(x, 90.0 * k, strict=False)
    assert torch.equal(out, torch.rot90(x, k, dims=(-2, -1)))
    assert mask.eq(1).all()


def test_rotate_is_counter_clockwise():
    x = -torch.ones(1, 1, 9, 9, dtype=torch.float64)
    x[0, 0, 4, 8] = 1.0                                                          # right of the centre
    out, _ = rotate(x, 90.0, strict=False)
    assert out[0, 0].eq(1).nonzero().tolist() == [[0, 4]]                        # now above it


@pytest.mark.parametrize("degrees", [30.0, -45.0, 12.5])
def test_rotate_matches_loop_transcription(degrees):
    x = rand(1, 2, 7, 9, seed=11)
    out, mask = rotate(x, degrees)
    ref, ref_mask = rotate_reference(x[0].numpy(), degrees)
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-12)
    np.testing.assert_array_equal(mask[0].numpy(), ref_mask)


def test_rotate_45_masks_corners_and_keeps_the_inscribed_disc():
    n = 16
    _, mask = rotate(rand(1, 1, n, n), 45.0)
    c = (n - 1) / 2
    rows, cols = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    disc = (rows - c) ** 2 + (cols - c) ** 2 <= c ** 2
    assert mask[0, 0][disc].eq(1).all()
    for r, cc in ((0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)):
        assert mask[0, 0, r, cc] == 0
    assert set(mask.unique().tolist()) == {0.0, 1.0}


# --------------------------------------------------------------------------------------- colour

def test_color_adds_exactly_per_channel_without_clipping():
    x = rand(2, 3, 4, 5, seed=2)
    x[0, 0, 0, 0] = 0.9
    a = torch.tensor([0.5, -0.25, 0.0], dtype=torch.float64)
    out, mask = color(x, a)
    assert torch.equal(out, x + a.view(1, 3, 1, 1)) and mask.shape == (2, 1, 4, 5) and mask.eq(1).all()
    assert out[0, 0, 0, 0].item() == pytest.approx(1.4)                          # not clipped, as official
    per = torch.tensor([[0.1, 0.2, 0.3], [-0.3, -0.2, -0.1]], dtype=torch.float64)
    assert torch.equal(color(x, per)[0], x + per.view(2, 3, 1, 1))


def test_brightness_adds_the_same_shift_to_every_channel():
    x = rand(3, 3, 4, 4, seed=4)
    out, mask = brightness(x, 0.5)
    assert torch.equal(out, x + 0.5) and mask.eq(1).all() and out.max() > 1      # not clipped
    a = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    assert torch.equal(brightness(x, a)[0], x + a.view(3, 1, 1, 1))
    assert torch.equal(out, color(x, torch.full((3,), 0.5, dtype=torch.float64))[0])


# --------------------------------------------------------------------------------------- common

@pytest.mark.parametrize("name", sorted(EDITS))
def test_identity_alpha_returns_input_and_ones_mask(name):
    x = rand(2, 3, 8, 8, seed=7).float()
    alpha = torch.zeros(3) if name == "color" else IDENTITY_ALPHAS[name]
    out, mask = EDITS[name](x, alpha)
    assert torch.equal(out, x) and out.dtype == x.dtype
    assert mask.shape == (2, 1, 8, 8) and mask.dtype == x.dtype and mask.eq(1).all()


@pytest.mark.parametrize("name, alphas", [("zoom", [0.5, 2.0, 1.0]), ("shiftx", [-3, 0, 4]),
                                          ("shifty", [2, -1, 0]), ("rotate2d", [-30.0, 0.0, 17.0]),
                                          ("brightness", [0.2, -0.4, 0.0])])
def test_per_sample_alphas_equal_separate_calls(name, alphas):
    x = rand(3, 3, 10, 10, seed=9)
    out, mask = EDITS[name](x, torch.tensor(alphas, dtype=torch.float64))
    for i, a in enumerate(alphas):
        o, m = EDITS[name](x[i:i + 1], a)
        assert torch.equal(out[i:i + 1], o) and torch.equal(mask[i:i + 1], m)


def test_targets_carry_no_gradient():
    x = rand(1, 3, 8, 8).requires_grad_()
    alphas = {"zoom": 2.0, "shiftx": 2, "shifty": -2, "rotate2d": 10.0, "color": torch.full((3,), 0.1),
              "brightness": 0.1}
    for name, fn in EDITS.items():
        out, mask = fn(x, alphas[name])
        assert not out.requires_grad and not mask.requires_grad


def test_alpha_ranges():
    assert ALPHA_RANGES["zoom"] == (0.25, 4.0) and ALPHA_RANGES["rotate2d"] == (-45.0, 45.0)
    assert alpha_range("shiftx", 32) == (-16.0, 16.0) and alpha_range("color") == (-0.5, 0.5)
    with pytest.raises(ValueError, match="image size"):
        alpha_range("shifty")
    with pytest.raises(ValueError, match="unknown edit"):
        alpha_range("warp")


def test_strict_false_allows_evaluation_ranges():
    x = square(size=16, lo=6, hi=10)
    assert zoom(x, 8.0, strict=False)[0].shape == x.shape
    assert rotate(x, 90.0, strict=False)[1].eq(1).all()
    assert shift(x, 12, strict=False)[1].sum() == 4 * 16
    assert torch.equal(color(x, torch.ones(3), strict=False)[0], x + 1)


@pytest.mark.parametrize("call, match", [
    (lambda: zoom(torch.zeros(3, 8, 8), 2.0), r"\(B, C, H, W\)"),
    (lambda: zoom(torch.zeros(1, 3, 8, 8), 5.0), r"zoom alpha must lie in \[0.25, 4\]"),
    (lambda: zoom(torch.zeros(1, 3, 8, 8), 0.1), "training range"),
    (lambda: zoom(torch.zeros(1, 3, 8, 8), 32.0, strict=False), r"\[0.0625, 16\]"),
    (lambda: zoom(torch.zeros(2, 3, 8, 8), torch.ones(3)), r"shape \(B,\)"),
    (lambda: zoom(torch.zeros(1, 3, 8, 8), float("nan")), "finite"),
    (lambda: shift(torch.zeros(1, 3, 8, 8), 5), r"\[-4, 4\]"),
    (lambda: shift(torch.zeros(1, 3, 8, 8), 1.5), "whole pixels"),
    (lambda: shift(torch.zeros(1, 3, 8, 8), 1, axis="z"), "axis"),
    (lambda: shift(torch.zeros(1, 3, 8, 8), float("inf")), "finite"),
    (lambda: rotate(torch.zeros(1, 3, 8, 8), 50.0), r"\[-45, 45\]"),
    (lambda: rotate(torch.zeros(1, 3, 8, 8), float("nan"), strict=False), "finite"),
    (lambda: color(torch.zeros(1, 3, 8, 8), torch.zeros(4)), r"\(C,\) = \(3,\)"),
    (lambda: color(torch.zeros(2, 3, 8, 8), torch.zeros(3, 3)), r"\(B, C\) = \(2, 3\)"),
    (lambda: color(torch.zeros(1, 3, 8, 8), 0.1), "brightness"),
    (lambda: color(torch.zeros(1, 3, 8, 8), torch.tensor([0.1, 0.7, 0.0])), r"\[-0.5, 0.5\]"),
    (lambda: color(torch.zeros(1, 3, 8, 8), torch.tensor([0.1, float("nan"), 0.0])), "finite"),
    (lambda: brightness(torch.zeros(1, 3, 8, 8), -0.6), r"\[-0.5, 0.5\]"),
    (lambda: brightness(torch.full((1, 3, 8, 8), float("nan")), 0.1), "NaN or inf"),
    (lambda: brightness(torch.zeros(0, 3, 8, 8), 0.1), "empty"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="tensor"):
        zoom(np.zeros((1, 3, 8, 8)), 2.0)
    with pytest.raises(TypeError, match="floating point"):
        zoom(torch.zeros(1, 3, 8, 8, dtype=torch.long), 2.0)
    with pytest.raises(TypeError, match="bool"):
        brightness(torch.zeros(1, 3, 8, 8), True)


def test_walk_alpha_follows_the_official_walk_coordinates():
    import math
    from reprobook.steer.edits import walk_alpha
    assert float(walk_alpha("zoom", 4.0)) == pytest.approx(math.log(4.0))
    assert float(walk_alpha("shiftx", 8, size=32)) == pytest.approx(0.5)
    assert float(walk_alpha("rotate2d", -45.0)) == pytest.approx(-1.0)
    assert torch.equal(walk_alpha("color", torch.tensor([0.1, -0.2, 0.3])), torch.tensor([0.1, -0.2, 0.3]))
    with pytest.raises(ValueError, match="positive"):
        walk_alpha("zoom", 0.0)
    with pytest.raises(ValueError, match="size"):
        walk_alpha("shifty", 3)
    with pytest.raises(ValueError, match="unknown edit"):
        walk_alpha("blur", 1.0)


@pytest.mark.parametrize("edit, alphas", [("zoom", [0.25, 0.5, 1.0, 4.0]), ("shiftx", [-16.0, 3.0]),
                                          ("rotate2d", [-45.0, 10.0]), ("brightness", [-0.5, 0.2])])
def test_edit_units_inverts_walk_alpha(edit, alphas):
    from reprobook.steer import edit_units, walk_alpha
    a = torch.tensor(alphas)
    assert torch.allclose(edit_units(edit, walk_alpha(edit, a, 32), 32), a, rtol=1e-6)
