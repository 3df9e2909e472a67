"""A PettingZoo ``ParallelEnv`` around the Neural MMO v1.3 core (arXiv 2001.12004).

Official facts cite ``file:line`` in NeuralMMO/environment at tag ``v1.3`` (commit c8441124);
everything else is ours and says so.

Spawning and respawning (official ``forge/blade/core/realm.py``):

- every tick the realm makes one spawn attempt (``realm.py:104-110``), including the tick of
  ``reset`` (``reset`` is ``step({})``, ``realm.py:123-126``);
- the new agent's population is ``hash(str(entID)) % NPOP`` (``realm.py:131-135``): a
  pseudo-random draw (Python salts ``str`` hashes per process), not round robin. Ours:
  ``pop_assign="random"`` draws it uniformly from the env's rng; ``pop_assign="round_robin"``
  (ours) takes the next population in cyclic order that is not full;
- the attempt fails (nobody spawns that tick; the id is still consumed) when ``NENT`` agents are
  alive or when the drawn population already holds ``NENT // NPOP`` agents
  (``realm.py:25-26,47-52``); NENT = 128, NPOP = 8 in the v1.3 experiment config
  (``experiments.py:38-39``; the core default ``NENT = 256``, ``forge/blade/core/config.py:25``);
- the dead are removed and free their population's capacity (``realm.py:212-223,242-255,66-79``),
  so the world is persistent: dead agents are replaced, one attempt per tick. Officially the
  replacement is a new entity with a new id; here it reuses the freed name ("slot", ours).
  PettingZoo's ``parallel_api_test`` forbids a name that terminated from coming back, so
  ``respawn=False`` (ours) gives every slot a single life (an episode ends when all
  ``max_agents`` slots have lived and died, or at the horizon);
- spawn tiles: uniform over the grass ring just inside the lava (``config.py:47-55``); ours also
  offers ``spawn="interior"`` (:func:`~.terrain.spawn_positions`);
- a newly spawned agent is observed at the end of the tick it spawns and acts from the next tick
  on (officially only agents that sent decisions are stepped, ``realm.py:204-207``); here the
  agent is added after the core tick and its ``spawn_tick`` is the next tick, so spawn immunity
  (:data:`~.combat.IMMUNE_TICKS`) covers its first 10 ticks of action.

Reward: the official realm rewards 0 every tick (``realm.py:128-129``) and the trainer appends
``-1`` when an agent dies (``forge/ethyr/experience/rollout.py:84-87``); here the reward is 0 per
tick alive and -1 in the step an agent dies.

Horizon: v1.3 has none (persistent, ``forge/blade/core/api.py:80-86``); ``horizon`` (ours,
default 1000) truncates every live agent after that many steps.

Observation (per agent, a ``spaces.Dict``):

- ``"tiles"`` int8 ``(15, 15)``: tile indices (:class:`~.terrain.Tile`) within Chebyshev radius
  ``STIM = 7`` (``WINDOW = 15``, ``config.py:22-23``) centred on the agent; cells off the map
  are LAVA (index 0), as the official padded crop (``forge/blade/core/map.py:52-63``);
- ``"entities"`` float32 ``(E, F)``: officially every agent on a tile of the window, self first
  (``forge/blade/io/stimulus/dynamic.py:93-105``); ours caps it at the ``E`` nearest
  (``n_entities=32``, ours): row 0 is always the observer itself, then the other live agents by
  Chebyshev distance (ties by slot index); columns :data:`ENTITY_FEATURES` (the official entity
  stimulus has Self, Population, relative R and C, Damage, TimeAlive, Food, Water, Health,
  Freeze, Immune and Wilderness, ``forge/blade/io/stimulus/static.py:34-112``; the skill levels
  are ours, damage, time alive and wilderness are not observed here). Raw, unnormalised;
- ``"mask"`` int8 ``(E,)`` (``MultiBinary``): 1 for real entity rows (row 0 always);
- ``"self"`` float32 ``(S,)``: the observer's own attributes :data:`SELF_FEATURES` (ours).

Action (per agent): ``{"move": Discrete(5), "style": Discrete(3), "target": Discrete(E + 1)}``.
``move`` 0 stay, 1 N, 2 S, 3 E, 4 W (:data:`~.rules.MOVE_DELTAS`); ``style`` 0 melee, 1 range,
2 mage (:class:`~.combat.Style`); ``target`` indexes the entity rows of the agent's *last*
observation; ``E`` means no attack (ours), as does an index of a masked row, row 0 (self: the
official ``Attack.call`` ignores self-targets, ``forge/blade/io/action/static.py:135-137``), or a
target that is out of the style's range. Agents missing from ``actions`` stay and do not attack;
actions of the dead or of unknown names are ignored. A value that is not an integer, or outside
``move`` 0..4, ``style`` 0..2, ``target`` 0..E, is a ``ValueError`` naming the agent.
"""
from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .combat import FREEZE_TICKS, IMMUNE_TICKS, MAX_LEVEL, Skill, Style
from .rules import MOVE_DELTAS, Agents
from .rules import step as core_step
from .terrain import Tile, generate_map, spawn_candidates, spawn_positions, walkable

