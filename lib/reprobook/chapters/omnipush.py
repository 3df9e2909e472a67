"""Chapter 08 (book/08-omnipush): Omnipush, a pushing dataset and its meta-learning benchmark.

Bauza, Alet, Lin, Lozano-Perez, Kaelbling, Isola & Rodriguez, IROS 2019 (arXiv 1910.00618);
official baselines MIT-Omnipush/omnipush-metalearning-baselines. 250 objects built from a
centre piece and four sides are pushed 250 times each; the benchmark asks a model that has
seen ``k`` pushes of a new object (``k`` = 10 or 50) to predict the outcome of its other pushes
with calibrated uncertainty, scored by RMSE and log-likelihood on held-out objects, and again
on another surface (plywood).

The real pushes cannot be downloaded here, so the chapter simulates them
(:mod:`reprobook.sim`) in the benchmark's own file format, calibrated against the real pushes'
start and end poses (:func:`reprobook.data.omnipush.load_real_poses`).

Notebooks: 01-dataset (:func:`object_table`, :func:`example_push`, :func:`calibration`),
02-benchmark (:func:`simulated_benchmark`, :func:`train_models`, :func:`benchmark`),
03-predictions (:func:`predictions`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from ..data import omnipush as op
from ..data.cache import cache_dir
from ..data.push_records import records_to_benchmark
from ..models.neural_process import MLPBaseline, NeuralProcess, attentive_np
from ..run.scales import configure, require_int
from ..sim.omnipush_objects import SIDE_SHAPES, WEIGHTS, mass_properties, object_pieces
from ..sim.omnipush_pushes import (PushProtocol, generate_dataset, protocol_simulator, push_once, push_outcomes,
                                   simulate_object)
from ..train import make_generator, resolve_device
from ..train.cache import cached, library_digest
from ..train.meta import TaskSet, evaluate, fit_neural_process, fit_pooled, maml_fit, split_context

DATASETS = ("omnipush",)   # the split files and the real poses a `short` run reads
# what the device needs beyond the shared wheelhouse: the simulator (requirements.txt's pins)
DEVICE_PACKAGES = ("mujoco==3.17.0", "absl-py==2.5.1", "etils==1.15.0", "glfw==2.11.0", "PyOpenGL==3.1.10")
# seconds each notebook's `short` run may take on one H100/H200 machine: estimates, not yet measured
# (the simulation runs on its 16 CPU cores: 62,500 pushes at about 10 ms a push per core is about
# 40 s; the networks are small: a few ms a step)
SHORT_BUDGET_S = {"dataset": 30, "benchmark": 240, "predictions": 30}

METHODS = ("ANP", "NP", "MLP", "MAML")
METHOD_LABELS = {"ANP": "Attentive NP", "NP": "Neural Process", "MLP": "pooled MLP", "MAML": "MAML (MLP)"}
TEST_SETS = ("test", "plywood", "plywood_abs")

#: a push protocol before calibration: the whole outline on the floor, pusher friction 0.25,
#: 5 cm pushes within 1.2 rad of the object's centre (book/08-omnipush/01-dataset compares it)
UNCALIBRATED = PushProtocol(max_offset=1.2, distance=0.05, pusher_friction=0.25, support="all")

# the official baselines: omnipush_ANP.py (LatentModel hidden 128, decoder std exp(log sigma),
# Adam whose lr the script's Noam schedule sets every step (peak 1e-3 at step 4,000), 5,000 epochs
# of batches of 64 of the 200 train objects = 20,000 steps, shot 50 or 10, targets = the rest) and
# omnipush_pooldata.py (MLP 3 -> 256 x 3 -> 6, Adam 2e-3, 3,000 epochs = 12,000 steps). The plain
# NP (the ANP without attention) and MAML are not in the official code (ours: MAML with 1 inner SGD
# step of 0.01, Adam 1e-3 over 16 objects a step)
_PAPER = dict(train_objects=None, test_objects=None, plywood_objects=None, pushes=250, ks=[10, 50],
              hidden=128, decoder_std="exp", np_lr_schedule="noam", np_lr=3e-4, pooled_lr=2e-3, np_steps=20_000, pooled_steps=12_000, maml_steps=5_000, batch_tasks=64,
              maml_batch=16, maml_inner_lr=0.01, maml_inner_steps=1, targets="rest", sim_seed=0,
              workers=16, calibration_objects=50, calibration_pushes=100, eval_ks=[1, 2, 5, 10, 20, 50],
              prediction_objects=4, prediction_k=10)
# one GPU window: every object simulated (on the CPU), a tenth of the official steps
_SHORT = dict(_PAPER, np_steps=2_000, pooled_steps=1_200, maml_steps=500, calibration_objects=32,
              calibration_pushes=50)
# smoke: 32 train, 10 test and the 10 plywood objects with 80 pushes each; a few hundred steps
# at a constant 3e-4 (the Noam schedule is still warming up then), with the library's bounded
# decoder std (0.1 + 0.9 softplus), steadier than exp over so few steps; the pooled MLP at 5e-4
# (at the official 2e-3 its last step's likelihood swings by nats between CPUs' numerics)
_SMOKE = dict(_PAPER, decoder_std="softplus", np_lr_schedule="constant", pooled_lr=5e-4, workers=2, train_objects=32, test_objects=10, pushes=80, np_steps=400, pooled_steps=600,
              maml_steps=60, batch_tasks=16, calibration_objects=24, calibration_pushes=50,
              eval_ks=[1, 2, 5, 10, 20, 50], prediction_objects=4)

CONFIGS = {
    "dataset": {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER},
    "benchmark": {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER},
    "predictions": {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER},
}


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks at ``scale``, checked."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    cfg = configure(CONFIGS[notebook], scale, **overrides)
    for name in ("train_objects", "test_objects", "plywood_objects"):
        if cfg[name] is not None:
            require_int(name, cfg[name])
    for name in ("pushes", "np_steps", "pooled_steps", "maml_steps", "batch_tasks", "maml_batch", "hidden",
                 "workers", "calibration_objects", "calibration_pushes", "prediction_objects", "prediction_k"):
        require_int(name, cfg[name])
    require_int("maml_inner_steps", cfg.maml_inner_steps, 0)
    require_int("sim_seed", cfg.sim_seed, 0)
    if cfg.hidden % 4:
        raise ValueError(f"hidden must be a multiple of 4 (the attention's 4 heads), got {cfg.hidden}")
    for name in ("maml_inner_lr", "np_lr", "pooled_lr"):
        value = cfg[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if cfg.decoder_std not in ("softplus", "exp"):
        raise ValueError(f"decoder_std must be 'softplus' or 'exp', got {cfg.decoder_std!r}")
    if cfg.np_lr_schedule not in ("constant", "noam"):
        raise ValueError(f"np_lr_schedule must be 'constant' or 'noam', got {cfg.np_lr_schedule!r}")
    for name in ("ks", "eval_ks"):
        ks = cfg[name]
        if not isinstance(ks, (list, tuple)) or not ks:
            raise ValueError(f"{name} must be a non-empty list of context sizes, got {ks!r}")
        for k in ks:
            require_int(f"{name} entry", k)
            if k >= cfg.pushes:
                raise ValueError(f"{name} holds k = {k}, but an object has only pushes = {cfg.pushes}: the context "
                                 f"must leave targets (k < pushes)")
    if cfg.prediction_k not in cfg.ks:
        raise ValueError(f"prediction_k = {cfg.prediction_k} must be one of the trained context sizes ks = {cfg.ks}")
    if cfg.targets not in ("all", "rest"):
        raise ValueError(f"targets must be 'all' or 'rest', got {cfg.targets!r}")
    return cfg


# ------------------------------------------------------------------------------------ objects
def spread(keys, n: int | None) -> list[str]:
    """``n`` keys spread evenly over ``keys`` (all when ``n`` is None or too large): the split's
    keys are sorted, so a prefix would hold only objects whose first side is concave."""
    keys = list(keys)
    if n is not None:
        require_int("n", n)
    if n is None or n >= len(keys):
        return keys
    return [keys[i] for i in np.linspace(0, len(keys) - 1, n).round().astype(int)]


def object_table(split: op.OmnipushSplit) -> pd.DataFrame:
    """One row per object of ``split``: its role, sides, weights, mass and centre of mass."""
    rows = []
    for key in list(split.train_keys) + list(split.test_keys):
        sides = op.parse_object_id(key)
        props = mass_properties(key)
        rows.append({"id": key, "role": split.role(key),
                     "shapes": " ".join(SIDE_SHAPES[s] for s, _ in sides),
                     "weighted sides": sum(WEIGHTS[w][0] > 0 for _, w in sides),
                     "mass (g)": 1e3 * props.mass, "com offset (mm)": 1e3 * math.hypot(*props.com)})
    return pd.DataFrame(rows).set_index("id")


def grammar_counts(split: op.OmnipushSplit) -> pd.DataFrame:
    """How often each (shape, weight) side occurs among the split's objects."""
    c = Counter(side for key in list(split.train_keys) + list(split.test_keys) for side in op.parse_object_id(key))
    df = pd.DataFrame([{"shape": f"{s} ({SIDE_SHAPES[s]})", "weight": w, "sides": n} for (s, w), n in sorted(c.items())])
    return df.pivot(index="shape", columns="weight", values="sides").fillna(0).astype(int)


