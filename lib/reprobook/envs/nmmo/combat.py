"""Skills, experience and the three combat styles of Neural MMO v1.3 (arXiv 2001.12004).

Official facts are cited as ``file:line`` in NeuralMMO/environment at tag ``v1.3`` (commit
c8441124). Summary of the official rules implemented here:

- styles Melee / Range / Mage reach 1 / 2 / 3 tiles (``forge/blade/core/config.py:39-41``); the
  official target window is a square (``forge/blade/io/action/static.py:109-124``), i.e. the
  Chebyshev distance ``max(|dr|, |dc|)``. Note: the v1.3 code builds that window with
  ``MELEERANGE`` for every style (``static.py:158``); we use each style's own range, as the paper;
- a hit lands with probability ``0.5 + (L_attack - L_defense) / 200`` and then deals exactly the
  style's maximum hit (no damage roll, ``forge/blade/systems/combat.py:50-65,82-83``);
- max hit ``floor(5 + 45 L / 99)``, ``floor(3 + 32 L / 99)``, ``floor(1 + 24 L / 99)``
  (``combat.py:70-76``);
- a Mage hit with damage > 0 sets the target's freeze counter to 3 (``static.py:140-141``); the
  counter is decremented at the start of each of the target's ticks, before it moves
  (``forge/blade/entity/player.py:127-129``, ``static.py:53``), so the target's moves on the next
  ``FREEZE_TICKS - 1 = 2`` ticks are ignored;
- a target with spawn immunity (``IMMUNE = 10`` ticks, ``config.py:36``, checked at
  ``combat.py:54``) takes nothing: no damage, no freeze, no experience;
- damage ``d`` gives the attacker ``+d`` food and water and experience ``XP_SCALE * 2d``
  constitution and ``XP_SCALE * 4d`` in the style; the target loses ``d`` health, food and water
  and gains ``XP_SCALE * 2d`` constitution and ``XP_SCALE * 4d`` defense
  (``player.py:157-169``, ``forge/blade/systems/skill.py:51-61``).

Experience follows the RuneScape table (``forge/blade/systems/experience.py:9-21``).
"""
from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .rules import Agents

__all__ = ["Skill", "Style", "MAX_LEVEL", "XP_TABLE", "XP_SCALE", "STYLE_RANGE", "STYLE_SKILL",
           "FREEZE_TICKS", "IMMUNE_TICKS", "xp_at_level", "level_from_xp", "max_hit",
           "hit_probability", "chebyshev", "combat_level", "immune", "attack", "AttackResult"]


class Skill(IntEnum):
    """Column index of each skill in ``Agents.xp`` (the v1.3 skills in use, ``skill.py:15-25``;
    mining, cooking and smithing exist officially but nothing trains them in v1.3)."""

    CONSTITUTION = 0
    MELEE = 1
    RANGE = 2
    MAGE = 3
    DEFENSE = 4
    FISHING = 5
    HUNTING = 6


class Style(IntEnum):
    """Attack styles (official indices, ``static.py:160-185``); ``NONE`` (-1, ours) = no attack."""

    NONE = -1
    MELEE = 0
    RANGE = 1
    MAGE = 2


MAX_LEVEL = 99
"""Highest level. Official table stops at level 98 (``experience.py:9``, ``range(2, 99)``) and its
``levelAtExp`` wraps to 0 beyond the last entry (``experience.py:20``, ``argmin`` of an all-True
array); ours extends the same formula to level 99 and saturates there."""

XP_SCALE = 10
"""Official experience multiplier ``XPSCALE`` (``config.py:35``)."""

STYLE_RANGE = np.array([1, 2, 3], dtype=np.int64)
"""Reach per style (Chebyshev tiles): ``MELEERANGE, RANGERANGE, MAGERANGE`` (``config.py:39-41``)."""

STYLE_SKILL = np.array([Skill.MELEE, Skill.RANGE, Skill.MAGE], dtype=np.int64)
"""Skill trained and used by each style (``static.py:166-185``)."""

FREEZE_TICKS = 3
"""Official freeze counter set by a Mage hit (``static.py:141``); blocks the next 2 moves."""

IMMUNE_TICKS = 10
"""Official spawn immunity ``IMMUNE`` (``config.py:36``): an agent spawned at tick ``s`` cannot
be damaged on ticks ``s .. s + 9``."""

_MAX_HIT = np.array([[5.0, 45.0], [3.0, 32.0], [1.0, 24.0]])  # (base, slope * 99) per style


