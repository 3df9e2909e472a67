"""Chapter 10 (book/10-neural-mmo): Neural MMO, a massively multiagent game environment.

Suarez, Du, Mordatch & Isola, "Neural MMO v1.3" (arXiv 2001.12004; the first version of the
environment: arXiv 1903.00784); official code NeuralMMO/environment at tag v1.3 (commit c8441124). Agents spawn over time into
a persistent tile world, forage food and water, fight in three styles, and die; policies trained
for survival (policy gradient, one network per population) explore more of the map when more of
them share it, and fill niches when there are more populations.

Notebooks: 01-environment (:func:`film_strip`, the rules), 02-exploration
(:func:`exploration`), 03-niches (:func:`train_populations`, :func:`niches`), 04-scale
(:func:`tick_rates`, :func:`rollout_throughput`, the benchmark record against ``nmmo``).
"""
from __future__ import annotations

import copy
import math
import time

import numpy as np
import pandas as pd
import torch

from ..envs.nmmo import NeuralMMO, coverage, exploration_sweep, scripted_policy, territory_information
from ..models.nmmo_policy import PopulationPolicy
from ..run.scales import configure, require_int
from ..train.cache import cached
from ..train.seed import resolve_device
from ..train.rollouts import PGConfig, WorkerPool, play, train_policy

DATASETS = ()            # the world is generated; nothing to read
# what the device needs beyond the shared wheelhouse (Ray's wheel, 76 MiB, exceeds what one device
# call may carry: `short` runs its workers in-process)
DEVICE_PACKAGES = ("pettingzoo==1.25.0", "gymnasium==1.4.0", "cloudpickle==3.1.3", "Farama-Notifications==0.0.6")
# seconds each notebook's `short` run may take on one H100/H200 machine: estimates, not yet measured
SHORT_BUDGET_S = {"environment": 20, "exploration": 40, "niches": 300, "scale": 60}

# v1.3 (experiments.py, forge/blade/core/config.py): 62 + 2 x 9 map, 128 agents in 8 populations,
# hidden 32, 16,384 decisions per update over 12 environment servers, Adam 3e-4 / wd 1e-5,
# elementwise clip 5, gamma 0.95; the paper trains for days (updates: ours)
_PAPER = dict(size=62, border=9, max_agents=128, populations=[1, 8], hidden=32, share="population", target_range=1,
              backend="ray", throughput_backend="ray",
              decisions=16384, workers=12, updates=2000, lr=3e-4, weight_decay=1e-5, grad_clip=5.0, gamma=0.95,
              horizon=1000, minibatch=4096, sizes=[1, 8, 32, 128], exploration_ticks=2000, eval_ticks=1000,
              film_ticks=60, film_frames=6, rate_agents=[8, 32, 64, 128], rate_ticks=200, ray_workers=[1, 2, 4],
              ray_decisions=4096)
# one GPU window without Ray (see DEVICE_PACKAGES): 24 updates of 8,192 decisions from 4 in-process
# workers, the learner on the GPU
_SHORT = dict(_PAPER, updates=24, decisions=8192, workers=4, backend="local", throughput_backend="local",
              exploration_ticks=1000, eval_ticks=500)
# smoke: a 32 + 2 x 6 map with 32 agents, 2,048 decisions a step from 2 workers, 12 steps at a
# 10x learning rate (at 3e-4 the lifetimes do not move in 12 steps; at 3e-3 they grow by half)
_SMOKE = dict(_PAPER, size=32, border=6, max_agents=32, populations=[1, 4], decisions=2048, workers=2, updates=12,
              lr=3e-3, minibatch=2048, backend="local", exploration_ticks=300, eval_ticks=200, film_ticks=40, rate_ticks=100,
              ray_workers=[1, 2], ray_decisions=1024)

CONFIGS = {name: {"smoke": _SMOKE, "short": _SHORT, "paper": _PAPER}
           for name in ("environment", "exploration", "niches", "scale")}