def draw_object(ax, obj_id: str, pose=(0.0, 0.0, 0.0), scale: float = 1.0, **kw):
    """Draw the outline of ``obj_id`` at ``pose`` = (x, y, yaw) (m, rad) on ``ax``, in ``scale`` units per m."""
    from matplotlib.patches import Polygon

    x, y, th = pose
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    style = dict(facecolor="#d9a066", edgecolor="#5a3a1a", lw=0.6)
    style.update(kw)
    for p in object_pieces(obj_id):
        pts = (p @ rot.T + np.array([x, y])) * scale
        ax.add_patch(Polygon(pts, closed=True, **style))
    props = mass_properties(obj_id)
    com = (rot @ np.array(props.com) + np.array([x, y])) * scale
    return com


# ---------------------------------------------------------------------------------- the pushes
def outcome_statistics(y: np.ndarray, moved: float = 1e-3) -> dict:
    """Summary of push outcomes ``(n, 3)`` = (dx, dy, dtheta): the share of pushes that move the
    object less than ``moved`` m, quantiles of the displacement ``|(dx, dy)|`` (m) and of ``|dtheta|``
    (rad), standard deviations, and the median turn per metre of the pushes that move it."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != 3 or not len(y):
        raise ValueError(f"outcomes must be a non-empty (n, 3) array of (dx, dy, dtheta), got shape {y.shape}")
    r, th = np.hypot(y[:, 0], y[:, 1]), np.abs(y[:, 2])
    hit = r >= moved
    return {"missed": float((~hit).mean()), "displacement p50": float(np.median(r)),
            "displacement p90": float(np.percentile(r, 90)), "displacement p99": float(np.percentile(r, 99)),
            "|turn| p50": float(np.median(th)), "|turn| p90": float(np.percentile(th, 90)),
            "std dx": float(y[:, 0].std()), "std dy": float(y[:, 1].std()), "std dtheta": float(y[:, 2].std()),
            "turn per metre p50": float(np.median(th[hit] / r[hit])) if hit.any() else float("nan")}


def real_outcomes() -> np.ndarray:
    """``(11152, 3)`` outcomes of the real pushes in their initial object frames."""
    return push_outcomes(*op.load_real_poses())


def simulated_outcomes(objects, pushes: int, protocol: PushProtocol, seed: int = 0, surface: str = "abs") -> np.ndarray:
    """Outcomes ``(len(objects) * pushes, 3)`` of freshly simulated pushes."""
    return np.concatenate([records_to_benchmark(simulate_object(o, pushes, surface, protocol, seed))[1]
                           for o in objects])


def calibration(cfg, protocols: dict | None = None, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The real pushes' :func:`outcome_statistics` beside those of each simulated protocol
    (default: ``UNCALIBRATED`` and the calibrated defaults) on ``calibration_objects`` train
    objects x ``calibration_pushes`` pushes. Returns the table and the outcomes by name."""
    protocols = protocols or {"uncalibrated": UNCALIBRATED, "calibrated": PushProtocol()}
    objects = spread(op.load_split().train_keys, cfg.calibration_objects)
    outcomes = {"real": real_outcomes()}
    for name, protocol in protocols.items():
        outcomes[name] = simulated_outcomes(objects, cfg.calibration_pushes, protocol, seed + cfg.sim_seed)
    table = pd.DataFrame({name: outcome_statistics(y) for name, y in outcomes.items()}).T
    return table, outcomes


