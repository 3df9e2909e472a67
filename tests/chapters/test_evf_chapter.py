"""The EVF chapter module (book/09-evf) on tiny rendered pushes: configs, clips, training, caching,
fine-tuning, evaluation."""
import math

import pytest
import torch

from reprobook.chapters import evf

TINY = dict(train_objects=3, test_objects=2, pushes=4, experiences=2, eval_targets=2, batch=2, meta_batch=2,
            inner_steps=1, steps=4, finetune_steps=2)


def tiny_cfg(**kw):
    return evf.config("prediction", "smoke", **{**TINY, **kw})


@pytest.fixture(scope="module")
def tiny_data(data_root, tmp_path_factory):
    import reprobook.train.cache as cache

    cfg = tiny_cfg()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cache, "CACHE", tmp_path_factory.mktemp("clips"))
        return cfg, evf.clips(cfg, "train"), evf.clips(cfg, "test")


def test_clips_are_rendered_once(data_root, model_cache, monkeypatch):
    cfg = tiny_cfg(train_objects=2, pushes=3, experiences=1, eval_targets=1)
    first = evf.clips(cfg, "train")
    assert len(list(model_cache.glob("clips-*.pt"))) == 1
    def render_again(*args, **kwargs):
        raise RuntimeError("rendered again")

    monkeypatch.setattr(evf, "push_videos", render_again)
    again = evf.clips(cfg, "train")
    assert again.ids == first.ids and torch.equal(again.video, first.video) and torch.equal(again.states, first.states)
    with pytest.raises(RuntimeError, match="rendered again"):   # other settings: rendered anew
        evf.clips(tiny_cfg(train_objects=2, pushes=3, experiences=1, eval_targets=1, sim_seed=1), "train")


@pytest.fixture
def model_cache(monkeypatch, tmp_path):
    import reprobook.train.cache as cache

    monkeypatch.setattr(cache, "CACHE", tmp_path / "models")
    return tmp_path / "models"


@pytest.mark.parametrize("notebook", list(evf.CONFIGS))
@pytest.mark.parametrize("scale", ["smoke", "short", "paper"])
def test_every_config_is_valid(notebook, scale):
    cfg = evf.config(notebook, scale)
    assert cfg.context < cfg.frames and cfg.experiences + cfg.eval_targets <= cfg.pushes


def test_paper_config_holds_the_official_sizes():
    cfg = evf.config("method", "paper")
    assert (cfg.image_size, cfg.frames, cfg.context, cfg.embedding_dim) == (64, 12, 2, 5)
    # evf-public README: debug.json (ngf 4, L1, KL 0.001, lr 1e-3) with batch_size=8; train_evf.py:
    # meta_batch_size 8, exp_size 5, inner_iters 1, meta_step_size 1; SAVP: 4 CDNA transforms, 100k steps
    assert (cfg.kl_weight, cfg.lr, cfg.batch, cfg.meta_batch, cfg.num_masks) == (0.001, 1e-3, 8, 8, 4)
    assert (cfg.experiences, cfg.inner_steps, cfg.outer_lr, cfg.steps, cfg.pixel_loss) == (5, 1, 1.0, 100_000, "l1")
    assert list(cfg.hidden) == [4, 8, 16] and cfg.pushes == 250 and cfg.train_objects is None
    assert evf.meta_steps(cfg) == 12_500
    # SAVP defaults: inverse-sigmoid scheduled sampling k = 900, KL annealed linearly over steps 50k-100k
    model = evf.EVF.from_config(cfg)
    assert model.schedule_sampling_k == 900.0 and model.kl_anneal == (50_000, 100_000)
    assert sum(evf.SHORT_BUDGET_S.values()) <= 420 and set(evf.SHORT_BUDGET_S) == set(evf.CONFIGS)


