"""Chapter 10's module (reprobook.chapters.neural_mmo): configurations, the film strip, niches."""
from __future__ import annotations

import numpy as np
import pytest

from reprobook.chapters import neural_mmo as nm
from reprobook.models.nmmo_policy import PopulationPolicy


@pytest.mark.parametrize("override, match", [({"updates": -1}, "updates"), ({"populations": []}, "populations"),
                                              ({"populations": [64], "max_agents": 32}, "exceed"),
                                              ({"gamma": 1.5}, "gamma"), ({"lr": float("nan")}, "lr")])
def test_bad_configs(override, match):
    with pytest.raises(ValueError, match=match):
        nm.config("niches", "smoke", **override)
    with pytest.raises(ValueError, match="unknown notebook"):
        nm.config("combat", "smoke")


def test_film_strip_frames_and_vitals():
    cfg = nm.config("environment", "smoke", film_ticks=12, film_frames=3)
    out = nm.film_strip(cfg)
    assert sorted(out["frames"]) == [0, 6, 12]
    side = cfg.size + 2 * cfg.border
    assert out["frames"][6].shape == (side, side, 3)
    assert len(out["vitals"]) == 13 and (out["vitals"]["agents"] >= 0).all()


def test_niches_counts_add_up():
    cfg = nm.config("niches", "smoke", eval_ticks=30)
    pol = PopulationPolicy(populations=4, hidden=8)
    rec = nm.niches(cfg, pol)
    assert rec["visits"].shape[0] == 4 and rec["visits"].sum() > 0
    assert rec["per_population"]["decisions"].sum() == rec["decisions"].sum()
    s = rec["summary"]
    assert 0 <= s["mi_corrected_bits"] <= s["mi_bits"] <= s["max_bits"] == 2.0 and 0 < s["coverage"] <= 1
    assert np.all((rec["per_population"][["attack_share", "forage_share"]] >= 0).to_numpy())