def example_push(obj_id: str, start=(0.078, 0.01), direction: float = math.pi, protocol: PushProtocol = PushProtocol()):
    """One simulated push of ``obj_id`` from ``start`` (m, object frame) in ``direction`` (rad)."""
    return push_once(protocol_simulator(obj_id, "abs", protocol), start, direction, protocol)


# --------------------------------------------------------------------------- simulated benchmark
@dataclass
class SimulatedBenchmark:
    """The simulated benchmark of a configuration: folders, the written split, normalised tasks.

    ``plywood`` holds the plywood test objects pushed on plywood, ``plywood_abs`` the same objects
    pushed on ABS (other draws of the push parameters): the surface shift is measured on one set of
    objects (most of them are train objects of the ABS split)."""

    folder: object
    split: op.OmnipushSplit
    train: TaskSet
    test: TaskSet
    plywood: TaskSet
    plywood_abs: TaskSet
    reports: list

    def tasks(self, name: str) -> TaskSet:
        if name not in TASK_SETS:
            raise ValueError(f"unknown task set {name!r}; valid: {', '.join(TASK_SETS)}")
        return getattr(self, name)


TASK_SETS = ("train", "test", "plywood", "plywood_abs")


def _folder(kind: str, cfg, protocol: PushProtocol):
    blob = json.dumps({"protocol": asdict(protocol), "pushes": cfg.pushes, "seed": cfg.sim_seed,
                       "library": library_digest()}, sort_keys=True)
    return cache_dir() / "omnipush-sim" / hashlib.sha256(blob.encode()).hexdigest()[:16] / kind


