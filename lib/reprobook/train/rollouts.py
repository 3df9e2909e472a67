"""Rollout workers and the policy-gradient learner of Neural MMO v1.3 (arXiv 2001.12004 §4).

Book: chapter 10-neural-mmo. Official infrastructure (NeuralMMO/environment ``v1.3``,
``projekt/``): a "thin layer over Ray": environment servers (``god.py``) run the world with the
current weights and return finished lives; a cluster optimiser (``pantheon.py``) averages their
gradients and steps Adam.

Here a :class:`RolloutWorker` owns one persistent world (:class:`~reprobook.envs.nmmo.NeuralMMO`
with respawn) and a copy of the :class:`~reprobook.models.nmmo_policy.PopulationPolicy`; each
:meth:`~RolloutWorker.collect` loads the learner's weights, runs the world until the lives that
*ended* since the last call hold at least ``decisions`` decisions, and returns them with their
discounted returns (Eq. (2) of :mod:`reprobook.losses.policy_gradient`). A life still running
carries over to the next call, as an official life spans weight updates. A life cut by the env's
horizon is bootstrapped with the value of its last state (ours; v1.3 has no horizon).

:class:`WorkerPool` runs ``n`` workers in this process (``backend="local"``) or as Ray actors
(``backend="ray"``: ``ray.init()`` locally, or ``address="auto"`` / ``"ray://host:10001"`` for a
cluster); the learner (:func:`train_policy`) does not know which. It takes one Adam step (lr 3e-4,
coupled weight decay 1e-5) per update on gradients clipped elementwise at 5 (``model.py:20-38``).

Differences from v1.3 (ours):

- the official servers each backpropagate their own lives once they have observed more than
  ``16384 / 12`` agent-steps (``io.py:102,129``, ``god.py:107``) and the optimiser averages their
  gradients; here every worker returns at least ``decisions / workers`` decisions of finished lives
  and the learner concatenates them into one batch (so an update sees at least 16,384 decisions);
- the official loss reuses the logits and values computed when acting (the graph is kept,
  ``io/action.py:53``, ``rollout.py:68-82``); here the learner recomputes them with its current
  weights (they are the acting weights, except for lives that began before the last update);
- the advantage is centred per action argument within a server's batch officially, within a
  chunk of ``minibatch`` decisions here;
- a horizon (the env's, ours) cuts every live agent: its return is bootstrapped with its last
  state's value, and the worker starts a new world.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ..envs.nmmo import NeuralMMO
from ..losses.policy_gradient import GAMMA, discounted_returns, policy_gradient_loss
from ..models.nmmo_policy import ACTION_HEADS, PopulationPolicy, obs_to_tensors, sample_actions

__all__ = ["Lives", "RolloutWorker", "WorkerPool", "PGConfig", "train_policy", "act", "play"]


@dataclass
class Lives:
    """Finished lives, flattened into decisions (numpy, so that Ray ships them cheaply)."""
    tiles: np.ndarray          # (N, 15, 15) int8
    entities: np.ndarray       # (N, E, F) float32
    mask: np.ndarray           # (N, E) bool
    population: np.ndarray     # (N,) int64
    actions: np.ndarray        # (N, 3) int64, columns ACTION_HEADS
    returns: np.ndarray        # (N,) float32
    lifetimes: np.ndarray      # (L,) ticks lived by each finished life
    life_population: np.ndarray  # (L,) its population
    ticks: int = 0             # world ticks run to collect them
    seconds: float = 0.0       # wall time of the collection

    @property
    def n(self) -> int:
        return len(self.returns)

    @classmethod
    def concat(cls, parts: list["Lives"]) -> "Lives":
        cat = {f: np.concatenate([getattr(p, f) for p in parts]) for f in
               ("tiles", "entities", "mask", "population", "actions", "returns", "lifetimes", "life_population")}
        return cls(**cat, ticks=sum(p.ticks for p in parts), seconds=max(p.seconds for p in parts))


def act(policy: PopulationPolicy, obs: dict, populations: dict, generator: torch.Generator | None = None):
    """Sample every observed agent's action: ``(names, actions (n, 3) int64, values (n,))``;
    ``actions`` columns are :data:`~reprobook.models.nmmo_policy.ACTION_HEADS`."""
    names = sorted(obs, key=lambda n: int(n.rsplit("_", 1)[1]))
    if not names:
        return names, np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.float32)
    tiles, entities, mask = obs_to_tensors(obs, names)
    pop = torch.as_tensor([populations[n] for n in names], dtype=torch.long)
    with torch.no_grad():
        logits, values = policy(tiles, entities, mask, pop)
        actions = sample_actions(logits, generator)
    return names, actions.numpy(), values.numpy()


def _action_dict(names, actions) -> dict:
    return {n: dict(zip(ACTION_HEADS, map(int, a))) for n, a in zip(names, actions)}


class RolloutWorker:
    """One persistent world and a policy copy (see the module docstring).

    Args:
        env_kwargs: :class:`~reprobook.envs.nmmo.NeuralMMO` arguments (``respawn`` is forced on).
        policy_kwargs: :class:`~reprobook.models.nmmo_policy.PopulationPolicy` arguments.
        seed: seeds the world and the action draws.
        gamma: the discount of the returns.
        threads: torch threads of the worker's process (``None``: leave the process's setting).
    """

    def __init__(self, env_kwargs: dict, policy_kwargs: dict, seed: int = 0, gamma: float = GAMMA,
                 threads: int | None = None):
        if threads is not None:                          # a worker process of its own (Ray): one core
            torch.set_num_threads(threads)
        self.env = NeuralMMO(**{**env_kwargs, "respawn": True})
        with torch.random.fork_rng(devices=[]):          # initial weights from the seed, global rng untouched
            torch.manual_seed(seed)
            self.policy = PopulationPolicy(**policy_kwargs).eval()
        self.gamma = gamma
        self.generator = torch.Generator().manual_seed(seed)
        self.obs, infos = self.env.reset(seed=seed)
        self.pop = {n: i["population"] for n, i in infos.items()}
        self._open: dict[str, list] = {}       # name -> [(tiles, entities, mask, action, value), ...]
        self._done: list = []
        self._done_decisions = 0               # decisions held by the lives in _done

    def set_weights(self, state_dict: dict) -> None:
        self.policy.load_state_dict(state_dict)

    def _close(self, name: str, bootstrap: float | None) -> None:
        """End ``name``'s life: death (``bootstrap=None``: reward -1 on its last step,
        ``rollout.py:84-87``) or cut by the horizon (bootstrap with its last state's value)."""
        steps = self._open.pop(name, [])
        if not steps:
            return
        rewards = np.zeros(len(steps))
        if bootstrap is None:
            rewards[-1] = -1.0
        returns = discounted_returns(rewards, self.gamma, bootstrap=bootstrap or 0.0)
        self._done.append((self.pop[name], steps, returns))
        self._done_decisions += len(steps)

    def step(self) -> None:
        """One tick of the world under the current policy, recording every decision."""
        names, actions, values = act(self.policy, self.obs, self.pop, self.generator)
        obs, _, terms, truncs, infos = self.env.step(_action_dict(names, actions))
        for n, a, v in zip(names, actions, values):      # recorded once the tick has happened
            o = self.obs[n]
            self._open.setdefault(n, []).append((o["tiles"], o["entities"], o["mask"], a, v))
        for n in [n for n, dead in terms.items() if dead]:
            self._close(n, bootstrap=None)
        self.pop.update({n: i["population"] for n, i in infos.items()})
        cut = {n: obs[n] for n, t in truncs.items() if t}
        if cut:                                          # horizon: bootstrap, then a new world
            cut_names, _, last_values = act(self.policy, cut, self.pop, self.generator)
            for n, v in zip(cut_names, last_values):
                self._close(n, bootstrap=float(v))
            obs, infos = self.env.reset()
            self.pop.update({n: i["population"] for n, i in infos.items()})
        self.obs = {n: o for n, o in obs.items() if n in self.env.agents}

    def collect(self, decisions: int, state_dict: dict | None = None) -> Lives:
        """Run the world until finished lives hold ``>= decisions`` decisions; return them."""
        if state_dict is not None:
            self.set_weights(state_dict)
        start, ticks = time.perf_counter(), 0
        while self._done_decisions < decisions:
            self.step()
            ticks += 1
        done, self._done, self._done_decisions = self._done, [], 0
        steps = [s for _, life, _ in done for s in life]
        return Lives(
            tiles=np.stack([s[0] for s in steps]), entities=np.stack([s[1] for s in steps]),
            mask=np.stack([s[2] for s in steps]).astype(bool),
            population=np.concatenate([np.full(len(life), p, dtype=np.int64) for p, life, _ in done]),
            actions=np.stack([s[3] for s in steps]).astype(np.int64),
            returns=np.concatenate([r for _, _, r in done]).astype(np.float32),
            lifetimes=np.array([len(life) for _, life, _ in done]),
            life_population=np.array([p for p, _, _ in done], dtype=np.int64),
            ticks=ticks, seconds=time.perf_counter() - start)


class WorkerPool:
    """``n`` :class:`RolloutWorker` s in this process or as Ray actors; worker ``i`` is seeded ``seed + i``.

    Args:
        backend: ``"local"`` or ``"ray"``.
        address: Ray cluster address (``None``: start a local Ray with ``num_cpus``).
    """

    def __init__(self, n: int, env_kwargs: dict, policy_kwargs: dict, seed: int = 0, gamma: float = GAMMA,
                 backend: str = "local", address: str | None = None, num_cpus: int | None = None):
        if int(n) != n or n < 1:
            raise ValueError(f"the number of workers must be a positive integer, got {n}")
        if backend not in ("local", "ray"):
            raise ValueError(f"unknown backend {backend!r}; expected 'local' or 'ray'")
        self.backend, self.n = backend, int(n)
        args = [(env_kwargs, policy_kwargs, seed + i, gamma) for i in range(self.n)]
        if backend == "local":
            self.workers = [RolloutWorker(*a) for a in args]
            return
        import ray
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        remote = ray.remote(num_cpus=1)(RolloutWorker) if address is None else ray.remote(RolloutWorker)
        self.workers = [remote.remote(*a, threads=1) for a in args]

    def collect(self, decisions: int, state_dict: dict | None = None) -> Lives:
        """``decisions`` per worker, all workers at once; one :class:`Lives`."""
        if state_dict is not None:
            state_dict = {k: v.detach().cpu() for k, v in state_dict.items()}
        if self.backend == "local":
            return Lives.concat([w.collect(decisions, state_dict) for w in self.workers])
        import ray
        ref = ray.put(state_dict)
        return Lives.concat(ray.get([w.collect.remote(decisions, ref) for w in self.workers]))

    def close(self) -> None:
        if self.backend == "ray":
            import ray
            for w in self.workers:
                ray.kill(w)
        self.workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class PGConfig:
    """Learner settings; defaults are v1.3's (``experiments.py:29-53``)."""
    updates: int = 100
    decisions: int = 16384          # per update, over all workers (CLUSTER_UPDATES, experiments.py:33-35)
    workers: int = 12               # NGOD environment servers
    lr: float = 3e-4
    weight_decay: float = 1e-5
    grad_clip: float = 5.0          # elementwise (np.clip, model.py:32-33)
    gamma: float = GAMMA
    minibatch: int = 4096           # ours: forward/backward in chunks, one step per update; the
                                    # advantage is centred per chunk
    backend: str = "local"
    seed: int = 0


def train_policy(policy: PopulationPolicy, env_kwargs: dict, cfg: PGConfig, device: str = "cpu",
                 progress: bool = True) -> list[dict]:
    """Policy gradient (Eqs. (2)-(6)) on the lives of a :class:`WorkerPool`; returns one record
    per update: mean lifetime of the lives it learnt from, losses, decisions, seconds."""
    if cfg.updates < 0 or cfg.decisions < 1 or cfg.workers < 1 or cfg.minibatch < 1:
        raise ValueError(f"updates >= 0, decisions, workers and minibatch >= 1 required, got {cfg}")
    if not cfg.grad_clip > 0 or not cfg.lr > 0 or not cfg.weight_decay >= 0:
        raise ValueError(f"grad_clip and lr must be > 0 and weight_decay >= 0, got {cfg}")
    policy_kwargs = {"populations": policy.populations, "hidden": policy.nets[0].hidden, "share": policy.share,
                     "target_range": policy.nets[0].target_range}
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history = []
    per_worker = -(-cfg.decisions // cfg.workers)
    with WorkerPool(cfg.workers, env_kwargs, policy_kwargs, seed=cfg.seed, gamma=cfg.gamma,
                    backend=cfg.backend) as pool:
        for update in tqdm(range(cfg.updates), desc="policy gradient", disable=not progress):
            t0 = time.perf_counter()
            lives = pool.collect(per_worker, policy.state_dict())
            t1 = time.perf_counter()
            opt.zero_grad()
            stats = {"loss": 0.0, "policy": 0.0, "value": 0.0, "entropy": 0.0}
            for lo in range(0, lives.n, cfg.minibatch):
                sl = slice(lo, lo + cfg.minibatch)
                tensors = [torch.as_tensor(a[sl], device=device) for a in
                           (lives.tiles, lives.entities, lives.mask, lives.population)]
                logits, values = policy(*tensors)
                out = policy_gradient_loss(logits, torch.as_tensor(lives.actions[sl], device=device), values,
                                           torch.as_tensor(lives.returns[sl], device=device))
                weight = (min(lo + cfg.minibatch, lives.n) - lo) / lives.n
                (out["loss"] * weight).backward()
                for k in stats:
                    stats[k] += out[k].item() * weight
            if not np.isfinite(stats["loss"]):
                raise FloatingPointError(f"non-finite policy-gradient loss at update {update}: {stats}")
            torch.nn.utils.clip_grad_value_(policy.parameters(), cfg.grad_clip)
            opt.step()
            if not all(bool(torch.isfinite(p).all()) for p in policy.parameters()):
                raise FloatingPointError(f"non-finite weights after update {update} (lr {cfg.lr}): "
                                         f"try a smaller learning rate")
            history.append({"update": update, "lifetime": float(lives.lifetimes.mean()), "lives": len(lives.lifetimes),
                            "decisions": lives.n, "ticks": lives.ticks, "collect_s": t1 - t0,
                            "learn_s": time.perf_counter() - t1, **stats})
    return history


def play(policy: PopulationPolicy, env_kwargs: dict, ticks: int, seed: int = 0) -> dict:
    """Run a persistent world (respawn on) for ``ticks`` under ``policy``, sampling its actions.

    Returns ``{"visits": (P, H, W) int64 per population, "tiles": (H, W), "lifetimes": [...],
    "life_population": [...], "decisions": (P,), "attacks": (P,), "forest_moves": (P,)}``:
    ``attacks`` counts decisions that target an entity (a legal target other than "no attack"),
    ``forest_moves`` moves that end on a FOREST tile (foraging).
    """
    from ..envs.nmmo import MOVE_DELTAS, Tile
    if int(ticks) != ticks or ticks < 1:
        raise ValueError(f"ticks must be a positive integer, got {ticks}")
    env = NeuralMMO(**{**env_kwargs, "respawn": True})
    if ticks > env.horizon:
        raise ValueError(f"ticks = {ticks} exceeds the world's horizon = {env.horizon}: the agents stop there")
    P = env.populations
    obs, infos = env.reset(seed=seed)
    pop = {n: i["population"] for n, i in infos.items()}
    generator = torch.Generator().manual_seed(seed)
    visits = np.zeros((P, *env.tiles.shape), dtype=np.int64)
    decisions, attacks, forest = (np.zeros(P, dtype=np.int64) for _ in range(3))
    born = {n: 0 for n in obs}
    lifetimes, life_pop = [], []
    policy.eval()
    for _ in range(int(ticks)):
        names, actions, _ = act(policy, obs, pop, generator)
        ag = env.state_agents
        for n, a in zip(names, actions):
            i, p = env._slot[n], pop[n]
            decisions[p] += 1
            attacks[p] += int(a[2] != env.n_entities)
            dr, dc = MOVE_DELTAS[a[0]]
            forest[p] += int(a[0] != 0 and env.tiles[ag.r[i] + dr, ag.c[i] + dc] == Tile.FOREST)
        obs, _, terms, _, infos = env.step(_action_dict(names, actions))
        for n, dead in terms.items():
            if dead:
                lifetimes.append(env.tick - born.pop(n, 0))
                life_pop.append(pop[n])
        for n, i in infos.items():
            if n not in born and i["alive"]:
                born[n], pop[n] = env.tick, i["population"]
        live = ag.alive
        np.add.at(visits, (ag.population[live], ag.r[live], ag.c[live]), 1)
        obs = {n: o for n, o in obs.items() if n in env.agents}
    return {"visits": visits, "tiles": env.tiles.copy(), "lifetimes": np.array(lifetimes),
            "life_population": np.array(life_pop, dtype=np.int64), "decisions": decisions, "attacks": attacks,
            "forest_moves": forest}