def _xp_table(max_level: int = MAX_LEVEL) -> np.ndarray:
    """Cumulative experience to reach each level, ``int64 (max_level,)``; entry ``L - 1`` is level L.

    Official ``tabulateExp`` (``experience.py:9-14``): increments
    ``floor(l + 300 * 2 ** (l / 7)) / 4`` for ``l = 1, 2, ...``, summed, then floored.
    """
    levels = np.arange(1, max_level, dtype=np.float64)
    inc = np.floor(levels + 300.0 * 2.0 ** (levels / 7.0)) / 4.0
    return np.floor(np.concatenate([[0.0], np.cumsum(inc)])).astype(np.int64)


XP_TABLE = _xp_table()
"""``XP_TABLE[L - 1]`` = experience at which level L starts (83 for L=2, 1154 for L=10, 13,034,431
for L=99: the RuneScape table)."""


def xp_at_level(level) -> np.ndarray:
    """Experience at which ``level`` (int or int array, 1..99) starts (official ``expAtLevel``)."""
    level = np.asarray(level)
    if np.any(level < 1) or np.any(level > MAX_LEVEL) or np.any(level != np.floor(level)):
        raise ValueError(f"levels must be integers in [1, {MAX_LEVEL}], got {level}")
    return XP_TABLE[level.astype(np.int64) - 1]


def level_from_xp(xp) -> np.ndarray:
    """Level (``int64``, same shape as ``xp``) = number of table entries ``<= xp``, in [1, 99].

    A pure, monotone non-decreasing function; official ``levelAtExp`` (``experience.py:19-20``)
    except that it saturates at 99 (see :data:`MAX_LEVEL`). Negative experience is an error.
    """
    xp = np.asarray(xp)
    if (xp < 0).any():
        raise ValueError("experience must be non-negative")
    return np.searchsorted(XP_TABLE, xp, side="right").astype(np.int64)


def _check_styles(style) -> np.ndarray:
    style = np.asarray(style)
    if not np.issubdtype(style.dtype, np.integer) or np.any((style < 0) | (style > 2)):
        raise ValueError(f"unknown attack style {style}; expected 0 (melee), 1 (range) or 2 (mage)")
    return style.astype(np.int64)