def config(notebook: str, scale: str, **overrides):
    """The configuration of one of this chapter's notebooks at ``scale``, checked."""
    if notebook not in CONFIGS:
        raise ValueError(f"unknown notebook config {notebook!r}; valid: {', '.join(CONFIGS)}")
    cfg = configure(CONFIGS[notebook], scale, **overrides)
    for name in ("size", "border", "max_agents", "hidden", "decisions", "workers", "minibatch", "horizon",
                 "exploration_ticks", "eval_ticks", "film_ticks", "film_frames", "rate_ticks", "ray_decisions"):
        require_int(name, cfg[name])
    require_int("updates", cfg.updates)
    if cfg.eval_ticks > cfg.horizon:
        raise ValueError(f"eval_ticks = {cfg.eval_ticks} exceeds the horizon = {cfg.horizon}")
    for name in ("populations", "sizes", "rate_agents", "ray_workers"):
        if not isinstance(cfg[name], (list, tuple)) or not cfg[name]:
            raise ValueError(f"{name} must be a non-empty list of positive integers, got {cfg[name]!r}")
        for v in cfg[name]:
            require_int(f"{name} entry", v)
    if max(cfg.populations) > cfg.max_agents:
        raise ValueError(f"populations {cfg.populations} cannot exceed max_agents = {cfg.max_agents}")
    for name in ("lr", "weight_decay", "grad_clip"):
        v = cfg[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
                or (v == 0 and name != "weight_decay"):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'weight_decay' else 'positive'} "
                             f"number, got {v!r}")
    for name in ("backend", "throughput_backend"):
        if cfg[name] not in ("local", "ray"):
            raise ValueError(f"{name} must be 'local' or 'ray', got {cfg[name]!r}")
    if cfg.share not in ("population", "io"):
        raise ValueError(f"share must be 'population' or 'io', got {cfg.share!r}")
    if cfg.target_range is not None:
        require_int("target_range", cfg.target_range)
    if not 0 <= cfg.gamma <= 1:
        raise ValueError(f"gamma must be in [0, 1], got {cfg.gamma}")
    return cfg


def policy_kwargs(cfg, populations: int) -> dict:
    """:class:`~reprobook.models.nmmo_policy.PopulationPolicy` arguments of ``cfg``."""
    return dict(populations=populations, hidden=cfg.hidden, share=cfg.share, target_range=cfg.target_range)


def build_policy(cfg, populations: int, seed: int = 0) -> PopulationPolicy:
    """A freshly initialised policy for ``populations`` populations (initial weights from ``seed``)."""
    torch.manual_seed(seed)
    return PopulationPolicy(**policy_kwargs(cfg, populations))


def env_kwargs(cfg, populations: int) -> dict:
    """:class:`NeuralMMO` arguments of ``cfg`` with ``populations`` populations."""
    return dict(size=cfg.size, border=cfg.border, max_agents=cfg.max_agents, populations=populations,
                horizon=cfg.horizon)


