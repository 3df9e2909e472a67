"""Exploration grows with population size (Neural MMO, arXiv 2001.12004, the exploration figure):
the same map and policy with a cap of 1, 8, 32 or 128 concurrent agents, and how much of the map
the agents visit.

:func:`visit_map` runs :class:`~.env.NeuralMMO` for ``ticks`` steps with a policy (default the
scripted forager, :func:`~.env.scripted_policy`; the paper's are trained) and returns the tile visit
counts; :func:`exploration_sweep` repeats it for several agent caps on one map and reports the
coverage (:func:`~.env.coverage`: the share of walkable tiles visited at least once) and the
visits' spread. All caps share the map (one ``seed``), so they differ only in how many agents roam.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .env import NeuralMMO, coverage, scripted_policy

__all__ = ["visit_map", "exploration_sweep", "POPULATION_SIZES", "territory_information"]

#: the agent caps of the paper's exploration figure
POPULATION_SIZES = (1, 8, 32, 128)


def visit_map(max_agents: int, ticks: int, seed: int = 0, size: int = 62, border: int = 9,
              policy: Callable | None = None, **env_kw) -> tuple[np.ndarray, np.ndarray]:
    """Run :class:`~.env.NeuralMMO` (``max_agents`` cap, one population per agent up to 8, the
    official persistent world with respawning) for ``ticks`` steps, every live agent acting by
    ``policy(observations, rng) -> actions`` (default :func:`~.env.scripted_policy`, rng seeded by
    ``seed``). Returns ``(visits, tiles)``: int64 visit counts and the map, both ``(H, W)``."""
    if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 1:
        raise ValueError(f"ticks must be a positive int, got {ticks!r}")
    policy = scripted_policy if policy is None else policy
    env = NeuralMMO(size=size, border=border, max_agents=max_agents, populations=min(8, max_agents),
                    seed=seed, **env_kw)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(ticks):
        obs, *_ = env.step(policy(obs, rng) if obs else {})
    return env.visits.copy(), env.tiles.copy()


def exploration_sweep(sizes: Sequence[int] = POPULATION_SIZES, ticks: int = 500, seed: int = 0, size: int = 62,
                      border: int = 9, policy: Callable | None = None, progress: bool = False) -> dict:
    """:func:`visit_map` for each agent cap in ``sizes`` on the map of ``seed``. Returns
    ``{"rows": [{"agents", "coverage", "visited_tiles", "agent_ticks"}], "visits": {n: (H, W)},
    "tiles": (H, W)}``; ``agent_ticks`` is the total of live agents over the ticks."""
    if not len(sizes) or any(isinstance(n, bool) or int(n) != n or n < 1 for n in sizes):
        raise ValueError(f"sizes must be positive ints, got {list(sizes)}")
    rows, visits, tiles = [], {}, None
    it = sizes
    if progress:
        from tqdm import tqdm
        it = tqdm(sizes, desc="exploration")
    for n in it:
        v, t = visit_map(int(n), ticks, seed, size, border, policy)
        tiles = t
        visits[int(n)] = v
        rows.append({"agents": int(n), "coverage": coverage(v, t), "visited_tiles": int((v > 0).sum()),
                     "agent_ticks": int(v.sum())})
    return {"rows": rows, "visits": visits, "tiles": tiles}


def territory_information(visits: np.ndarray) -> dict:
    """How much a visited tile tells about the visitor's population (niche formation, ours).

    ``visits`` ``(P, H, W)`` counts per population. Returns ``{"mi_bits", "mi_corrected_bits",
    "max_bits"}``: the plug-in mutual information ``I(population; tile) = H(tile) - H(tile |
    population)`` of one visit, in bits, the same less the Miller-Madow bias
    ``(|tiles| - 1)(P - 1) / (2 N ln 2)`` (``|tiles|`` the visited tiles, ``N`` the visits), and
    its ceiling ``log2 P``. 0 when every population spreads over the map alike; ``log2 P`` when
    each holds a territory of its own.
    """
    v = np.asarray(visits, dtype=np.float64)
    if v.ndim != 3 or not np.isfinite(v).all() or (v < 0).any() or (v != np.round(v)).any():
        raise ValueError(f"visits must be non-negative integer counts (P, H, W) (the bias correction "
                         f"needs counts, not frequencies), got shape {v.shape}")
    P, N = v.shape[0], v.sum()
    if N == 0:
        raise ValueError("no visits")
    joint = v.reshape(P, -1) / N
    p_pop, p_tile = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    mi = max(float((joint[nz] * np.log2(joint[nz] / (p_pop @ p_tile)[nz])).sum()), 0.0)   # >= 0 up to rounding
    tiles = int((p_tile > 0).sum())
    bias = (tiles - 1) * (int((p_pop > 0).sum()) - 1) / (2 * N * np.log(2))
    return {"mi_bits": mi, "mi_corrected_bits": float(max(mi - bias, 0.0)), "max_bits": float(np.log2(P))}
