"""Colour spaces as views: batched conversions equal scikit-image's on random pixels."""
import numpy as np
import pytest
import torch
from skimage import color

from reprobook.data.colorspaces import NORMALISATION, ColorViews, convert, rgb_to_hsv, rgb_to_lab, rgb_to_ycbcr


@pytest.fixture
def pixels():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 3, 8, 8), dtype=np.uint8)
    img[0, :, 0, 0] = 0                       # black, white and pure primaries: the gamut's corners
    img[0, :, 0, 1] = 255
    img[0, :, 0, 2] = (255, 0, 0)
    img[0, :, 0, 3] = (0, 0, 255)
    return torch.from_numpy(img)


def _skimage(fn, x):
    return np.stack([fn(im.permute(1, 2, 0).numpy().astype(np.float64) / 255).transpose(2, 0, 1) for im in x])


@pytest.mark.parametrize("ours,theirs,atol", [(rgb_to_lab, color.rgb2lab, 1e-4),
                                              (rgb_to_ycbcr, color.rgb2ycbcr, 1e-4),
                                              (rgb_to_hsv, color.rgb2hsv, 1e-6)])
def test_conversions_equal_scikit_image(pixels, ours, theirs, atol):
    got = ours(pixels.double() / 255).numpy()
    np.testing.assert_allclose(got, _skimage(theirs, pixels), atol=atol)
    np.testing.assert_allclose(ours(pixels).numpy(), got, atol=1e-3)          # uint8 in, float32 math


def test_lab_corners_and_the_official_normalisation_bounds(pixels):
    lab = rgb_to_lab(pixels.double() / 255)
    assert lab[0, 0, 0, 0] == pytest.approx(0, abs=1e-9) and lab[0, 0, 0, 1] == pytest.approx(100, abs=1e-4)
    normed = convert(pixels, "lab")
    assert normed.abs().max() <= 1.0 + 1e-3                  # mean = midpoint, std = half-range of the gamut
    assert NORMALISATION["ycbcr"] == ((116.151, 121.080, 132.342), (109.500, 111.855, 111.964))


def test_views_split_channels_and_name_them(pixels):
    views = ColorViews("lab", [[0], [1, 2]])
    l, ab = views(pixels)
    assert l.shape == (6, 1, 8, 8) and ab.shape == (6, 2, 8, 8) and views.names == ["L", "ab"]
    full = convert(pixels, "lab")
    assert torch.equal(torch.cat([l, ab], 1), full)
    assert ColorViews("ycbcr", [[0], [1], [2]]).names == ["Y", "Cb", "Cr"]


def test_bad_input_is_a_clear_error(pixels):
    with pytest.raises(ValueError, match="unknown colour space 'xyz'"):
        convert(pixels, "xyz")
    with pytest.raises(ValueError, match="disjoint"):
        ColorViews("lab", [[0], [0, 1]])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        rgb_to_lab(pixels[:, :2])
    with pytest.raises(TypeError, match="uint8 or floating"):
        rgb_to_lab(pixels.long())
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*divide by 255"):
        rgb_to_lab(pixels.float())                       # floats in [0, 255] would silently be wrong



def test_views_by_channel_names_across_spaces(pixels):
    assert ColorViews.parse("L|ab").names == ["L", "ab"] and ColorViews.parse("L|ab").channels == [1, 2]
    mixed = ColorViews.parse("L|ab|Y|S")
    l, ab, y, s = mixed(pixels)
    assert torch.equal(l, convert(pixels, "lab")[:, [0]]) and torch.equal(y, convert(pixels, "ycbcr")[:, [0]])
    assert torch.equal(s, convert(pixels, "hsv")[:, [1]]) and ab.shape[1] == 2
    assert ColorViews.parse("Y|CbCr").names == ["Y", "CbCr"]
    with pytest.raises(ValueError, match="one colour space"):
        ColorViews.parse("LY|ab")
    with pytest.raises(ValueError, match="cannot read view 'Q'"):
        ColorViews.parse("L|Q")
    with pytest.raises(ValueError, match="repeats a view"):
        ColorViews.parse("L|L")
    for overlapping in ("L|La", "LL|ab"):
        with pytest.raises(ValueError, match="uses a channel twice"):
            ColorViews.parse(overlapping)
    for empty in ("", "L||ab", "L|ab|"):
        with pytest.raises(ValueError, match="empty view"):
            ColorViews.parse(empty)