# ------------------------------------------------------------------------------ 01 environment
def film_strip(cfg, seed: int = 0) -> dict:
    """Scripted foragers for ``film_ticks`` ticks: ``film_frames`` rendered frames, and per tick
    the live agents and their mean food, water and health (a DataFrame)."""
    env = NeuralMMO(**env_kwargs(cfg, max(cfg.populations)), seed=seed, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    keep = set(np.linspace(0, cfg.film_ticks, cfg.film_frames).round().astype(int).tolist())
    frames, rows = {}, []
    for t in range(cfg.film_ticks + 1):
        if t in keep:
            frames[t] = env.render()
        ag = env.state_agents
        live = ag.alive
        rows.append({"tick": t, "agents": int(live.sum()), "food": float(ag.food[live].mean()) if live.any() else 0.0,
                     "water": float(ag.water[live].mean()) if live.any() else 0.0,
                     "health": float(ag.health[live].mean()) if live.any() else 0.0})
        if t < cfg.film_ticks:
            obs, *_ = env.step(scripted_policy(obs, rng) if obs else {})
    return {"frames": frames, "vitals": pd.DataFrame(rows).set_index("tick"), "tiles": env.tiles.copy()}


# ------------------------------------------------------------------------------ 02 exploration
def exploration(cfg, seed: int = 0) -> dict:
    """The paper's exploration figure with the scripted forager: :func:`exploration_sweep` over
    ``cfg.sizes`` agent caps on one map (``exploration_ticks`` ticks); ``rows`` as a DataFrame."""
    out = exploration_sweep(cfg.sizes, ticks=cfg.exploration_ticks, seed=seed, size=cfg.size, border=cfg.border)
    out["table"] = pd.DataFrame(out["rows"]).set_index("agents")
    return out


# ------------------------------------------------------------------------------ 03 niches
def train_populations(cfg, populations: int, seed: int = 0, device: str = "auto", progress: bool = True):
    """Policy gradient for a world of ``populations`` populations, the learner on ``device``, the
    rollout workers on CPUs (``cfg.backend``: in this process or as Ray actors). Cached under
    runs/cache by the config, seed, numerics and library digest. Returns ``(policy, history)``."""
    dev = resolve_device(device)
    policy = build_policy(cfg, populations, seed).to(dev)
    pg = PGConfig(updates=cfg.updates, decisions=cfg.decisions, workers=cfg.workers, lr=cfg.lr,
                  weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip, gamma=cfg.gamma,
                  minibatch=cfg.minibatch, backend=cfg.backend, seed=seed)

    def fit(module, checkpoint):
        try:
            return {"history": train_policy(module, env_kwargs(cfg, populations), pg, device=dev, progress=progress)}
        finally:
            _shutdown_ray(cfg.backend)

    recipe = {k: cfg[k] for k in _TRAINING_KEYS}                     # evaluation settings do not retrain
    policy, info, _ = cached(policy, fit, chapter="neural_mmo", cfg=recipe, populations=populations, seed=seed)
    return policy, pd.DataFrame(info["history"]).set_index("update")


#: what a trained policy depends on (Ray and in-process workers return the same lives)
_TRAINING_KEYS = ("size", "border", "max_agents", "horizon", "hidden", "share", "target_range", "decisions",
                  "workers", "updates", "lr", "weight_decay", "grad_clip", "gamma", "minibatch")


def _shutdown_ray(backend: str) -> None:
    if backend == "ray":
        import ray
        if ray.is_initialized():
            ray.shutdown()


def niches(cfg, policy: PopulationPolicy, seed: int = 0) -> dict:
    """Play ``eval_ticks`` ticks with ``policy`` (:func:`~reprobook.train.rollouts.play`);
    returns the play record with ``summary`` (coverage, mean lifetime, territory information) and
    ``per_population`` (decisions, attack and forest-move shares) added."""
    rec = play(copy.deepcopy(policy).cpu(), env_kwargs(cfg, policy.populations), cfg.eval_ticks, seed=seed)
    info = territory_information(rec["visits"])
    rec["summary"] = {"coverage": coverage(rec["visits"].sum(0), rec["tiles"]),
                      "lifetime": float(rec["lifetimes"].mean()) if len(rec["lifetimes"]) else float("nan"),
                      **info}
    d = np.maximum(rec["decisions"], 1)
    rec["per_population"] = pd.DataFrame({"decisions": rec["decisions"], "attack_share": rec["attacks"] / d,
                                          "forage_share": rec["forest_moves"] / d}).rename_axis("population")
    return rec


# ------------------------------------------------------------------------------ 04 scale
def tick_rates(cfg, seed: int = 0) -> pd.DataFrame:
    """Our ticks per second against agent count (scripted foragers, every slot filled at reset,
    lava blocks moves as nmmo's void): 20 warm-up ticks, then ``rate_ticks`` timed ``step`` calls."""
    rows = []
    for n in cfg.rate_agents:
        env = NeuralMMO(size=cfg.size, border=cfg.border, max_agents=n, populations=min(8, n),
                        pop_assign="round_robin", spawn_per_tick=n, lava_lethal=False, horizon=10 ** 9, seed=seed)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        spent, live = 0.0, 0
        for t in range(20 + cfg.rate_ticks):
            actions = scripted_policy(obs, rng)
            t0 = time.perf_counter()
            obs, *_ = env.step(actions)
            if t >= 20:
                spent += time.perf_counter() - t0
                live += len(env.agents)
        rows.append({"agents": n, "live": live / cfg.rate_ticks, "ticks_per_s": cfg.rate_ticks / spent,
                     "us_per_agent": spent / live * 1e6})
    return pd.DataFrame(rows).set_index("agents")


def rollout_throughput(cfg, backend: str | None = None, seed: int = 0) -> pd.DataFrame:
    """Decisions per second collected by ``cfg.ray_workers`` workers (``ray_decisions`` each, after
    one warm-up collection), with a random-init policy of ``max(populations)`` populations, as Ray
    actors or in this process (``backend``, default ``cfg.throughput_backend``)."""
    backend = cfg.throughput_backend if backend is None else backend
    P = max(cfg.populations)
    rows = []
    try:
        for n in cfg.ray_workers:
            with WorkerPool(n, env_kwargs(cfg, P), policy_kwargs(cfg, P), seed=seed, backend=backend,
                            num_cpus=max(cfg.ray_workers)) as pool:
                pool.collect(64)
                t0 = time.perf_counter()
                lives = pool.collect(cfg.ray_decisions)
                spent = time.perf_counter() - t0
            rows.append({"workers": n, "decisions": lives.n, "seconds": spent, "decisions_per_s": lives.n / spent})
    finally:
        _shutdown_ray(backend)
    return pd.DataFrame(rows).set_index("workers")