def _tasks(folder, split: op.OmnipushSplit, keys) -> TaskSet:
    # "all": the folder may also hold objects of a larger configuration, which split.json no longer lists
    data = op.read_benchmark(folder, split, role="all", normalize=True)
    found = {op.canonical_id(k): v for k, v in data.items()}
    missing = [k for k in keys if op.canonical_id(k) not in found]
    if missing:
        raise op.DataNotFoundError(f"{folder} lacks the simulated objects {', '.join(missing)}")
    return TaskSet.from_dict({k: found[op.canonical_id(k)] for k in keys})


def simulated_benchmark(cfg, protocol: PushProtocol = PushProtocol(), progress: bool = True) -> SimulatedBenchmark:
    """Simulate (or find, in the cache) the configuration's objects: ``train_objects`` / ``test_objects``
    of ``split`` on ABS, and ``plywood_objects`` of ``plywood_split``'s test list on plywood and on
    ABS (all when None), ``pushes`` each, every set normalised with the simulated train pushes'
    statistics (as the official plywood split uses the ABS statistics)."""
    split, plywood = op.load_split(), op.load_split("plywood_split", allow_overlap=True)
    train = spread(split.train_keys, cfg.train_objects)
    test = spread(split.test_keys, cfg.test_objects)
    ply = spread(plywood.test_keys, cfg.plywood_objects)
    workers = max(1, min(cfg.workers, os.cpu_count() or 1))
    folder = _folder("abs", cfg, protocol)
    reports = [generate_dataset(folder, split, train + test, cfg.pushes, "abs", protocol, cfg.sim_seed,
                                workers=workers, progress=progress)]
    written = op.read_split(folder / "split.json")
    ply_split = op.OmnipushSplit(train_keys=(), test_keys=tuple(ply), X_mean=written.X_mean, X_std=written.X_std,
                                 y_mean=written.y_mean, y_std=written.y_std)
    sets = {}
    for surface in ("plywood", "abs"):
        where = _folder(f"plywood-objects-on-{surface}", cfg, protocol)
        reports.append(generate_dataset(where, ply_split, ply, cfg.pushes, surface, protocol, cfg.sim_seed,
                                        workers=workers, statistics=written, progress=progress))
        sets[surface] = _tasks(where, ply_split, ply)
    return SimulatedBenchmark(folder=folder, split=written, train=_tasks(folder, written, train),
                              test=_tasks(folder, written, test), plywood=sets["plywood"], plywood_abs=sets["abs"],
                              reports=reports)


