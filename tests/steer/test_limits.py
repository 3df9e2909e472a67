"""Limits of steerability (notebook 3 of 07-gan-steerability): attribute curves, reach, the
data-variability measures; exact on the toy generator whose brightness walk is known."""
import math

import pytest
import torch

from reprobook.steer import edit_alpha
from reprobook.steer.limits import attribute_curve, attribute_spread, pearson, reach, spread_subsets
from reprobook.steer.toy import ToyLinearGenerator


def _exact_brightness_walk(G):
    w = G.optimal_colour_walk().sum(dim=0).float()                 # A w = Σ_c e_c: +1 on every pixel
    return lambda z, a: z + torch.as_tensor(a, dtype=z.dtype).reshape(-1, 1) * w


def test_an_exact_walk_matches_the_target_and_a_still_walk_does_not():
    G = ToyLinearGenerator(nz=8, channels=3, height=4, width=4)
    z = 0.01 * torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    alphas = [-0.5, -0.25, 0.0, 0.25, 0.5]
    rows = attribute_curve(G, _exact_brightness_walk(G), "brightness", alphas, z)
    for r, a in zip(rows, alphas):
        assert r["expected"] == a and r["target"] == pytest.approx(a, abs=1e-6)
        assert r["model"] == pytest.approx(a, abs=1e-5) and r["loss"] == pytest.approx(0, abs=1e-9)
        assert r["loss_still"] == pytest.approx(a * a, rel=1e-5)
        assert (math.isnan(r["explained"]) if a == 0 else r["explained"] == pytest.approx(1, abs=1e-6))
    assert reach(rows, "brightness") == pytest.approx(1, abs=1e-5)
    still = attribute_curve(G, lambda z, a: z, "brightness", alphas, z)
    assert reach(still, "brightness") == pytest.approx(0, abs=1e-6)
    assert all(r["explained"] == pytest.approx(0, abs=1e-6) for r in still if r["alpha"] != 0)
    half = attribute_curve(G, lambda z, a: _exact_brightness_walk(G)(z, 0.5 * torch.as_tensor(a)), "brightness",
                           alphas, z)
    assert reach(half, "brightness") == pytest.approx(0.5, abs=1e-5)
    assert half[0]["explained"] == pytest.approx(0.75, abs=1e-5)   # 1 − (α/2)² / α²


def test_reach_uses_log_ratios_for_zoom_and_skips_unmeasured_ends():
    rows = [dict(alpha=0.5, target=0.25, model=0.5), dict(alpha=1.0, target=1.0, model=1.0),
            dict(alpha=2.0, target=4.0, model=2.0), dict(alpha=4.0, target=0.0, model=1.0)]
    assert reach(rows, "zoom") == pytest.approx(0.5)               # log 4 of log 16, α = 4 skipped
    assert math.isnan(reach(rows[:1], "zoom"))


def test_spread_measures_and_subsets():
    lum = torch.arange(100, dtype=torch.float64)
    subsets = spread_subsets(lum, [0.1, 0.5, 1.0], 10)
    spans = [lum[i].max() - lum[i].min() for i in subsets]
    assert [len(i) for i in subsets] == [10, 10, 10] and spans[0] < spans[1] < spans[2] and spans[2] == 99
    assert all(abs(lum[i].mean() - 49.5) <= 1 for i in subsets)     # centred on the median
    images = torch.stack([torch.full((3, 4, 4), v) for v in (-0.5, 0.0, 0.5)])
    assert attribute_spread(images, "brightness") == pytest.approx(0.5)
    assert pearson([1, 2, 3], [2, 4, 6.5]) == pytest.approx(4.5 / math.sqrt(2 * 61 / 6))  # Σxy / √(Σx² Σy²), centred
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_official_training_alphas():
    g = torch.Generator().manual_seed(0)
    batches = [edit_alpha("zoom")(8, g) for _ in range(2000)]
    assert all(torch.all(b == b[0]) for b in batches)                 # one zoom per batch, as officially
    zoom = torch.stack([b[0] for b in batches])
    assert zoom.min() > 0.25 and zoom.max() <= 4 and (zoom > 1).float().mean().item() == pytest.approx(0.5, abs=0.05)
    # the official crop fraction u ~ U[0.25, 1) zooms in by 1 / u: a mean factor E[1/u] = ln 4 / 0.75
    assert zoom[zoom > 1].mean().item() == pytest.approx(math.log(4) / 0.75, rel=0.05)
    shift = edit_alpha("shiftx", 32, per_sample=True)(4000, g)
    assert set(shift.abs().unique().tolist()) == set(float(v) for v in range(1, 16))
    assert (shift > 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
    one = edit_alpha("rotate2d")(6, g)
    assert torch.all(one == one[0])
    rot = edit_alpha("rotate2d", per_sample=True)(4000, g)
    assert rot.abs().max() == 44 and rot.abs().min() == 1
    colour = edit_alpha("color")(500, g)
    assert colour.shape == (500, 3) and colour.std(dim=0).min() > 0.25      # per sample and channel
    assert edit_alpha("brightness")(5, g).shape == (5,)


def test_bad_inputs():
    G = ToyLinearGenerator()
    z = torch.zeros(2, 8)
    with pytest.raises(ValueError, match="brightness"):
        attribute_curve(G, lambda z, a: z, "color", [0.1], z)
    with pytest.raises(ValueError, match="finite"):
        attribute_curve(G, lambda z, a: z, "brightness", [float("nan")], z)
    with pytest.raises(ValueError, match="empty"):
        attribute_curve(G, lambda z, a: z, "brightness", [], z)
    with pytest.raises(ValueError, match="image size"):
        edit_alpha("shiftx")
    with pytest.raises(ValueError, match="unknown edit"):
        edit_alpha("blur")
    with pytest.raises(ValueError, match="fractions"):
        spread_subsets(torch.arange(10.0), [0.0], 5)