@pytest.mark.parametrize("override, match", [
    (dict(context=8), "context"),
    (dict(image_size=18), "multiple of 4"),
    (dict(experiences=6), "pushes"),
    (dict(eval_targets=8), "exceeds"),
    (dict(hidden=[4, 8]), "hidden"),
    (dict(lr=0), "lr"),
    (dict(kl_weight=float("nan")), "kl_weight"),
    (dict(meta_batch=0), "meta_batch"),
    (dict(steps=3), "one meta-step"),
    (dict(pixel_loss="l3"), "pixel_loss"),
    (dict(schedule_sampling_k=-1), "schedule_sampling_k"),
    (dict(kl_anneal=[0.8, 0.2]), "kl_anneal"),
    (dict(kl_anneal=0.5), "kl_anneal"),
    (dict(batch=True), "batch"),
    (dict(nonsense=1), "unknown parameter"),
])
def test_bad_overrides_are_value_errors(override, match):
    with pytest.raises(ValueError, match=match):
        evf.config("method", "smoke", **override)


def test_unknown_notebook_and_role():
    with pytest.raises(ValueError, match="unknown notebook"):
        evf.config("nope", "smoke")
    with pytest.raises(ValueError, match="role"):
        evf.clips(tiny_cfg(), "validation")


def test_clips_shapes_and_scaling(tiny_data):
    cfg, train, test = tiny_data
    S = cfg.image_size
    assert train.video.shape == (3, 4, cfg.frames, S, S, 3) and train.video.dtype == torch.uint8
    video, actions, states = train.select(1, [0, 2])
    assert video.shape == (2, cfg.frames, 3, S, S) and video.dtype == torch.float32
    assert torch.equal(video, train.video[1, [0, 2]].permute(0, 1, 4, 2, 3).float() / 255)
    assert torch.equal(actions, train.actions[1, [0, 2]]) and torch.equal(states, train.states[1, [0, 2]])
    assert train.actions.shape == (3, 4, cfg.frames, 4) and train.states.shape == (3, 4, cfg.frames, 3)
    assert test.video.shape[0] == 2 and len(train.ids) == 3 and not set(train.ids) & set(test.ids)
    assert train.video.max() > train.video.min()
    assert train.actions.abs().max() < 5 and torch.isfinite(train.states).all()


def test_baseline_model_has_no_encoder():
    cfg = tiny_cfg()
    assert evf.EVF.from_config(cfg, embedding=False).encoder is None
    assert evf.EVF.from_config(cfg).encoder is not None