# ------------------------------------------------------------------------------------ models
def _build(method: str, cfg) -> torch.nn.Module:
    if method == "ANP":
        return attentive_np(hidden=cfg.hidden, decoder_std=cfg.decoder_std)
    if method == "NP":
        return NeuralProcess(hidden=cfg.hidden, decoder_std=cfg.decoder_std)
    if method in ("MLP", "MAML"):
        return MLPBaseline()
    raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


def train_models(cfg, data: SimulatedBenchmark, seed: int = 0, device: str = "auto", methods=METHODS,
                 progress: bool = True) -> tuple[dict, dict]:
    """Train each method (the meta-learners once per ``k`` in ``cfg.ks``, the pooled MLP once),
    cached in ``runs/cache``. Returns ``{(method, k): model}`` (the pooled MLP under every k)
    and ``{(method, k): history}``."""
    dev = resolve_device(device)
    data_key = hashlib.sha256(np.ascontiguousarray(data.train.X.numpy()).tobytes()
                              + np.ascontiguousarray(data.train.y.numpy()).tobytes()).hexdigest()[:16]
    models, histories = {}, {}
    for method in methods:
        for k in (cfg.ks if method != "MLP" else [None]):
            torch.manual_seed(seed)
            model = _build(method, cfg).to(dev)
            gen = make_generator(seed)

            def fit(m, _checkpoint, method=method, k=k, gen=gen):
                if method in ("ANP", "NP"):
                    hist = fit_neural_process(m, data.train, k, cfg.np_steps, lr=cfg.np_lr, batch_tasks=cfg.batch_tasks,
                                              generator=gen, progress=progress, targets=cfg.targets,
                                              lr_schedule=cfg.np_lr_schedule)
                elif method == "MLP":
                    hist = fit_pooled(m, data.train, cfg.pooled_steps, lr=cfg.pooled_lr, batch=cfg.batch_tasks * cfg.pushes,
                                      generator=gen, progress=progress)
                else:
                    hist = maml_fit(m, data.train, k, cfg.maml_steps, inner_lr=cfg.maml_inner_lr,
                                    inner_steps=cfg.maml_inner_steps, batch_tasks=cfg.maml_batch, generator=gen,
                                    first_order=False, progress=progress)
                return {"history": hist}

            parts = {k_: cfg[k_] for k_ in ("hidden", "decoder_std", "np_lr", "np_lr_schedule", "np_steps", "pooled_lr",
                                             "pooled_steps",
                                             "maml_steps", "batch_tasks", "maml_batch", "maml_inner_lr",
                                             "maml_inner_steps", "targets")}
            model, info, _ = cached(model, fit, chapter="08-omnipush", method=method, k=k, seed=seed, data=data_key,
                                    **parts)
            model.eval()
            for kk in (cfg.ks if k is None else [k]):
                models[(method, kk)] = model
                histories[(method, kk)] = info["history"]
    return models, histories