__all__ = ["NeuralMMO", "ENTITY_FEATURES", "SELF_FEATURES", "VIEW_RADIUS", "N_ENTITIES",
           "TILE_COLORS", "POPULATION_COLORS", "scripted_policy", "visitation", "coverage"]

VIEW_RADIUS = 7
"""Official ``STIM = 7``: the tile crop is ``2 * 7 + 1 = 15`` a side (``config.py:22-23``)."""
N_ENTITIES = 32
"""Entity rows per observation (ours; officially every agent in the window, variable length)."""

ENTITY_FEATURES = ("dr", "dc", "food", "water", "health", "population", "melee", "range", "mage",
                   "defense", "constitution", "immune", "freeze", "self")
"""Columns of ``obs["entities"]``: position relative to the observer, vitals, population, levels
of the combat skills, ticks of spawn immunity and freeze left, and 1 for the observer's own row."""
_ENTITY_SKILLS = [int(Skill.MELEE), int(Skill.RANGE), int(Skill.MAGE), int(Skill.DEFENSE), int(Skill.CONSTITUTION)]

SELF_FEATURES = ("r", "c", "food", "water", "health", "food_max", "water_max", "health_max",
                 "constitution", "melee", "range", "mage", "defense", "fishing", "hunting",
                 "immune", "freeze", "age")
"""Entries of ``obs["self"]``: absolute position, vitals and their maxima, the 7 skill levels
(:class:`~.combat.Skill` order), immunity and freeze left, and ticks since spawn (ours)."""
_MAXIMA_SKILLS = [int(Skill.HUNTING), int(Skill.FISHING), int(Skill.CONSTITUTION)]   # food, water, health max

TILE_COLORS = np.array([[207, 16, 32],     # LAVA
                        [30, 90, 200],     # WATER
                        [120, 190, 90],    # GRASS
                        [150, 120, 70],    # SCRUB
                        [20, 100, 40],     # FOREST
                        [128, 128, 128]],  # STONE
                       dtype=np.uint8)
"""RGB per :class:`~.terrain.Tile` index for :meth:`NeuralMMO.render` (ours)."""

POPULATION_COLORS = np.array([[255, 255, 0], [255, 0, 255], [0, 255, 255], [255, 255, 255],
                              [255, 128, 0], [0, 0, 0], [128, 0, 255], [255, 160, 200]],
                             dtype=np.uint8)
"""RGB per population (cycled beyond 8) for :meth:`NeuralMMO.render` (ours; the official client
uses a ``Palette`` of neon colours, ``realm.py:31,57``)."""


