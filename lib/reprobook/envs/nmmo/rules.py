"""Per-tick survival rules of Neural MMO v1.3 (arXiv 2001.12004), vectorised over agents.

Official facts cite ``file:line`` in NeuralMMO/environment at tag ``v1.3`` (commit c8441124).

Vitals (paper: food, water, health). An agent starts with 10 of each (``RESOURCE = HEALTH = 10``,
``forge/blade/core/config.py:29-30``). Their maxima are skill levels, which start at 10 and grow:
food max = hunting level, water max = fishing level, health max = constitution level
(``forge/blade/systems/skill.py:101,158,178``; initial experience ``expAtLevel(10)``,
``skill.py:94,154,174``). Each tick, in this order (the official order is that of a Python
``set`` of skill objects, ``skill.py:47-49``, i.e. arbitrary; ours: hunting, fishing, constitution):

1. hunting: food -1 (not below 0); on a FOREST tile the agent forages: the tile becomes SCRUB and
   food += ``min(missing, floor(0.5 * hunting level))`` (5 at level 10), hunting xp += 10 x that
   (``skill.py:176-191``, ``RESOURCERESTORE = 0.5``, ``config.py:32``); a FOREST tile holds one
   harvest (``forge/blade/lib/enums.py:35``), so when several agents stand on it only the lowest
   index forages (ours; officially the first in dict order);
2. fishing: water -1; next to (4-neighbourhood) a WATER tile, water += ``min(missing,
   floor(0.5 * fishing level))`` and fishing xp += 10 x that (``skill.py:156-169``,
   ``forge/blade/systems/ai.py:50-51,71-73``); water tiles never deplete;
3. constitution: if food > food_max // 2 and water > water_max // 2, health +=
   ``min(missing, floor(0.1 * constitution level))`` (1 at level 10, ``HEALTHRESTORE = 0.1``,
   ``config.py:33``); then health -1 if food == 0 and -1 more if water == 0 (so 1 or 2 per tick,
   not below 0) (``skill.py:96-112``).

Movement: ``0`` stay, ``1`` N (-1, 0), ``2`` S (+1, 0), ``3`` E (0, +1), ``4`` W (0, -1)
(``forge/blade/io/action/static.py:82-92``). A move into WATER or STONE or off the map is
ignored, as is any move of a frozen agent (``static.py:44-64``). Agents may share tiles (official:
tiles hold any number of entities, ``forge/blade/core/tile.py:26-28``), so moves never conflict
and the result does not depend on agent order. LAVA is enterable and kills
(``forge/blade/entity/player.py:34-37``); ``lava_lethal=False`` (ours) blocks it instead.

Death: health <= 0 or standing on LAVA (``player.py:29-37``). Ours: the dead are marked at the
end of the tick in which they die; officially they are marked at the start of the next tick and
still execute that tick's actions once.

Forest regrowth: each SCRUB tile turns back into FOREST with probability ``0.025`` per tick
(``enums.py:36``, ``tile.py:34-41``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .combat import Skill, attack, level_from_xp, xp_at_level
from .terrain import Tile, passable

__all__ = ["Agents", "INITIAL_RESOURCE", "INITIAL_HEALTH", "RESOURCE_RESTORE", "HEALTH_RESTORE",
           "STARVE_DAMAGE", "FOREST_REGROW_PROB", "MOVE_DELTAS", "update_vitals", "move",
           "regrow", "deaths", "step"]

INITIAL_RESOURCE = 10
"""Official starting food and water, and starting hunting / fishing level (``config.py:29``)."""
INITIAL_HEALTH = 10
"""Official starting health and constitution level (``config.py:30``)."""
RESOURCE_RESTORE = 0.5
"""Official: foraging / drinking restores ``floor(0.5 * skill level)`` (``config.py:32``)."""
HEALTH_RESTORE = 0.1
"""Official: regeneration ``floor(0.1 * constitution level)`` per tick (``config.py:33``)."""
STARVE_DAMAGE = 1
"""Official: health lost per tick per empty resource (``health.decrement()``, ``skill.py:109-112``)."""
FOREST_REGROW_PROB = 0.025
"""Official per-tick probability that SCRUB regrows to FOREST (``Forest.respawnProb``, ``enums.py:36``)."""
MOVE_DELTAS = np.array([[0, 0], [-1, 0], [1, 0], [0, 1], [0, -1]], dtype=np.int64)
"""(dr, dc) of actions stay, N, S, E, W (official directions ``static.py:82-92``; stay is ours)."""
_NEIGHBOURS = MOVE_DELTAS[1:]
# plain ints: numpy compares an array with an IntEnum member about 2 us slower than with an int
_FOREST, _SCRUB, _LAVA = int(Tile.FOREST), int(Tile.SCRUB), int(Tile.LAVA)


@dataclass
class Agents:
    """Struct of arrays for ``N`` agent slots (dead slots stay, with ``alive = False``).

    ``r, c`` int64 (N,) position; ``food, water, health`` int64 (N,); ``alive`` bool (N,);
    ``population`` int64 (N,) (the paper's populations, 8 in v1.3, ``config.py:26``);
    ``spawn_tick`` int64 (N,); ``frozen_until`` int64 (N,): moves are ignored on ticks
    ``< frozen_until``; ``xp`` int64 (N, 7) experience per :class:`~.combat.Skill`.
    """

    r: np.ndarray
    c: np.ndarray
    food: np.ndarray
    water: np.ndarray
    health: np.ndarray
    alive: np.ndarray
    population: np.ndarray
    spawn_tick: np.ndarray
    frozen_until: np.ndarray
    xp: np.ndarray

    @classmethod
    def spawn(cls, positions, population=None, tick: int = 0) -> "Agents":
        """Fresh agents at ``positions`` ``int (N, 2)`` spawned at ``tick``: 10 food, water and
        health; constitution, hunting and fishing at level 10 and the combat skills at level 1."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
        n = len(pos)
        pop = np.zeros(n, dtype=np.int64) if population is None else np.asarray(population, dtype=np.int64)
        if pop.shape != (n,):
            raise ValueError(f"population must have shape ({n},), got {pop.shape}")
        if np.any(pop < 0):
            raise ValueError("population indices must be non-negative")
        xp = np.repeat(_FRESH_XP[None], n, axis=0)
        full = lambda v: np.full(n, v, dtype=np.int64)  # noqa: E731
        return cls(r=pos[:, 0].copy(), c=pos[:, 1].copy(), food=full(INITIAL_RESOURCE),
                   water=full(INITIAL_RESOURCE), health=full(INITIAL_HEALTH),
                   alive=np.ones(n, dtype=bool), population=pop, spawn_tick=full(tick),
                   frozen_until=full(tick), xp=xp)

    def place(self, i, position, population, tick: int) -> None:
        """Make slot(s) ``i`` fresh agents (as :meth:`spawn`) at ``position`` (r, c) (or ``(n, 2)``
        for an index array ``i``): the cheap path the environment takes for every (re)spawn."""
        position = np.asarray(position)
        self.r[i], self.c[i] = position[..., 0], position[..., 1]
        self.food[i] = self.water[i] = INITIAL_RESOURCE
        self.health[i] = INITIAL_HEALTH
        self.alive[i] = True
        self.population[i] = population
        self.spawn_tick[i] = self.frozen_until[i] = tick
        self.xp[i] = _FRESH_XP

    @property
    def n(self) -> int:
        """Number of agent slots."""
        return len(self.r)

    def levels(self) -> np.ndarray:
        """Skill levels, int64 (N, 7)."""
        return level_from_xp(self.xp)

    def maxima(self) -> dict[str, np.ndarray]:
        """Current maxima (int64 (N,)): ``food`` = hunting, ``water`` = fishing and ``health`` =
        constitution level (``skill.py:101,158,178``)."""
        lv = self.levels()
        return {"food": lv[:, Skill.HUNTING], "water": lv[:, Skill.FISHING],
                "health": lv[:, Skill.CONSTITUTION]}

    def copy(self) -> "Agents":
        return Agents(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    @classmethod
    def concat(cls, *groups: "Agents") -> "Agents":
        """Agents of ``groups`` one after the other (e.g. to add a newly spawned agent)."""
        return cls(**{f.name: np.concatenate([getattr(g, f.name) for g in groups])
                      for f in fields(cls)})


def _fresh_xp() -> np.ndarray:
    """A new agent's experience (7,): constitution at level 10, hunting and fishing at 10, the
    combat skills at level 1 (0 xp)."""
    xp = np.zeros(len(Skill), dtype=np.int64)
    xp[Skill.CONSTITUTION] = xp_at_level(INITIAL_HEALTH)
    xp[[Skill.HUNTING, Skill.FISHING]] = xp_at_level(INITIAL_RESOURCE)
    return xp


_FRESH_XP = _fresh_xp()


def _adjacent_to(tiles: np.ndarray, r: np.ndarray, c: np.ndarray, tile: Tile) -> np.ndarray:
    """bool (N,): some 4-neighbour of (r, c), inside the map, is ``tile``."""
    R, C = tiles.shape
    nr = r[:, None] + _NEIGHBOURS[None, :, 0]
    nc = c[:, None] + _NEIGHBOURS[None, :, 1]
    inside = (nr >= 0) & (nr < R) & (nc >= 0) & (nc < C)
    mats = tiles[np.minimum(np.maximum(nr, 0), R - 1), np.minimum(np.maximum(nc, 0), C - 1)]
    return (inside & (mats == int(tile))).any(axis=1)


def update_vitals(tiles: np.ndarray, agents: Agents) -> None:
    """Hunting, fishing and constitution for the living agents (module docstring), in place.

    ``tiles`` int8 (R, C) is changed in place: foraged FOREST tiles become SCRUB.
    """
    live = agents.alive
    food_max, water_max, con = level_from_xp(agents.xp[:, [Skill.HUNTING, Skill.FISHING, Skill.CONSTITUTION]]).T
    health_max = con

    # 1. hunting
    food = np.where(live, np.maximum(agents.food - 1, 0), agents.food)
    idx = np.flatnonzero(live & (tiles[agents.r, agents.c] == _FOREST))
    if len(idx) > 1:                                   # the lowest agent index per forest tile
        _, first = np.unique(agents.r[idx] * tiles.shape[1] + agents.c[idx], return_index=True)
        idx = idx[first]
    tiles[agents.r[idx], agents.c[idx]] = _SCRUB
    gain = np.zeros(agents.n, dtype=np.int64)
    gain[idx] = np.maximum(np.minimum(food_max[idx] - food[idx],
                                      np.floor(RESOURCE_RESTORE * food_max[idx])), 0)
    agents.food[:] = food + gain
    agents.xp[:, Skill.HUNTING] += 10 * gain

    # 2. fishing
    water = np.where(live, np.maximum(agents.water - 1, 0), agents.water)
    drinks = live & _adjacent_to(tiles, agents.r, agents.c, Tile.WATER)
    gain = np.where(drinks, np.minimum(water_max - water, np.floor(RESOURCE_RESTORE * water_max)), 0)
    gain = np.maximum(gain, 0).astype(np.int64)
    agents.water[:] = water + gain
    agents.xp[:, Skill.FISHING] += 10 * gain

    # 3. constitution
    fed = (agents.food > food_max // 2) & (agents.water > water_max // 2)
    regen = np.minimum(np.maximum(health_max - agents.health, 0), np.floor(HEALTH_RESTORE * con).astype(np.int64))
    starve = STARVE_DAMAGE * ((agents.food <= 0).astype(np.int64) + (agents.water <= 0))
    health = np.maximum(agents.health + np.where(fed, regen, 0) - starve, 0)
    agents.health[:] = np.where(live, health, agents.health)


def move(tiles: np.ndarray, agents: Agents, actions, tick: int, lava_lethal: bool = True) -> np.ndarray:
    """Apply one movement action per agent (``int (N,)`` in 0..4, see module docstring), in place.

    Ignored for dead or frozen agents and for moves off the map or into WATER or STONE (and
    LAVA when ``lava_lethal=False``). Returns bool (N,): which agents moved.
    """
    actions = np.asarray(actions)
    if actions.shape != (agents.n,):
        raise ValueError(f"actions must have shape ({agents.n},), got {actions.shape}")
    if not np.issubdtype(actions.dtype, np.integer) or ((actions < 0) | (actions > 4)).any():
        raise ValueError("move actions must be integers in 0..4 (stay, N, S, E, W)")
    R, C = tiles.shape
    nr = agents.r + MOVE_DELTAS[actions, 0]
    nc = agents.c + MOVE_DELTAS[actions, 1]
    inside = (nr >= 0) & (nr < R) & (nc >= 0) & (nc < C)
    dest = tiles[np.minimum(np.maximum(nr, 0), R - 1), np.minimum(np.maximum(nc, 0), C - 1)]
    ok = passable(dest) if lava_lethal else (passable(dest) & (dest != _LAVA))
    moved = (actions > 0) & agents.alive & (tick >= agents.frozen_until) & inside & ok
    agents.r[:] = np.where(moved, nr, agents.r)
    agents.c[:] = np.where(moved, nc, agents.c)
    return moved


def regrow(tiles: np.ndarray, rng: np.random.Generator, prob: float = FOREST_REGROW_PROB) -> None:
    """Each SCRUB tile becomes FOREST with probability ``prob``, in place (one draw per SCRUB
    tile, in row-major order)."""
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"regrowth probability must be in [0, 1], got {prob}")
    r, c = np.nonzero(tiles == _SCRUB)
    keep = rng.random(len(r)) < prob
    tiles[r[keep], c[keep]] = _FOREST


def deaths(tiles: np.ndarray, agents: Agents) -> np.ndarray:
    """Mark agents with health <= 0 or standing on LAVA dead, in place; returns the newly dead."""
    dead = agents.alive & ((agents.health <= 0) | (tiles[agents.r, agents.c] == _LAVA))
    agents.alive[dead] = False
    return dead


def step(tiles: np.ndarray, agents: Agents, tick: int, moves, styles, targets,
         rng: np.random.Generator, lava_lethal: bool = True, always_hit: bool = False) -> dict:
    """One tick of the core (ours, following the official order ``realm.py:194-224``): vitals,
    moves, attacks (:func:`~.combat.attack`), deaths, forest regrowth. In place; returns
    ``{"moved", "attack", "died"}``. The rng is drawn in a fixed order (attacks, then regrowth),
    so a tick is a deterministic function of its inputs and the rng state.
    """
    if agents.n and (agents.spawn_tick > tick).any():
        raise ValueError("an agent's spawn_tick is after the current tick")
    update_vitals(tiles, agents)
    moved = move(tiles, agents, moves, tick, lava_lethal=lava_lethal)
    result = attack(agents, styles, targets, tick, rng=rng, always_hit=always_hit)
    died = deaths(tiles, agents)
    regrow(tiles, rng)
    return {"moved": moved, "attack": result, "died": died}