def _evaluate(method: str, model, tasks: TaskSet, k: int, cfg) -> dict:
    kind = {"ANP": "np", "NP": "np", "MLP": "pooled", "MAML": "maml"}[method]
    torch.manual_seed(0)   # the NPs sample z from the prior: the same draw for every run
    return evaluate(model, tasks, k, kind, inner_lr=cfg.maml_inner_lr, inner_steps=cfg.maml_inner_steps)


def benchmark(cfg, data: SimulatedBenchmark, models: dict) -> pd.DataFrame:
    """RMSE and log-likelihood (normalised units, per target push, averaged over objects) of every
    trained model on the test objects and the plywood objects, each at its own ``k``."""
    rows = []
    for test_set in TEST_SETS:
        for (method, k), model in models.items():
            r = _evaluate(method, model, data.tasks(test_set), k, cfg)
            rows.append({"test set": test_set, "method": METHOD_LABELS[method], "k": k, "RMSE": r["rmse"],
                         "log-likelihood": r["log_likelihood"]})
    return pd.DataFrame(rows).set_index(["test set", "method", "k"]).sort_index()


def context_curve(cfg, data: SimulatedBenchmark, models: dict, k_train: int) -> pd.DataFrame:
    """RMSE and log-likelihood on the test objects against the number of context pushes at test
    time (``cfg.eval_ks``) for the models trained with ``k_train`` context pushes."""
    rows = []
    for (method, k), model in models.items():
        if k != k_train:
            continue
        for k_eval in cfg.eval_ks:
            r = _evaluate(method, model, data.test, k_eval, cfg)
            rows.append({"method": METHOD_LABELS[method], "context pushes": k_eval, "RMSE": r["rmse"],
                         "log-likelihood": r["log_likelihood"]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- predictions
def predictions(method: str, model, data: SimulatedBenchmark, k: int, object_index: int, cfg,
                samples: int = 32) -> dict:
    """Predicted and true outcomes of one test object's target pushes in physical units.

    Returns ``{"id", "X" (n-k, 3), "y" (n-k, 3), "mean" (n-k, 3), "std" (n-k, 3)}``: the push
    parameters, the true outcome, and the predicted mean and standard deviation (denormalised:
    metres, metres, radians), the context being the object's first ``k`` pushes. For the NPs
    the prediction is the Gaussian matching the first two moments of the predictive mixture over
    ``samples`` draws of the latent ``z`` from the prior (mean of the means; variance = mean of the
    variances + variance of the means), so the latent uncertainty is part of ``std``.
    """
    tasks = data.test
    if not 0 <= object_index < len(tasks):
        raise ValueError(f"object_index must be in [0, {len(tasks)}), got {object_index!r}")
    require_int("samples", samples)
    one = tasks.subset([object_index])
    dev = next(model.parameters()).device
    cx, cy, tx, ty = split_context(one.X.to(dev), one.y.to(dev), k, 0)
    torch.manual_seed(0)
    with torch.no_grad():
        if method in ("ANP", "NP"):
            T = tx.shape[1]
            outs = model(cx.expand(samples, -1, -1), cy.expand(samples, -1, -1), tx.expand(samples, -1, -1))
            means, stds = outs.mean, outs.std                                    # (S, T, 3): one z each
            mean = means.mean(0)
            std = (stds.pow(2).mean(0) + means.var(0, unbiased=False)).sqrt()   # (T, 3)
            assert mean.shape == (T, 3)
        elif method == "MLP":
            mean, std = model(tx[0])
        else:
            raise ValueError(f"predictions draws the NPs and the pooled MLP, not {method!r}")
    split = data.split
    X, y = split.denormalize(tx[0].cpu().numpy(), ty[0].cpu().numpy())
    _, m = split.denormalize(tx[0].cpu().numpy(), mean.cpu().numpy())
    s = std.cpu().numpy().astype(np.float64) * split.y_std
    return {"id": one.ids[0], "X": X, "y": y, "mean": m, "std": s}
