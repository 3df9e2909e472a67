"""Chapter 07's module (reprobook.chapters.gan_steerability): configurations, walk coordinates,
cached generators and walks, galleries and curves on tiny generators."""
from __future__ import annotations

import math

import pytest
import torch

from reprobook.chapters import gan_steerability as gs
from reprobook.steer import IDENTITY_ALPHAS, NonlinearWalk, walk_alpha
from reprobook.train import cache


@pytest.fixture(autouse=True)
def _tmp_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(cache, "CACHE", tmp_path)


def _tiny(**kw):
    base = dict(gan_steps=3, gan_batch=4, ngf=4, nz=8, walk_steps=3, cifar_walk_steps=3, walk_batch=2,
                eval_samples=4, variability_size=8, variability_gan_steps=2, variability_batch=4)
    return gs.config("limits", "smoke", **dict(base, **kw))


def _images(n=16, seed=0):
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("override, match", [({"walk_steps": 0}, "walk_steps"), ({"walk_lr": -1.0}, "walk_lr"),
                                              ({"walk_lr": {"zoom": 1e-3}}, "walk_lr"),
                                              ({"nn_lr": dict.fromkeys(gs.EDIT_NAMES, float("inf"))}, "nn_lr"),
                                              ({"steer_edit": "blur"}, "steer_edit"), ({"augment_p": 2.0}, "augment_p"),
                                              ({"augment_p": "0.5"}, "augment_p"), ({"lam": -1.0}, "lam"),
                                              ({"gan_batch": 1}, "gan_batch"), ({"train_per_class": -5}, "train_per_class"),
                                              ({"variability_fractions": 0.5}, "variability_fractions"),
                                              ({"nn_eps": 0}, "nn_eps")])
def test_bad_configs(override, match):
    with pytest.raises(ValueError, match=match):
        gs.config("galleries", "smoke", **override)
    with pytest.raises(ValueError, match="unknown notebook"):
        gs.config("videos", "smoke")


@pytest.mark.parametrize("edit", ["zoom", "shiftx", "rotate2d", "brightness"])
def test_nonlinear_alphas_land_on_whole_steps(edit):
    """The NN walk's training α, mapped to its coordinate, is n ε exactly; shifts move whole pixels."""
    cfg = gs.config("galleries", "smoke")
    eps, steps = gs.nn_eps(edit, cfg, 64), cfg.nn_steps[edit]
    sampler = gs.nonlinear_alpha(edit, steps, eps, 64)
    g = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(80):
        alpha = sampler(3, g)
        coord = gs.walk_coordinate(edit, 64)(alpha) / eps
        assert torch.allclose(coord, coord.round(), atol=1e-4) and coord.abs().max() <= steps + 1e-4
        if edit == "shiftx":
            assert torch.equal(alpha, alpha.round())
        seen.add(int(coord[0].round()))
    assert seen == set(range(-steps, steps + 1))
    assert gs.nn_eps("zoom", cfg, 64) == pytest.approx(math.log(2) / 2)          # a factor √2 per step
    assert gs.nn_eps("shiftx", cfg, 64) * 32 == 6 and gs.nn_eps("shiftx", cfg, 32) * 16 == 3


@pytest.mark.parametrize("edit", gs.NONLINEAR_EDITS)
def test_the_grids_are_whole_steps_of_the_nonlinear_walks(edit):
    """Curves and galleries build their targets at α; the NN walk realises α itself on these grids."""
    cfg = gs.config("limits", "paper")
    for size in (32, 64):
        module = NonlinearWalk(8, steps=cfg.nn_steps[edit], eps=gs.nn_eps(edit, cfg, size))
        for a in gs.CURVE_ALPHAS[edit] + gs.GALLERY_ALPHAS[edit]:
            assert gs.realised_alpha(module, edit, gs.shift_pixels(edit, a, size), size) == pytest.approx(a)
        off = 1.3 if edit == "zoom" else 0.25                                       # not a whole step: snapped
        assert gs.realised_alpha(module, edit, off, size) != pytest.approx(off)


def test_walk_coordinate_is_walk_alpha_on_the_tensors_device():
    a = torch.tensor([0.5, 2.0])
    assert torch.allclose(gs.walk_coordinate("zoom", 32)(a), walk_alpha("zoom", a, 32))
    assert torch.allclose(gs.walk_coordinate("shiftx", 32)(torch.tensor([8.0])), torch.tensor([0.5]))


