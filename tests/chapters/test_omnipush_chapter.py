"""The Omnipush chapter module on a tiny simulated benchmark: configs, statistics, the pipeline, errors."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from reprobook.chapters import omnipush
from reprobook.data import omnipush as op


def tiny_cfg(notebook="benchmark", **kw):
    settings = dict(train_objects=3, test_objects=2, plywood_objects=2, pushes=12, ks=[2, 5], eval_ks=[1, 5],
                    hidden=8, np_steps=3, pooled_steps=3, maml_steps=2, batch_tasks=2, maml_batch=2, workers=1,
                    calibration_objects=2, calibration_pushes=3, prediction_objects=2, prediction_k=2)
    return omnipush.config(notebook, "smoke", **{**settings, **kw})


@pytest.fixture
def tiny_world(monkeypatch, tmp_path, data_root):
    """Simulated datasets and trained models go to temporary folders."""
    import reprobook.train.cache as cache

    monkeypatch.setenv("REPROBOOK_CACHE", str(tmp_path / "data-cache"))
    monkeypatch.setattr(cache, "CACHE", tmp_path / "models")
    return tmp_path


@pytest.mark.parametrize("notebook", list(omnipush.CONFIGS))
@pytest.mark.parametrize("scale", ["smoke", "short", "paper"])
def test_every_config_is_valid(notebook, scale):
    cfg = omnipush.config(notebook, scale)
    assert cfg.prediction_k in cfg.ks and max(cfg.eval_ks) < cfg.pushes


@pytest.mark.parametrize("override, match", [
    (dict(ks=[10, 80]), "k < pushes"),
    (dict(ks=[]), "non-empty list"),
    (dict(ks=10), "non-empty list"),
    (dict(eval_ks=[0]), "positive int"),
    (dict(pushes=0), "pushes must be a positive int"),
    (dict(train_objects=0), "train_objects"),
    (dict(np_steps=1.5), "np_steps"),
    (dict(targets="some"), "targets"),
    (dict(prediction_k=80), "prediction_k"),
    (dict(prediction_k=20), "trained context sizes"),
    (dict(ks={10, 50}), "non-empty list"),
    (dict(hidden=130), "multiple of 4"),
    (dict(maml_inner_lr=-1.0), "maml_inner_lr"),
    (dict(np_lr="x"), "np_lr"),
    (dict(sim_seed=-1), "sim_seed"),
    (dict(decoder_std="relu"), "decoder_std"),
    (dict(np_lr_schedule="cosine"), "np_lr_schedule"),
    (dict(maml_inner_steps=-1), "maml_inner_steps"),
    (dict(unknown=1), "unknown parameter"),
])
def test_bad_configs_are_clear_errors(override, match):
    with pytest.raises(ValueError, match=match):
        omnipush.config("benchmark", "smoke", **override)
    with pytest.raises(ValueError, match="unknown notebook"):
        omnipush.config("nope", "smoke")


def test_paper_config_is_the_official_recipe():
    """omnipush_ANP.py: LatentModel(num_hidden=128), exp decoder std, Noam schedule, 5,000 epochs of
    ceil(200 / 64) = 4 batches of 64 objects, shots 10 and 50; omnipush_pooldata.py: 3,000 epochs."""
    cfg = omnipush.config("benchmark", "paper")
    official = dict(hidden=128, decoder_std="exp", np_lr_schedule="noam", np_steps=5_000 * 4, batch_tasks=64,
                    pooled_steps=3_000 * 4, ks=[10, 50], targets="rest", pushes=250, train_objects=None,
                    test_objects=None)
    assert {k: cfg[k] for k in official} == official


def test_larger_then_smaller_configuration_share_the_cache(tiny_world):
    big = omnipush.simulated_benchmark(tiny_cfg(train_objects=4), progress=False)
    small = omnipush.simulated_benchmark(tiny_cfg(), progress=False)
    assert len(big.train) == 4 and len(small.train) == 3
    # the folder keeps the larger set's objects, which the rewritten split.json no longer lists
    assert small.reports[0].reused, "objects both sets share are not simulated again"
    assert set(small.train.ids) | set(small.test.ids) <= {p.name[:8] for p in small.folder.glob("*_X_3_not_norm.npy")}


def test_predictions_of_the_nps_mix_over_the_latent(tiny_world):
    cfg = tiny_cfg()
    data = omnipush.simulated_benchmark(cfg, progress=False)
    models, _ = omnipush.train_models(cfg, data, methods=("ANP",), progress=False)
    one = omnipush.predictions("ANP", models[("ANP", 2)], data, 2, 0, cfg, samples=1)
    many = omnipush.predictions("ANP", models[("ANP", 2)], data, 2, 0, cfg, samples=16)
    assert one["mean"].shape == many["mean"].shape == (cfg.pushes - 2, 3)
    # with one draw the spread of the means adds nothing; a mixture's variance is at least the
    # mean of its components' variances (which, for a latent NP, vary little between draws)
    assert (many["std"] > 0).all() and np.isfinite(many["std"]).all()
    with pytest.raises(ValueError, match="samples"):
        omnipush.predictions("ANP", models[("ANP", 2)], data, 2, 0, cfg, samples=0)


def test_bad_inputs_of_helpers():
    with pytest.raises(ValueError, match="n must be"):
        omnipush.spread(["a", "b"], 0)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        omnipush.outcome_statistics(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        omnipush.outcome_statistics(np.zeros(3))


def test_spread_picks_evenly_and_keeps_order():
    keys = [f"k{i}" for i in range(10)]
    assert omnipush.spread(keys, 3) == ["k0", "k4", "k9"] or omnipush.spread(keys, 3) == ["k0", "k5", "k9"]
    assert omnipush.spread(keys, None) == keys and omnipush.spread(keys, 20) == keys
    picked = omnipush.spread(keys, 5)
    assert picked == sorted(set(picked), key=keys.index) and len(picked) == 5


def test_outcome_statistics_by_hand():
    y = np.array([[0.0, 0.0, 0.0], [0.0005, 0.0, 0.01], [0.03, 0.04, 0.5], [-0.006, 0.008, -0.1]])
    s = omnipush.outcome_statistics(y)
    assert s["missed"] == 0.5                                  # two pushes move it < 1 mm
    assert math.isclose(s["displacement p50"], np.median([0, 0.0005, 0.05, 0.01]))
    assert math.isclose(s["turn per metre p50"], np.median([0.5 / 0.05, 0.1 / 0.01]))
    assert math.isclose(s["std dtheta"], y[:, 2].std())


def test_real_outcomes_are_the_real_poses_in_their_start_frames(data_root):
    out = omnipush.real_outcomes()
    assert out.shape == (11152, 3)
    start, end = op.load_real_poses()
    # the displacement's length and the turn do not depend on the frame
    assert np.allclose(np.hypot(out[:, 0], out[:, 1]), np.hypot(*(end[:, 1:3] - start[:, 1:3]).T))
    assert np.all(np.abs(out[:, 2]) <= math.pi)


def test_object_table_and_grammar_counts(data_root):
    split = op.load_split()
    table = omnipush.object_table(split)
    assert len(table) == 250 and set(table["role"]) == {"train", "test"}
    assert table["mass (g)"].min() > 100 and table.loc["1a1a1a1a", "com offset (mm)"] < 1e-9
    counts = omnipush.grammar_counts(split)
    assert counts.values.sum() == 1000                          # four sides per object
    assert counts.loc["4 (rectangular)", "a"] == 198            # counted from split.json's ids


def test_draw_object_returns_the_centre_of_mass_at_the_pose():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    com = omnipush.draw_object(ax, "1c1a1a1a", (0.1, 0.2, math.pi / 2))
    local = omnipush.mass_properties("1c1a1a1a").com
    assert np.allclose(com, (0.1 - local[1], 0.2 + local[0]))
    assert len(ax.patches) == len(omnipush.object_pieces("1c1a1a1a"))
    plt.close(fig)


def test_the_pipeline_runs_caches_and_scores(tiny_world):
    cfg = tiny_cfg()
    data = omnipush.simulated_benchmark(cfg, progress=False)
    assert (len(data.train), len(data.test), len(data.plywood), len(data.plywood_abs)) == (3, 2, 2, 2)
    assert data.plywood.ids == data.plywood_abs.ids, "the surface shift is measured on the same objects"
    assert not torch.equal(data.plywood.y, data.plywood_abs.y)
    assert data.train.X.shape == (3, 12, 3)
    # normalised with the simulated train statistics: train pushes have mean 0 and std 1
    flat = data.train.y.reshape(-1, 3).double()
    assert torch.allclose(flat.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(flat.std(0), torch.ones(3, dtype=torch.float64), atol=1e-5)
    again = omnipush.simulated_benchmark(cfg, progress=False)
    assert all(not r.simulated for r in again.reports), "the second call reuses the simulated files"
    assert torch.equal(again.train.X, data.train.X)

    models, histories = omnipush.train_models(cfg, data, progress=False)
    assert set(models) == {(m, k) for m in omnipush.METHODS for k in cfg.ks}
    assert models[("MLP", 2)] is models[("MLP", 5)], "the pooled MLP is trained once"
    assert len(histories[("ANP", 2)]) == cfg.np_steps and len(histories[("MAML", 5)]) == cfg.maml_steps
    cached, _ = omnipush.train_models(cfg, data, progress=False)
    for key, model in models.items():
        for a, b in zip(model.state_dict().values(), cached[key].state_dict().values()):
            assert torch.equal(a, b), f"{key} not reloaded from the cache"

    results = omnipush.benchmark(cfg, data, models)
    assert isinstance(results, pd.DataFrame)
    assert len(results) == len(omnipush.TEST_SETS) * len(omnipush.METHODS) * len(cfg.ks)
    assert np.isfinite(results.values).all() and (results["RMSE"] > 0).all()
    curve = omnipush.context_curve(cfg, data, models, 5)
    assert len(curve) == len(omnipush.METHODS) * len(cfg.eval_ks)

    p = omnipush.predictions("ANP", models[("ANP", 2)], data, 2, 1, cfg)
    assert p["id"] == data.test.ids[1]
    assert all(p[k].shape == (cfg.pushes - 2, 3) for k in ("X", "y", "mean", "std"))
    assert (p["std"] > 0).all()
    # physical units: the true outcomes are the written (not normalised) files' rows
    X, y = op.read_object(data.folder, p["id"])
    assert np.allclose(p["y"], y[2:], atol=1e-6) and np.allclose(p["X"], X[2:], atol=1e-6)
    with pytest.raises(ValueError, match="object_index"):
        omnipush.predictions("ANP", models[("ANP", 2)], data, 2, 5, cfg)
    with pytest.raises(ValueError, match="not 'MAML'"):
        omnipush.predictions("MAML", models[("MAML", 2)], data, 2, 0, cfg)
    with pytest.raises(ValueError, match="unknown task set"):
        data.tasks("validation")


def test_calibration_table_has_the_real_and_each_protocol(tiny_world):
    cfg = tiny_cfg("dataset")
    table, outcomes = omnipush.calibration(cfg)
    assert list(table.index) == ["real", "uncalibrated", "calibrated"]
    assert outcomes["calibrated"].shape == (cfg.calibration_objects * cfg.calibration_pushes, 3)
    assert table.loc["real", "missed"] == pytest.approx(omnipush.outcome_statistics(omnipush.real_outcomes())["missed"])


def test_example_push_moves_the_object_away_from_the_pusher():
    push = omnipush.example_push("4a4a4a4a", start=(0.078, 0.0), direction=math.pi)
    assert push.delta[0] < -0.01 and abs(push.delta[1]) < 1e-3 and abs(push.delta[2]) < 0.02
