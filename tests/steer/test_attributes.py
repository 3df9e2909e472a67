"""Attributes on synthetic images (known area, centroid, orientation, luminance), masks, and each
edit moving its attribute as target_change predicts."""
import math

import pytest
import torch

from reprobook.steer import (ATTRIBUTES, EDITS, background_color, centroid, channel_means, dominant_orientation,
                             foreground, luminance, object_size, observed_change, target_change, wrap_angle, zoom)


def rectangle(size=32, rows=(12, 20), cols=(12, 20), channels=3):
    """A white axis-aligned rectangle on black, (1, C, size, size) in [-1, 1]."""
    x = -torch.ones(1, channels, size, size, dtype=torch.float64)
    x[..., rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    return x


def bar(degrees, size=31, half_length=11.5, half_width=2.5):
    """A white bar through the centre at ``degrees`` counter-clockwise (as displayed) on black."""
    c = (size - 1) / 2
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                                indexing="ij")
    u, v = cols - c, c - rows                                                   # y up
    t = math.radians(degrees)
    along, across = u * math.cos(t) + v * math.sin(t), -u * math.sin(t) + v * math.cos(t)
    inside = (along.abs() <= half_length) & (across.abs() <= half_width)
    return torch.where(inside, 1.0, -1.0).expand(1, 3, size, size).clone()


def test_square_area_and_centroid():
    x = torch.cat([rectangle(), rectangle(rows=(2, 6), cols=(20, 30))])
    assert object_size(x).tolist() == [64 / 1024, 40 / 1024]
    assert centroid(x).tolist() == [[15.5, 15.5], [24.5, 3.5]]                  # (x = column, y = row)
    assert foreground(x).shape == (2, 32, 32) and foreground(x).dtype == torch.bool


def test_background_color_is_the_border_median():
    x = rectangle(channels=3)
    x[:, 1] += 0.5                                                              # green background -0.5
    assert background_color(x).tolist() == [[-1.0, -0.5, -1.0]]


@pytest.mark.parametrize("degrees", [0.0, 30.0, -60.0, 90.0, 45.0, -15.0])
def test_orientation_of_an_elongated_bar(degrees):
    got = dominant_orientation(bar(degrees)).item()
    assert abs(wrap_angle(torch.tensor(got - degrees)).item()) < 3.0
    assert -90 < got <= 90


def test_orientation_of_axis_aligned_rectangles_is_exact():
    assert dominant_orientation(rectangle(rows=(14, 18), cols=(4, 28))).item() == 0.0
    assert dominant_orientation(rectangle(rows=(4, 28), cols=(14, 18))).item() == 90.0


def test_luminance_and_channel_means():
    grey = torch.full((2, 3, 8, 8), 0.3, dtype=torch.float64)
    assert luminance(grey).tolist() == pytest.approx([0.3, 0.3], abs=1e-15)
    red = -torch.ones(1, 3, 4, 4, dtype=torch.float64)
    red[:, 0] = 1.0
    assert luminance(red).item() == pytest.approx(0.299 - 0.587 - 0.114, abs=1e-15)
    assert channel_means(red).tolist() == [[1.0, -1.0, -1.0]]
    assert luminance(torch.full((1, 1, 4, 4), -0.25)).item() == -0.25           # grey images: their own luma
    half = torch.zeros(1, 1, 4, 4)
    half[..., :2] = 1
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    assert channel_means(half, mask).item() == 1.0                              # only valid pixels count


def test_mask_excludes_padding_from_foreground():
    x = rectangle()
    out, mask = zoom(x, 0.5)                                                    # grey (0) padding, masked
    assert object_size(out).item() == 256 / 1024     # unmasked: the padding is the border, the pasted image the "object"
    assert object_size(out, mask).item() == 16 / 1024
    assert centroid(out, mask).tolist() == [[15.5, 15.5]]


def test_empty_foreground_gives_nan():
    flat = torch.zeros(1, 3, 8, 8)
    assert object_size(flat).item() == 0
    assert torch.isnan(centroid(flat)).all() and torch.isnan(dominant_orientation(flat)).all()


def test_target_change():
    assert target_change("zoom", 2.0).item() == 4.0
    assert target_change("zoom", torch.tensor([0.5, 3.0])).tolist() == [0.25, 9.0]
    assert target_change("shiftx", 5, batch_size=2).tolist() == [5.0, 5.0]
    assert target_change("rotate2d", 100.0).item() == -80.0
    assert target_change("brightness", -0.25).item() == -0.25
    assert target_change("color", torch.tensor([0.1, 0.2, 0.3]), batch_size=2).shape == (2, 3)
    assert set(ATTRIBUTES) == set(EDITS)
    with pytest.raises(ValueError, match="unknown edit"):
        target_change("warp", 1.0)
    with pytest.raises(ValueError, match="finite"):
        target_change("zoom", float("nan"))
    with pytest.raises(ValueError, match="positive"):
        target_change("zoom", 0.0)
    with pytest.raises(ValueError, match=r"\(C,\) or \(B, C\)"):
        target_change("color", 0.1)


@pytest.mark.parametrize("edit, alpha, tol", [
    ("zoom", 2.0, 0.0), ("zoom", 0.5, 0.0), ("zoom", 1.5, 0.15), ("zoom", 0.75, 0.15),
    ("shiftx", 5, 0.0), ("shiftx", -7, 0.0), ("shifty", 4, 0.0), ("shifty", -3, 0.0),
    ("rotate2d", 30.0, 3.0), ("rotate2d", -40.0, 3.0),
    ("color", torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64), 1e-12),
    ("brightness", 0.4, 1e-12), ("brightness", -0.5, 1e-12),
])
def test_each_edit_moves_its_attribute_as_target_change_says(edit, alpha, tol):
    x = bar(20.0, size=32, half_length=9.5) if edit == "rotate2d" else rectangle(rows=(10, 22), cols=(12, 20))
    edited, mask = EDITS[edit](x, alpha)
    got = observed_change(edit, x, edited, mask, threshold=1.0)                # half-contrast boundary
    want = target_change(edit, alpha, batch_size=1)
    assert got.shape == want.shape
    if edit == "zoom":
        assert abs(got.item() / want.item() - 1) <= tol
    else:
        assert (got - want).abs().max().item() <= tol


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        object_size(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="mask must have shape"):
        centroid(torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8))
    with pytest.raises(ValueError, match="threshold"):
        foreground(torch.zeros(1, 3, 8, 8), threshold=-1.0)
    with pytest.raises(ValueError, match="C = 3"):
        luminance(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="NaN or inf"):
        channel_means(torch.full((1, 3, 4, 4), float("inf")))