def test_cifar_gan_is_cached_per_data_and_variant():
    cfg, images = _tiny(), _images()
    G1, walk, h1 = gs.cifar_gan(cfg, images, progress=False)
    assert walk is None and len(h1["d_loss"]) == 3 and not G1.training
    G2, _, h2 = gs.cifar_gan(cfg, images, progress=False)                         # a cache hit: same weights
    assert all(torch.equal(a, b) for a, b in zip(G1.state_dict().values(), G2.state_dict().values()))
    G3, _, h3 = gs.cifar_gan(cfg, _images(seed=1), progress=False)                 # other images: trained anew
    assert h3 != h1
    rng = torch.random.get_rng_state()
    gs.cifar_gan(cfg, images, progress=False)
    assert torch.equal(rng, torch.random.get_rng_state())                          # the caller's RNG untouched
    Gj, wj, hj = gs.cifar_gan(cfg, images, variant="joint", progress=False)
    assert wj is not None and len(hj["edit_loss"]) == 3
    with pytest.raises(ValueError, match="variant"):
        gs.cifar_gan(cfg, images, variant="distilled", progress=False)


def test_a_walk_is_cached_per_generator_and_every_nonlinear_edit_trains():
    cfg, images = _tiny(), _images()
    G, _, _ = gs.cifar_gan(cfg, images, progress=False)
    H, _, _ = gs.cifar_gan(cfg, _images(seed=2), progress=False)
    _, l1 = gs.walk(G, "zoom", "linear", cfg, progress=False)
    _, l2 = gs.walk(H, "zoom", "linear", cfg, progress=False)                    # same name, other weights
    assert l1 != l2
    walks = gs.walks_for(G, cfg, progress=False, edits="zoom", nonlinear=gs.EDIT_NAMES)
    assert set(walks) == {("zoom", "linear")} | {(e, "nonlinear") for e in gs.EDIT_NAMES}


def test_walks_galleries_curves_and_reach_on_a_tiny_generator():
    cfg, images = _tiny(), _images()
    G, _, _ = gs.cifar_gan(cfg, images, progress=False)
    walks = gs.walks_for(G, cfg, name="tiny", progress=False)
    assert set(walks) == {(e, "linear") for e in gs.EDIT_NAMES} | {(e, "nonlinear") for e in gs.NONLINEAR_EDITS}
    assert all(len(losses) == cfg.cifar_walk_steps for _, losses in walks.values())
    g = gs.gallery(G, walks, "zoom", samples=2)
    assert g["target"].shape == g["linear"].shape == g["nonlinear"].shape == (2, 5, 3, 32, 32)
    assert torch.allclose(g["target"][:, 2], g["linear"][:, 2], atol=1e-6)      # α = 1: nothing moves
    rows = gs.gallery_rows({"zoom": g})
    assert list(rows) == ["zoom\ntarget", "zoom\nlinear", "zoom\nnonlinear"] and 0 <= rows["zoom\nlinear"][0].min()
    curves = gs.curves(G, walks, cfg)
    assert set(curves.edit) == set(gs.EDIT_NAMES) and (curves["size"] == 32).all()
    ident = curves[curves.alpha == curves.edit.map(IDENTITY_ALPHAS)]
    assert len(ident) == len(walks) and (ident.loss.abs() < 1e-6).all()          # the identity α moves nothing
    table = gs.reach_table(curves)
    assert list(table.columns) == ["edit", "walk", "reach", "reach_all", "explained_train", "explained_beyond"]
    assert len(table) == len(walks)
    loss = gs.loss_table(walks)
    assert (loss.ratio > 0).all()


def test_toy_walk_reaches_the_closed_form_optimum():
    out = gs.toy_walk(gs.config("method", "smoke"))
    assert out["trace"].rel_error.iloc[-1] < 0.01 and out["trace"].cos_min.iloc[-1] > 0.999
    assert len(out["losses"]) == gs.config("method", "smoke").toy_steps


def test_variability_trains_one_generator_per_subset():
    cfg, images = _tiny(variability_fractions=[0.5, 1.0]), _images(32)
    df = gs.variability(cfg, images, progress=False)
    assert list(df.fraction) == [0.5, 1.0] and df.data_spread.iloc[0] < df.data_spread.iloc[1]
    assert df.sample_spread.nunique() == 2                       # two different generators
    assert set(gs.variability_correlation(df)) == {"r_reach", "r_samples"}
