import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.chapters import hypersphere as hs


def test_every_notebook_has_every_scale_and_unknowns_are_errors():
    for nb in hs.CONFIGS:
        for scale in ("smoke", "short", "paper"):
            assert hs.config(nb, scale).scale == scale
    with pytest.raises(ValueError, match="valid: method, plots, sweep, direct"):
        hs.config("nope", "smoke")


def test_sweep_has_at_least_eight_encoders_including_the_extremes():
    specs = hs.sweep_specs(hs.config("sweep", "smoke"))
    assert len(specs) >= 8
    names = [s[0] for s in specs]
    assert "align only" in names and "uniform only" in names and "random" in names


@pytest.mark.parametrize("objective", hs.OBJECTIVES)
def test_train_and_evaluate_every_objective(tiny_data, objective):
    cfg = hs.config("sweep", "smoke", epochs=1, batch_size=20, eval_points=20, probe_epochs=2)
    trained = hs.train_encoder(cfg, tiny_data, objective, progress=False)
    row = hs.evaluate(trained, tiny_data, cfg)
    assert 0 <= row["align"] <= 4 and row["uniform"] <= 0 and 0 <= row["probe_acc"] <= 100
    if objective != "random":
        assert len(trained.history) == 1 and math.isfinite(trained.history[0]["loss"])


def test_unknown_objective_or_hyperparameter(tiny_data):
    cfg = hs.config("sweep", "smoke")
    with pytest.raises(ValueError, match="valid: random, supervised"):
        hs.train_encoder(cfg, tiny_data, "byol")
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        hs.train_encoder(cfg, tiny_data, "contrastive", temperature=0.1)


def test_align_uniform_objective_is_the_library_loss():
    z1 = F.normalize(torch.randn(16, 4, dtype=torch.float64), dim=1)
    z2 = F.normalize(torch.randn(16, 4, dtype=torch.float64), dim=1)
    from reprobook.losses import align_uniform_loss
    loss, _ = hs.align_uniform_objective(0.5)(z1, z2, None)
    assert loss.item() == pytest.approx(align_uniform_loss(z1, z2, lam=0.5).item(), rel=1e-12)


def test_contrastive_gap_shrinks():
    g = torch.Generator().manual_seed(0)
    bank = F.normalize(torch.randn(300, 8, generator=g), dim=1)
    z1 = bank[:64]
    z2 = F.normalize(z1 + 0.2 * torch.randn(64, 8, generator=g), dim=1)
    gap = hs.contrastive_gap(z1, z2, bank, 0.5, [1, 16, 1024], draws=4)
    assert abs(gap["gap"][0]) > abs(gap["gap"][1]) > abs(gap["gap"][2])
    assert gap["limit"] == pytest.approx(gap["align_term"] + gap["uniform_term"])