def test_training_is_finite_and_cached(tiny_data, model_cache):
    cfg, train, _ = tiny_data
    m1, h1 = evf.train_evf(cfg, train, device="cpu")
    b1, hb1 = evf.train_baseline(cfg, train, device="cpu")
    assert len(h1["loss"]) == evf.meta_steps(cfg) == 2 and len(hb1["loss"]) == cfg.steps
    assert h1["step"] == [2, 4] and hb1["step"] == [1, 2, 3, 4]   # matched: as many optimizer steps
    assert all(math.isfinite(v) for v in h1["loss"] + hb1["loss"])
    files = sorted(model_cache.glob("*.pt"))
    assert len(files) == 2
    m2, h2 = evf.train_evf(cfg, train, device="cpu")
    b2, _ = evf.train_baseline(cfg, train, device="cpu")
    assert sorted(model_cache.glob("*.pt")) == files and h2 == h1
    for a, b in ((m1, m2), (b1, b2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_evaluate_and_finetune(tiny_data, model_cache):
    cfg, train, test = tiny_data
    model, _ = evf.train_evf(cfg, train, device="cpu")
    base, _ = evf.train_baseline(cfg, train, device="cpu")
    before = {k: v.clone() for k, v in base.state_dict().items()}
    tuned = evf.finetune(base, test.select(0, range(cfg.experiences)), steps=2, lr=1e-3)
    assert any(not torch.equal(before[k], v) for k, v in tuned.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    df = evf.evaluate(cfg, {"EVF": model, "baseline": base, "fine-tuned": base}, test)
    steps = cfg.frames - cfg.context
    assert list(df.index.names) == ["method", "step"] and len(df) == 3 * steps
    assert list(df.loc["EVF"].index) == list(range(1, steps + 1))
    assert df.notna().all().all() and all(math.isfinite(v) for v in df.to_numpy().ravel())
    assert ((df["SSIM"] <= 1) & (df["SSIM"] > -1)).all()
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    with pytest.raises(ValueError, match="unknown method"):
        evf.evaluate(cfg, {"MAML": base}, test)


# ------------------------------------------------------------------------------------ control
def control_cfg(**kw):
    return evf.config("control", "smoke", **{**TINY, **kw})


@pytest.fixture(scope="module")
def control_obj(data_root):
    from reprobook.data import omnipush as op

    return op.load_split().test_keys[0]


def test_control_config():
    for scale in ("smoke", "short", "paper"):
        cfg = evf.config("control", scale)
        assert cfg.success_radius == 0.01 and 1 <= cfg.elites <= cfg.samples
    paper = evf.config("control", "paper")   # the public planner's cem.py: 100 samples, 10 elites, 100 rounds, std 1
    assert (paper.samples, paper.elites, paper.iterations, paper.cem_std) == (100, 10, 100, 1.0)
    with pytest.raises(ValueError, match="elites"):
        control_cfg(samples=2, elites=3)
    with pytest.raises(ValueError, match="unknown parameter"):
        evf.config("method", "smoke", samples=4)


def test_push_from_action_bounds_and_mapping():
    import numpy as np

    p = evf.PROTOCOL
    start, d = evf.push_from_action([0.0, 0.0])
    assert np.allclose(start, [p.start_radius, 0]) and math.isclose(abs(d), math.pi)   # towards the origin
    start, d = evf.push_from_action([0.5, 0.0])
    assert np.allclose(start, [0, p.start_radius]) and math.isclose(d, -math.pi / 2)
    start, d = evf.push_from_action([0.5, 1.0])
    assert math.isclose(d, -math.pi / 2 + p.max_offset)
    for a in ([-1, -1], [1, 1], [0.3, -0.7]):
        start, d = evf.push_from_action(a)
        assert math.isclose(float(np.linalg.norm(start)), p.start_radius) and -math.pi <= d < math.pi
    for bad in ([1.5, 0], [0, -1.01], [0.0], [float("nan"), 0]):
        with pytest.raises(ValueError):
            evf.push_from_action(bad)


def test_execute_moves_the_object(control_obj):
    import numpy as np

    cfg = control_cfg()
    pose = np.array([0.1, -0.2, 0.7])
    new, clip = evf.execute(control_obj, pose, [0.25, 0.0], cfg)
    S = cfg.image_size
    assert clip["frames"].shape == (cfg.frames, S, S, 3) and clip["frames"].dtype == np.uint8
    assert np.linalg.norm(new[:2] - pose[:2]) > 0.005 and np.all(np.isfinite(new))
    assert np.allclose(clip["states"][0], pose, atol=1e-6) and np.allclose(clip["states"][-1][:2], new[:2])
    # the same push from the origin, rotated and shifted: the simulation is in the object frame
    new0, _ = evf.execute(control_obj, [0, 0, 0], [0.25, 0.0], cfg)
    c, s = math.cos(pose[2]), math.sin(pose[2])
    assert np.allclose(new[:2], pose[:2] + np.array([[c, -s], [s, c]]) @ new0[:2], atol=1e-9)


def test_simulator_oracle_reaches_a_goal_the_random_push_misses(control_obj):
    """With the simulator as the model, CEM finds a push to a goal one push away: the planner and its
    pixel cost work; a random push does worse on the same task."""
    import numpy as np

    cfg = control_cfg(samples=24, elites=4, iterations=3)
    start = np.zeros(3)
    goal, _ = evf.execute(control_obj, start, [0.4, -0.3], cfg)
    sim = evf.simulator_trial(control_obj, start, goal, cfg, torch.Generator().manual_seed(0))
    rnd = evf.random_action_trial(control_obj, start, goal, cfg, torch.Generator().manual_seed(0))
    assert sim["position_error"] < 0.01 and sim["success"] and sim["position_error"] < rnd["position_error"]
    cost = evf.simulator_cost(control_obj, start, evf.goal_image(control_obj, goal, start, cfg), cfg)
    c = cost(torch.tensor([[0.4, -0.3], [-0.6, 0.5]]))
    assert c.shape == (2,) and c[0] < c[1]


def test_plan_batches_samples_and_stays_in_bounds(control_obj, monkeypatch):
    import numpy as np

    cfg = control_cfg()
    torch.manual_seed(0)
    model = evf.EVF.from_config(cfg)
    batches = []
    predict = model.predict

    def counting(experience, frames, *args, **kw):
        batches.append((frames.shape[0], None if experience is None else experience.shape[0]))
        return predict(experience, frames, *args, **kw)

    monkeypatch.setattr(model, "predict", counting)
    exp = torch.rand(cfg.experiences, cfg.frames, 3, cfg.image_size, cfg.image_size)
    pose = np.array([0.0, 0.0, 0.3])
    goal = evf.goal_image(control_obj, [0.02, 0.0, 0.3], pose, cfg)
    a, res = evf.plan(model, exp, control_obj, pose, goal, cfg, torch.Generator().manual_seed(0))
    assert a.shape == (2,) and bool((a.abs() <= 1).all())
    assert batches == [(cfg.samples, cfg.samples)] * cfg.iterations
    assert len(res.history) == cfg.iterations and math.isfinite(res.best_cost)


def test_plan_minimises_a_given_cost():
    cfg = control_cfg(samples=64, elites=8, iterations=6)
    target = torch.tensor([0.4, -0.6])
    calls = []

    def cost(actions):
        calls.append(actions.shape[0])
        return ((actions - target) ** 2).sum(1)

    a, res = evf.plan(None, None, None, [0, 0, 0], None, cfg, torch.Generator().manual_seed(1), cost_fn=cost)
    assert calls == [64] * 6 and torch.allclose(a.float(), target, atol=0.05)


def test_control_and_random_trials(control_obj):
    import numpy as np

    cfg = control_cfg(samples=4, elites=2, iterations=1)
    torch.manual_seed(0)
    model = evf.EVF.from_config(cfg, embedding=False)
    start, goal = [0.0, 0.0, 0.0], [0.03, 0.0, 0.2]
    r = evf.control_trial(model, None, control_obj, start, goal, cfg, torch.Generator().manual_seed(0), pushes=2)
    b = evf.random_action_trial(control_obj, start, goal, cfg, torch.Generator().manual_seed(0), pushes=2)
    for out in (r, b):
        assert math.isfinite(out["position_error"]) and 0 <= out["angle_error"] <= math.pi
        assert isinstance(out["success"], bool) and out["success"] == (out["position_error"] < 0.01)
        assert out["final_pose"].shape == (3,) and len(out["actions"]) == 2
        assert all(np.all(np.abs(a) <= 1) for a in out["actions"])


# ---------------------------------------------------------------------- prediction and embedding
def test_predict_object_copy_and_methods(tiny_data, model_cache):
    cfg, train, test = tiny_data
    pred, target = evf.predict_object(cfg, "copy", None, test, 1)
    c = cfg.context
    video = test.select(1, range(cfg.experiences, cfg.experiences + cfg.eval_targets))[0]
    assert pred.shape == target.shape == (cfg.eval_targets, cfg.frames - c, 3, cfg.image_size, cfg.image_size)
    assert torch.equal(target, video[:, c:]) and torch.equal(pred[:, 3], video[:, c - 1])
    base, _ = evf.train_baseline(cfg, train, device="cpu")
    p1, _ = evf.predict_object(cfg, "baseline", base, test, 1)
    p2, _ = evf.predict_object(cfg, "baseline", base, test, 1)
    assert torch.equal(p1, p2) and 0 <= p1.min() and p1.max() <= 1          # seeded prior draws
    df = evf.evaluate(cfg, {"copy": None}, test)
    assert list(df.index.get_level_values("method").unique()) == ["copy"]
    with pytest.raises(ValueError, match="unknown method"):
        evf.predict_object(cfg, "oracle", base, test, 0)


def test_embeddings_sets_and_summary(tiny_data, model_cache):
    import numpy as np
    import pandas as pd

    cfg, train, _ = tiny_data
    model, _ = evf.train_evf(cfg, train, device="cpu")
    emb = evf.embeddings(model, train, sets=2, experiences=2)
    assert emb.shape == (2 * len(train), cfg.embedding_dim) and list(emb.index.names) == ["id", "set"]
    with torch.no_grad():
        direct = model.encoder(train.frames(0, torch.arange(2, 4))[None])[0].double().numpy()
    np.testing.assert_allclose(emb.loc[(train.ids[0], 1)].to_numpy(), direct, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="pushes per object"):
        evf.embeddings(model, train, sets=3, experiences=2)
    with pytest.raises(ValueError, match="no embeddings"):
        evf.embeddings(evf.EVF.from_config(cfg, embedding=False), train)
    # closed forms: identical sets -> specificity 0; mass exactly linear in the embedding -> R^2 = 1
    ids = ["1a1a1a1a", "2b2a2a2a", "3c3a3a3a", "4a4a4a4a", "1b2b3b4b"]
    attrs = evf.object_attributes(ids)
    g = np.random.default_rng(0)
    base = g.normal(size=(len(ids), 3))
    base[:, 0] = attrs["mass_g"].to_numpy() / 100
    rows = [((i, j), base[k]) for k, i in enumerate(ids) for j in range(2)]
    index = pd.MultiIndex.from_tuples([r[0] for r in rows], names=["id", "set"])
    emb2 = pd.DataFrame([r[1] for r in rows], index=index)
    out = evf.embedding_summary(emb2, attrs)
    assert out["specificity"] == 0 and out["mass_r2"] == pytest.approx(1.0, abs=1e-9)
    xy = evf.project(emb2)
    assert xy.shape == (10, 2) and np.allclose(xy.mean(0), 0)


def test_object_attributes():
    attrs = evf.object_attributes(["1a1a1a1a", "2c2a2a2a", "3a4a4a4a", "2a2a2a2a"])
    plain, weighted, mixed, unweighted = (attrs.loc[i] for i in attrs.index)
    assert plain["weights"] == 0 and weighted["weights"] == 1
    assert weighted["mass_g"] - unweighted["mass_g"] == pytest.approx(150)
    assert plain["shape"] == "concave" and weighted["shape"] == "triangular" and mixed["shape"] == "rectangular"
    assert plain["com_offset_mm"] == pytest.approx(0, abs=1e-9) and weighted["com_offset_mm"] > 5


def test_control_experiment(tiny_data, model_cache, control_obj):
    import numpy as np

    cfg, train, test = tiny_data
    ccfg = evf.config("control", "smoke", **{**TINY, "control_trials": 1, "samples": 4, "elites": 2,
                                            "iterations": 1})
    start, goal = evf.control_goals(control_obj, ccfg, torch.Generator().manual_seed(0))
    assert np.allclose(start, 0) and np.linalg.norm(goal[:2]) >= 2 * ccfg.success_radius
    model, _ = evf.train_evf(ccfg, train, device="cpu")
    base, _ = evf.train_baseline(ccfg, train, device="cpu")
    df = evf.control_experiment(ccfg, {"EVF": model, "baseline": base, "simulator": None, "random": None}, test)
    assert len(df) == 4 * len(test) and set(df["method"]) == {"EVF", "baseline", "simulator", "random"}
    assert (df["position_error_mm"] >= 0).all() and df["angle_error_deg"].between(0, 180).all()
    assert (df["success"] == (df["position_error_mm"] < 1e3 * ccfg.success_radius)).all()
    err = 1e3 * np.hypot(df["final_x"] - df["goal_x"], df["final_y"] - df["goal_y"])
    np.testing.assert_allclose(err, df["position_error_mm"], rtol=1e-9)
    again = evf.control_experiment(ccfg, {"random": None}, test)
    np.testing.assert_array_equal(again["position_error_mm"], df[df["method"] == "random"]["position_error_mm"])
    with pytest.raises(ValueError, match="unknown control method"):
        evf.control_experiment(ccfg, {"MPC": None}, test)


# ------------------------------------------------------------------------- bad inputs and caches
def test_divergence_is_an_error_and_not_cached(tiny_data, model_cache):
    from reprobook.train.loop import NonFiniteLossError

    cfg, train, test = tiny_data
    with pytest.raises(NonFiniteLossError):
        evf.train_baseline(tiny_cfg(lr=1e4, steps=6), train, device="cpu")
    assert not list(model_cache.glob("*.pt"))
    base, _ = evf.train_baseline(cfg, train, device="cpu")
    with pytest.raises(NonFiniteLossError, match="fine-tuning"):
        evf.finetune(base, test.select(0, range(2)), steps=3, lr=1e6)


def test_model_cache_covers_the_clip_contents(tiny_data, model_cache):
    cfg, train, _ = tiny_data
    evf.train_baseline(cfg, train, device="cpu")
    shuffled = evf.Clips(train.ids, train.video.flip(1), train.actions.flip(1), train.states.flip(1))
    evf.train_baseline(cfg, shuffled, device="cpu")
    assert len(list(model_cache.glob("*.pt"))) == 2                       # same ids and shapes, other data


def test_damaged_caches_are_named(data_root, model_cache):
    import os

    from reprobook.train.checkpoint import CorruptCheckpointError

    cfg = tiny_cfg(train_objects=2, pushes=3, experiences=1, eval_targets=1)
    evf.clips(cfg, "train")
    (path,) = model_cache.glob("clips-*.pt")
    for garbage in (b"hello world garbage", os.urandom(300)):
        path.write_bytes(garbage)
        with pytest.raises(CorruptCheckpointError, match="delete"):
            evf.clips(cfg, "train")
    torch.save({"video": torch.zeros(2, 1, 8, 32, 32, 3, dtype=torch.uint8)}, path)
    with pytest.raises(CorruptCheckpointError, match="do not hold"):
        evf.clips(cfg, "train")


def test_predict_object_and_plan_refuse_mismatches(tiny_data, model_cache, control_obj):
    import numpy as np

    cfg, train, test = tiny_data
    base, _ = evf.train_baseline(cfg, train, device="cpu")
    for kw, match in ((dict(targets=[0]), "targets"), (dict(targets=[]), "targets"), (dict(targets=[99]), "targets")):
        with pytest.raises(ValueError, match=match):
            evf.predict_object(cfg, "baseline", base, test, 0, **kw)
    with pytest.raises(ValueError, match="context"):
        evf.predict_object(tiny_cfg(context=3), "baseline", base, test, 0)
    with pytest.raises(ValueError, match="frames"):
        evf.predict_object(tiny_cfg(frames=6), "baseline", base, test, 0)
    with pytest.raises(ValueError, match="needs a model"):
        evf.predict_object(cfg, "EVF", None, test, 0)
    with pytest.raises(ValueError, match="at least one method"):
        evf.evaluate(cfg, {}, test)
    ccfg = control_cfg()
    model = evf.EVF.from_config(ccfg)
    pose = np.zeros(3)
    goal = evf.goal_image(control_obj, [0.02, 0, 0], pose, ccfg)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evf.plan(model, torch.rand(2, ccfg.frames, 3, 32, 32), control_obj, pose, goal * 255, ccfg)
    with pytest.raises(ValueError, match="experience"):
        evf.plan(model, None, control_obj, pose, goal, ccfg)