class NeuralMMO(ParallelEnv):
    """Neural MMO v1.3 as a PettingZoo parallel environment (see the module docstring).

    Args:
        size, border: map interior side and lava border (official ``SZ = 62, BORDER = 9``,
            ``config.py:18-19``).
        max_agents: agent cap ``NENT`` (128 in the v1.3 experiments, ``experiments.py:38``); the
            names ``agent_0 .. agent_{max_agents-1}`` are fixed slots.
        populations: ``NPOP = 8`` (``experiments.py:39``); each holds at most
            ``max_agents // populations`` agents (``realm.py:26``).
        horizon: steps before every live agent is truncated (ours; v1.3 has none).
        seed: default seed of the first :meth:`reset` (map and rng).
        spawn: ``"ring"`` (official) or ``"interior"`` (ours).
        lava_lethal: ``True`` (official) lava kills; ``False`` (ours) blocks moves into lava.
        respawn: refill dead slots (official persistence); ``False`` (ours): one life per slot.
        pop_assign: ``"random"`` (official-like) or ``"round_robin"`` (ours).
        spawn_per_tick: spawn attempts per tick, ``reset`` included (official 1; more is ours,
            e.g. ``max_agents`` with ``pop_assign="round_robin"`` fills every slot at reset).
        n_entities: entity rows ``E`` per observation (ours).
        render_mode: ``None`` or ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "name": "neural_mmo_v1_3", "is_parallelizable": True}

    def __init__(self, size: int = 62, border: int = 9, max_agents: int = 128, populations: int = 8,
                 horizon: int = 1000, seed: int | None = None, spawn: str = "ring",
                 lava_lethal: bool = True, respawn: bool = True, pop_assign: str = "random",
                 n_entities: int = N_ENTITIES, render_mode: str | None = None,
                 spawn_per_tick: int = 1):
        if int(max_agents) != max_agents or max_agents < 1:
            raise ValueError(f"max_agents must be a positive integer, got {max_agents}")
        if int(populations) != populations or not 1 <= populations <= max_agents:
            raise ValueError(f"populations must be an integer in [1, max_agents], got {populations}")
        if int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon}")
        if spawn not in ("ring", "interior"):
            raise ValueError(f"unknown spawn region {spawn!r}; expected 'ring' or 'interior'")
        if pop_assign not in ("random", "round_robin"):
            raise ValueError(f"unknown pop_assign {pop_assign!r}; expected 'random' or 'round_robin'")
        if int(n_entities) != n_entities or n_entities < 1:
            raise ValueError(f"n_entities must be a positive integer, got {n_entities}")
        for name, flag in (("lava_lethal", lava_lethal), ("respawn", respawn)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        if int(spawn_per_tick) != spawn_per_tick or spawn_per_tick < 1:
            raise ValueError(f"spawn_per_tick must be a positive integer, got {spawn_per_tick}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        generate_map(size=size, border=border, seed=0, n_octaves=1)  # validates size and border
        self.size, self.border = int(size), int(border)
        self.max_agents, self.populations = int(max_agents), int(populations)
        self.pop_size = self.max_agents // self.populations
        self.horizon, self.seed, self.spawn = int(horizon), seed, spawn
        self.lava_lethal, self.respawn, self.pop_assign = bool(lava_lethal), bool(respawn), pop_assign
        self.n_entities, self.render_mode = int(n_entities), render_mode
        self.spawn_per_tick = int(spawn_per_tick)
        self.possible_agents = [f"agent_{i}" for i in range(self.max_agents)]
        self._slot = {name: i for i, name in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self._rng: np.random.Generator | None = None

        E, R = self.n_entities, 2 * VIEW_RADIUS + 1
        side = self.size + 2 * self.border
        big = float(max(MAX_LEVEL, side))
        e_low = np.zeros(len(ENTITY_FEATURES), dtype=np.float32)
        e_high = np.full(len(ENTITY_FEATURES), MAX_LEVEL, dtype=np.float32)
        e_low[:2], e_high[:2] = -VIEW_RADIUS, VIEW_RADIUS
        e_high[ENTITY_FEATURES.index("population")] = self.populations - 1
        e_high[ENTITY_FEATURES.index("immune")] = IMMUNE_TICKS
        e_high[ENTITY_FEATURES.index("freeze")] = FREEZE_TICKS
        e_high[ENTITY_FEATURES.index("self")] = 1
        s_high = np.full(len(SELF_FEATURES), big, dtype=np.float32)
        s_high[SELF_FEATURES.index("age")] = np.float32(self.horizon)
        self._obs_space = spaces.Dict({
            "tiles": spaces.Box(0, len(Tile) - 1, (R, R), dtype=np.int8),
            "entities": spaces.Box(np.broadcast_to(e_low, (E, len(e_low))),
                                   np.broadcast_to(e_high, (E, len(e_high))), dtype=np.float32),
            "mask": spaces.MultiBinary(E),
            "self": spaces.Box(np.zeros(len(SELF_FEATURES), dtype=np.float32), s_high, dtype=np.float32),
        })
        self._act_space = spaces.Dict({"move": spaces.Discrete(5), "style": spaces.Discrete(3),
                                       "target": spaces.Discrete(E + 1)})

    # ------------------------------------------------------------------ spaces

    def observation_space(self, agent):
        """The same ``spaces.Dict`` object for every agent (see the module docstring)."""
        return self._obs_space

    def action_space(self, agent):
        """``Dict(move=Discrete(5), style=Discrete(3), target=Discrete(E + 1))``; target ``E`` = none."""
        return self._act_space

    # ------------------------------------------------------------------ reset / step

    def reset(self, seed: int | None = None, options: dict | None = None):
        """New map and world; spawns the first agent (``realm.py:123-126``). Returns ``(obs, infos)``.

        ``seed`` (else the constructor ``seed`` on the first reset) seeds map and rng; without a
        seed a later reset draws a new map from the running rng.
        """
        if seed is None and self._rng is None:
            seed = self.seed
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._rng is None:
            self._rng = np.random.default_rng()
        map_seed = int(self._rng.integers(2 ** 31))
        self.tiles = generate_map(size=self.size, border=self.border, seed=map_seed)
        self._spawn_cand = spawn_candidates(self.tiles.shape, self.border, self.spawn)
        self._padded = None
        N, E = self.max_agents, self.n_entities
        self.state_agents = Agents.spawn(np.zeros((N, 2), dtype=np.int64))
        self.state_agents.alive[:] = False
        self._used = np.zeros(N, dtype=bool)
        self._ent_slots = np.full((N, E), -1, dtype=np.int64)
        self._next_pop = 0
        self.visits = np.zeros(self.tiles.shape, dtype=np.int64)
        self.tick = 0
        new = self._spawn_attempts(exclude=np.zeros(N, dtype=bool))
        self._count_visits()
        self.agents = self._live_names()
        report = np.flatnonzero(self.state_agents.alive) if not new else np.array(new)
        obs = self._observe(report)
        return obs, self._infos(report)

    def step(self, actions: dict):
        """One tick: the core rules (:func:`~.rules.step`), then one spawn attempt.

        Returns ``(obs, rewards, terminations, truncations, infos)`` keyed by the agents live
        before the step (those that died get ``terminations = True`` and reward -1, then leave
        :attr:`agents`) and the agents spawned in this step, if any.
        """
        if self._rng is None:
            raise RuntimeError("call reset() before step()")
        ag = self.state_agents
        N = self.max_agents
        before = ag.alive.copy()
        moves = np.zeros(N, dtype=np.int64)
        styles = np.full(N, int(Style.NONE), dtype=np.int64)
        targets = np.zeros(N, dtype=np.int64)
        slot = self._slot
        names = [n for n, a in (actions or {}).items() if a is not None and n in slot]  # others do not act
        try:
            rows = [(slot[n], actions[n]["move"], actions[n]["style"], actions[n]["target"]) for n in names]
        except (KeyError, TypeError, IndexError):
            bad = next(n for n in names if not _is_action(actions[n]))
            raise ValueError(f"the action of {bad} must be a dict with integer 'move', 'style' and 'target', "
                             f"got {actions[bad]!r}") from None
        if rows:
            table = np.array(rows)
            if table.dtype.kind not in "iu" or table.ndim != 2:
                bad = next(n for n, r in zip(names, rows) if not all(isinstance(v, (int, np.integer)) for v in r))
                raise ValueError(f"the action of {bad} must hold integers, got {actions[bad]!r}")
            i, m, s, t = table.astype(np.int64).T
            acting = before[i]                                         # the dead do not act
            for values, low, high, what in ((m, 0, 5, "move"), (s, 0, 3, "style"),
                                            (t, 0, self.n_entities + 1, "target")):
                bad = np.flatnonzero(acting & ((values < low) | (values >= high)))
                if len(bad):
                    raise ValueError(f"{what} of {names[bad[0]]} must be in {low}..{high - 1}, got {values[bad[0]]}")
            i, m, s, t = i[acting], m[acting], s[acting], t[acting]
            moves[i] = m
            slot = self._ent_slots[i, np.minimum(np.maximum(t, 0), self.n_entities - 1)]
            attacks = (t >= 0) & (t < self.n_entities) & (slot >= 0)
            styles[i[attacks]], targets[i[attacks]] = s[attacks], slot[attacks]
        out = core_step(self.tiles, ag, self.tick, moves, styles, targets, self._rng,
                        lava_lethal=self.lava_lethal)
        died = out["died"]
        self.tick += 1
        new = self._spawn_attempts(exclude=died)
        self._count_visits()
        truncate = self.tick >= self.horizon
        reported = before.copy()
        reported[new] = True
        report = np.flatnonzero(reported)
        names = [self.possible_agents[i] for i in report.tolist()]
        obs = self._observe(report, names)
        dead = died[report].tolist()
        alive = ag.alive[report].tolist()
        rewards = {n: -1.0 if d else 0.0 for n, d in zip(names, dead)}
        terms = dict(zip(names, dead))
        truncs = dict(zip(names, [a and truncate for a in alive]))
        infos = self._infos(report, names)
        self.agents = [] if truncate else [n for n, a in zip(names, alive) if a]
        return obs, rewards, terms, truncs, infos

    # ------------------------------------------------------------------ internals

    def _live_names(self) -> list[str]:
        return [self.possible_agents[i] for i in np.flatnonzero(self.state_agents.alive)]

    def _infos(self, idx: np.ndarray, names: list[str] | None = None) -> dict:
        """``{name: {"population", "age", "alive"}}`` of the slots ``idx``."""
        ag = self.state_agents
        names = [self.possible_agents[i] for i in idx] if names is None else names
        cols = zip(ag.population[idx].tolist(), (self.tick - ag.spawn_tick[idx]).tolist(), ag.alive[idx].tolist())
        return {n: {"population": p, "age": a, "alive": al} for n, (p, a, al) in zip(names, cols)}

    def _spawn_attempts(self, exclude: np.ndarray) -> list[int]:
        """This tick's spawn attempts; the slots that were filled. One attempt (official):
        :meth:`_spawn`; ``spawn_per_tick > 1`` (ours): :meth:`_spawn_many`."""
        if self.spawn_per_tick == 1:
            i = self._spawn(exclude)
            return [] if i is None else [i]
        return self._spawn_many(exclude, self.spawn_per_tick)

    def _free_slots(self, exclude: np.ndarray) -> np.ndarray:
        """Slots a spawn may fill: dead, not freed this tick (``exclude``), and, without respawn,
        never used."""
        ag = self.state_agents
        return np.flatnonzero(~ag.alive & ~exclude & (True if self.respawn else ~self._used))

    def _round_robin(self, counts) -> int | None:
        """``pop_assign="round_robin"``: the next population in cyclic order that is not full
        (``counts`` per population), or None; advances the cycle past it."""
        for j in range(self.populations):
            p = (self._next_pop + j) % self.populations
            if counts[p] < self.pop_size:
                self._next_pop = (p + 1) % self.populations
                return p
        return None

    def _spawn_many(self, exclude: np.ndarray, k: int) -> list[int]:
        """``k`` spawn attempts at once (ours). Each fails as one :meth:`_spawn` would (its
        population full, or no free slot left); the rng draws, in order, the ``k`` populations
        (``pop_assign="random"``), then the positions of the agents that spawn."""
        ag = self.state_agents
        slots = self._free_slots(exclude)
        if not len(slots) and self.pop_assign != "random":
            return []                                                  # (random still draws its k)
        counts = np.bincount(ag.population[ag.alive], minlength=self.populations).tolist()
        pops: list[int] = []
        if self.pop_assign == "random":
            for p in self._rng.integers(self.populations, size=k).tolist():
                if len(pops) == len(slots):
                    break
                if counts[p] < self.pop_size:
                    counts[p] += 1
                    pops.append(p)
        else:
            while len(pops) < min(k, len(slots)):
                p = self._round_robin(counts)
                if p is None:
                    break
                counts[p] += 1
                pops.append(p)
        if not pops:
            return []
        idx = slots[:len(pops)]
        pos = spawn_positions(self.tiles, len(pops), self._rng, candidates=self._spawn_cand)
        ag.place(idx, pos, np.array(pops), self.tick)
        self._used[idx] = True
        return idx.tolist()

    def _spawn(self, exclude: np.ndarray) -> int | None:
        """One spawn attempt (``realm.py:104-110,131-135``, ``47-55``); returns the slot or None.

        The rng draws, in order: the population (``pop_assign="random"``), then the position.
        """
        ag = self.state_agents
        if ag.alive.sum() >= self.max_agents:
            return None
        counts = np.bincount(ag.population[ag.alive], minlength=self.populations)
        if self.pop_assign == "random":
            pop = int(self._rng.integers(self.populations))
            if counts[pop] >= self.pop_size:
                return None  # official: the drawn population is full, nobody spawns (realm.py:51-52)
        else:
            pop = self._round_robin(counts)
            if pop is None:
                return None
        slots = self._free_slots(exclude)
        if len(slots) == 0:
            return None
        i = int(slots[0])
        pos = spawn_positions(self.tiles, 1, self._rng, candidates=self._spawn_cand)
        ag.place(i, pos[0], pop, self.tick)
        self._used[i] = True
        return i

    def _count_visits(self) -> None:
        ag = self.state_agents
        live = ag.alive
        np.add.at(self.visits, (ag.r[live], ag.c[live]), 1)

    def _observe(self, idx: np.ndarray, names: list[str] | None = None) -> dict:
        """Observations of the slots ``idx`` (vectorised; ``names``: theirs, if known), and their
        entity-row -> slot maps."""
        idx = np.asarray(idx, dtype=np.int64)
        ag, N, E, rad = self.state_agents, self.max_agents, self.n_entities, VIEW_RADIUS
        if len(idx) == 0:
            return {}
        # tiles: pad the map with LAVA, crop 15 x 15 windows (one block copy per observer)
        if self._padded is None:                                       # once per map: a view that follows the buffer
            self._padded = np.full((self.tiles.shape[0] + 2 * rad, self.tiles.shape[1] + 2 * rad),
                                   Tile.LAVA, dtype=np.int8)
            self._windows = np.lib.stride_tricks.sliding_window_view(self._padded, (2 * rad + 1, 2 * rad + 1))
        self._padded[rad:-rad, rad:-rad] = self.tiles
        crops = self._windows[ag.r[idx], ag.c[idx]]                    # (K, 15, 15) int8, a copy

        # entities: observer first (key -1), others by Chebyshev distance within the window
        lv = ag.levels()
        r32, c32 = ag.r.astype(np.int32), ag.c.astype(np.int32)
        dist = np.maximum(np.abs(r32[None, :] - r32[idx, None]), np.abs(c32[None, :] - c32[idx, None]))
        far = rad + 1                                                  # out of view, or dead
        d = np.minimum(dist, far)
        d[:, ~ag.alive] = far
        d[np.arange(len(idx)), idx] = -1                               # the observer first
        oi, sj = np.nonzero(d < far)                                   # visible pairs, by observer then slot
        by = np.argsort(oi * (far + 2) + d[oi, sj] + 1, kind="stable")  # by observer, distance (ties: slot)
        oi, sj = oi[by], sj[by]
        counts = np.bincount(oi, minlength=len(idx))
        rank = np.arange(len(oi)) - (np.cumsum(counts) - counts)[oi]
        keep = rank < E                                                # the E nearest
        slots = np.full((len(idx), E), -1, dtype=np.int64)
        slots[oi[keep], rank[keep]] = sj[keep]
        real = slots >= 0
        j = np.where(real, slots, N)                                   # row N of the table: zeros
        immune_left = np.minimum(np.maximum(IMMUNE_TICKS - (self.tick - ag.spawn_tick), 0), IMMUNE_TICKS)
        freeze_left = np.minimum(np.maximum(ag.frozen_until - self.tick, 0), FREEZE_TICKS)
        table = np.zeros((N + 1, len(ENTITY_FEATURES)), dtype=np.float32)  # (N + 1, F)
        for col, values in enumerate((ag.r, ag.c, ag.food, ag.water, ag.health, ag.population)):
            table[:N, col] = values
        table[:N, 6:11] = lv[:, _ENTITY_SKILLS]
        table[:N, 11], table[:N, 12] = immune_left, freeze_left
        feats = table[j]                                                   # (K, E, F), padding rows 0
        feats[..., :2] -= table[idx, None, :2] * real[..., None]           # relative position
        feats[:, 0, -1] = 1                                                # row 0 is the observer
        self._ent_slots[idx] = slots

        me = np.empty((len(idx), len(SELF_FEATURES)), dtype=np.float32)
        me[:, :5] = table[idx, :5]                                      # r, c, food, water, health
        me[:, 5:8] = lv[idx][:, _MAXIMA_SKILLS]
        me[:, 8:15] = lv[idx]
        me[:, 15], me[:, 16], me[:, 17] = immune_left[idx], freeze_left[idx], self.tick - ag.spawn_tick[idx]
        mask = real.astype(np.int8)
        if names is None:
            names = [self.possible_agents[i] for i in idx.tolist()]
        return {name: {"tiles": t, "entities": e, "mask": m, "self": s}
                for name, t, e, m, s in zip(names, crops, feats, mask, me)}

    # ------------------------------------------------------------------ render / state

    def render(self):
        """RGB array ``(H, W, 3)`` uint8, one pixel per tile; live agents coloured by population."""
        if self._rng is None:
            raise RuntimeError("call reset() before render()")
        img = TILE_COLORS[self.tiles]
        ag = self.state_agents
        live = ag.alive
        img[ag.r[live], ag.c[live]] = POPULATION_COLORS[ag.population[live] % len(POPULATION_COLORS)]
        return img

    def state(self) -> np.ndarray:
        """Global state (ours): int16 ``(2, H, W)``: tile indices and live agents per tile."""
        if self._rng is None:
            raise RuntimeError("call reset() before state()")
        ag = self.state_agents
        occ = np.zeros(self.tiles.shape, dtype=np.int16)
        np.add.at(occ, (ag.r[ag.alive], ag.c[ag.alive]), 1)
        return np.stack([self.tiles.astype(np.int16), occ])

    def close(self):
        pass


# ---------------------------------------------------------------------- helpers

def _is_action(a) -> bool:
    try:
        return all(k in a for k in ("move", "style", "target"))
    except TypeError:
        return False


def visitation(env: NeuralMMO) -> np.ndarray:
    """A copy of ``env.visits``: int64 map-shaped count of live agents per tile, summed over the
    ticks since reset (counted after ``reset`` and after every step; ours)."""
    return env.visits.copy()


def coverage(visits: np.ndarray, tiles: np.ndarray) -> float:
    """Fraction of walkable tiles (GRASS, SCRUB, FOREST: all inside the lava) visited at least once."""
    visits, tiles = np.asarray(visits), np.asarray(tiles)
    if visits.shape != tiles.shape:
        raise ValueError(f"visits {visits.shape} and tiles {tiles.shape} must have the same shape")
    ok = walkable(tiles)
    n = int(ok.sum())
    return float(((visits > 0) & ok).sum() / n) if n else 0.0


_CENTRE = VIEW_RADIUS


def _forage_action(obs: dict, rng: np.random.Generator) -> dict:
    tiles, me = obs["tiles"], obs["self"]
    food, water = me[SELF_FEATURES.index("food")], me[SELF_FEATURES.index("water")]
    fmax, wmax = me[SELF_FEATURES.index("food_max")], me[SELF_FEATURES.index("water_max")]
    dest = tiles[_CENTRE + MOVE_DELTAS[1:, 0], _CENTRE + MOVE_DELTAS[1:, 1]]
    safe = walkable(dest)  # never into lava, water or stone
    move = 0
    want = None
    hungry, thirsty = food <= fmax // 2 + 1, water <= wmax // 2 + 1
    if hungry or thirsty:
        goal = Tile.FOREST if (hungry and (not thirsty or food / fmax <= water / wmax)) else Tile.WATER
        want = np.argwhere(tiles == int(goal)) - _CENTRE
        if goal == Tile.FOREST:
            want = want[np.any(want != 0, axis=1)]  # the tile underfoot is foraged next tick anyway
    if want is not None and len(want):
        d = np.abs(want).sum(axis=1)
        tr, tc = want[np.argmin(d)]
        if goal == Tile.WATER and abs(tr) + abs(tc) == 1:
            return {"move": 0, "style": 0, "target": int(obs["mask"].shape[0])}  # drinking
        prefs = []
        if tr:
            prefs.append(1 if tr < 0 else 2)
        if tc:
            prefs.append(4 if tc < 0 else 3)
        if len(prefs) == 2 and abs(tc) > abs(tr):
            prefs.reverse()
        for p in prefs:
            if safe[p - 1]:
                move = p
                break
    if move == 0:
        choices = np.flatnonzero(safe) + 1
        move = int(rng.choice(choices)) if len(choices) else 0
    return {"move": int(move), "style": 0, "target": int(obs["mask"].shape[0])}


def scripted_policy(obs: dict, rng: np.random.Generator) -> dict:
    """A foraging baseline (ours). ``obs`` is one agent's observation (returns its action) or a
    dict ``{name: observation}`` (returns ``{name: action}``, in the dict's order).

    When food or water is at most half its maximum + 1, step greedily (Manhattan, the larger
    axis first) towards the nearest FOREST tile or WATER tile of the crop (the scarcer resource
    first); next to water it stays and drinks. Otherwise, or when both greedy steps are blocked,
    a uniformly random move onto a walkable neighbour (never lava). Never attacks.
    """
    if "tiles" in obs:
        return _forage_action(obs, rng)
    return {name: _forage_action(o, rng) for name, o in obs.items()}
