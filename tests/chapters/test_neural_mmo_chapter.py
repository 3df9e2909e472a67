"""Chapter 10's module (reprobook.chapters.neural_mmo): configurations, the film strip, niches."""
from __future__ import annotations

import numpy as np
import pytest

from reprobook.chapters import neural_mmo as nm
from reprobook.models.nmmo_policy import PopulationPolicy


@pytest.mark.parametrize("override, match", [({"updates": -1}, "updates"), ({"populations": []}, "populations"),
                                              ({"populations": [64], "max_agents": 32}, "exceed"),
                                              ({"gamma": 1.5}, "gamma"), ({"lr": float("nan")}, "lr"),
                                              ({"grad_clip": 0.0}, "grad_clip"), ({"updates": 0}, "updates"),
                                              ({"eval_ticks": 2000}, "horizon"), ({"backend": "mpi"}, "backend")])
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


def test_train_populations_trains_once_then_reads_the_cache(tmp_path, monkeypatch):
    from reprobook.train import cache
    monkeypatch.setattr(cache, "CACHE", tmp_path)
    cfg = nm.config("niches", "smoke", size=16, border=4, max_agents=8, updates=2, decisions=64, minibatch=64)
    policy, hist = nm.train_populations(cfg, 2, device="cpu", progress=False)
    assert list(hist.index) == [0, 1] and (hist["decisions"] >= 32).all() and np.isfinite(hist["loss"]).all()
    again, hist2 = nm.train_populations(cfg, 2, device="cpu", progress=False)
    assert hist2.equals(hist)
    for k, v in policy.state_dict().items():
        assert (again.state_dict()[k] == v).all()
    assert len(list(tmp_path.glob("*.pt"))) == 1


def test_rollout_throughput_local_backend():
    cfg = nm.config("scale", "smoke", size=16, border=4, max_agents=8, ray_workers=[1, 2], ray_decisions=32)
    out = nm.rollout_throughput(cfg, backend="local")
    assert list(out.index) == [1, 2] and (out["decisions"] >= [32, 64]).all() and (out["decisions_per_s"] > 0).all()