def max_hit(style, level) -> np.ndarray:
    """Maximum (and, in v1.3, only) damage of a landed hit, ``int64`` broadcast over the inputs.

    melee ``floor(5 + 45 L/99)``, range ``floor(3 + 32 L/99)``, mage ``floor(1 + 24 L/99)``
    (``combat.py:70-76``), ``L`` the attacker's level in that style's skill.
    """
    style = _check_styles(style)
    level = np.asarray(level)
    if np.any(level < 1) or np.any(level > MAX_LEVEL):
        raise ValueError(f"levels must be in [1, {MAX_LEVEL}]")
    base, slope = _MAX_HIT[style, 0], _MAX_HIT[style, 1]
    # (base * 99 + slope * L) // 99 is the exact integer floor (no float rounding at L = 99).
    return ((base * 99 + slope * level) // 99).astype(np.int64)


def hit_probability(attack_level, defense_level) -> np.ndarray:
    """``0.5 + (L_attack - L_defense) / 200`` (``combat.py:82-83``), in [0.01, 0.99] for levels 1..99."""
    return 0.5 + (np.asarray(attack_level, dtype=np.float64) - np.asarray(defense_level)) / 200.0


def chebyshev(r0, c0, r1, c1) -> np.ndarray:
    """Chebyshev (king-move) distance ``max(|r0 - r1|, |c0 - c1|)``, the official attack metric."""
    return np.maximum(np.abs(np.asarray(r0) - r1), np.abs(np.asarray(c0) - c1))


def combat_level(levels: np.ndarray) -> np.ndarray:
    """Combat level from skill levels ``(..., 7)`` (official ``combat.level``, ``combat.py:8-18``):
    ``floor(0.25 (defense + constitution) + max(0.65 melee, 0.325 (floor(range / 2) + range)))``."""
    lv = np.asarray(levels, dtype=np.float64)
    base = 0.25 * (lv[..., Skill.DEFENSE] + lv[..., Skill.CONSTITUTION])
    melee = 0.65 * lv[..., Skill.MELEE]
    ranged = 0.325 * (np.floor(lv[..., Skill.RANGE] / 2) + lv[..., Skill.RANGE])
    return np.floor(base + np.maximum(melee, ranged)).astype(np.int64)


def immune(agents: "Agents", tick: int) -> np.ndarray:
    """``bool (N,)``: spawned fewer than :data:`IMMUNE_TICKS` ticks ago (``tick - spawn_tick < 10``)."""
    return (tick - agents.spawn_tick) < IMMUNE_TICKS


class AttackResult:
    """Outcome of one attack phase, arrays of shape ``(N,)`` indexed by attacker.

    ``valid``: the attack was legal and resolved (alive attacker and target, other agent, in
    range, target not immune); ``hit``: it landed; ``damage``: damage dealt (0 unless hit).
    """

    def __init__(self, valid: np.ndarray, hit: np.ndarray, damage: np.ndarray):
        self.valid, self.hit, self.damage = valid, hit, damage


def attack(agents: "Agents", style, target, tick: int, rng: np.random.Generator | None = None,
           always_hit: bool = False) -> AttackResult:
    """Resolve every agent's attack at ``tick``, in place on ``agents``; vectorised over agents.

    ``style`` ``int (N,)``: :class:`Style` value per attacker, ``-1`` for no attack; ``target``
    ``int (N,)``: index of the target agent (ignored where ``style == -1``). Attacks by or on the
    dead, on oneself, out of range (Chebyshev, :data:`STYLE_RANGE`) or on an immune target do
    nothing. Landed hits need ``rng`` (one uniform draw per attacker, in agent order) unless
    ``always_hit`` (ours, for tests and ablations).

    All attacks of a tick are simultaneous (ours; officially sequential): levels are read before
    any experience is added, damage to a target is summed over attackers, and gains and losses
    of food, water and health are clipped once, to ``[0, max]``.
    """
    n = agents.n
    style = np.asarray(style)
    target = np.asarray(target)
    if style.shape != (n,) or target.shape != (n,):
        raise ValueError(f"style and target must have shape ({n},), got {style.shape} and {target.shape}")
    if not np.issubdtype(style.dtype, np.integer) or ((style < -1) | (style > 2)).any():
        raise ValueError("unknown attack style; expected -1 (none), 0 (melee), 1 (range) or 2 (mage)")
    if not np.issubdtype(target.dtype, np.integer):
        raise ValueError("target must be an integer array of agent indices")
    acting = style >= 0
    if (acting & ((target < 0) | (target >= n))).any():
        raise ValueError(f"target index out of range [0, {n})")
    if rng is None and not always_hit:
        raise ValueError("attack needs an rng unless always_hit=True")

    idx = np.arange(n)
    tgt = np.where(acting, target, idx)
    sty = np.where(acting, style, 0)
    dist = chebyshev(agents.r, agents.c, agents.r[tgt], agents.c[tgt])
    valid = (acting & agents.alive & agents.alive[tgt] & (tgt != idx)
             & (dist <= STYLE_RANGE[sty]) & ~immune(agents, tick)[tgt])

    if not valid.any():                      # nothing lands: the same rng draw, no state change
        if not always_hit:
            rng.random(n)
        return AttackResult(valid, valid.copy(), np.zeros(n, dtype=np.int64))
    levels = agents.levels()
    atk_level = levels[idx, STYLE_SKILL[sty]]
    def_level = levels[tgt, Skill.DEFENSE]
    if always_hit:
        hit = valid.copy()
    else:
        u = rng.random(n)
        hit = valid & (u < hit_probability(atk_level, def_level))
    dmg = np.where(hit, max_hit(sty, atk_level), 0).astype(np.int64)

    received = np.zeros(n, dtype=np.int64)
    np.add.at(received, tgt[valid], dmg[valid])
    maxima = agents.maxima()
    agents.food[:] = np.clip(agents.food + dmg - received, 0, maxima["food"])
    agents.water[:] = np.clip(agents.water + dmg - received, 0, maxima["water"])
    agents.health[:] = np.maximum(agents.health - received, 0)

    xp = np.zeros_like(agents.xp)
    np.add.at(xp, (idx, STYLE_SKILL[sty]), XP_SCALE * 4 * dmg)
    xp[:, Skill.CONSTITUTION] += XP_SCALE * 2 * (dmg + received)
    xp[:, Skill.DEFENSE] += XP_SCALE * 4 * received
    agents.xp += xp

    frozen = valid & (sty == int(Style.MAGE)) & (dmg > 0)
    agents.frozen_until[tgt[frozen]] = tick + FREEZE_TICKS
    return AttackResult(valid, hit, dmg)
