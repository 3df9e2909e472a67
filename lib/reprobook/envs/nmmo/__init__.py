"""Neural MMO v1.3 core (Suarez et al. 2020, arXiv 2001.12004) in pure numpy, for chapter 10.

- :mod:`.terrain`: tile types and procedural maps (ridged fractal noise, lava border, spawn ring);
- :mod:`.rules`: the :class:`~.rules.Agents` arrays and the per-tick survival rules (food, water,
  health, foraging, movement, death, forest regrowth) and one :func:`~.rules.step`;
- :mod:`.combat`: skills and the experience table, the three attack styles, spawn immunity, freeze;
- :mod:`.env`: the PettingZoo parallel environment :class:`~.env.NeuralMMO` (spawning, observations,
  actions, rewards), a scripted foraging policy and visitation coverage.

Official facts are cited by ``file:line`` in NeuralMMO/environment at tag v1.3 (commit c8441124);
values that are ours say so.
"""
from __future__ import annotations

from .combat import (FREEZE_TICKS, IMMUNE_TICKS, MAX_LEVEL, STYLE_RANGE, XP_SCALE, XP_TABLE,
                     AttackResult, Skill, Style, attack, chebyshev, combat_level, hit_probability,
                     immune, level_from_xp, max_hit, xp_at_level)
from .env import (ENTITY_FEATURES, N_ENTITIES, POPULATION_COLORS, SELF_FEATURES, TILE_COLORS,
                  VIEW_RADIUS, NeuralMMO, coverage, scripted_policy, visitation)
from .rules import (FOREST_REGROW_PROB, HEALTH_RESTORE, INITIAL_HEALTH, INITIAL_RESOURCE, MOVE_DELTAS,
                    RESOURCE_RESTORE, STARVE_DAMAGE, Agents, deaths, move, regrow, step, update_vitals)
from .exploration import POPULATION_SIZES, exploration_sweep, territory_information, visit_map
from .terrain import (FOREST_BELOW, GRASS_BELOW, IMPASSABLE, WALKABLE, WATER_BELOW, Tile, fractal,
                      generate_map, passable, spawn_positions, spawn_ring, walkable)

__all__ = ["POPULATION_SIZES", "exploration_sweep", "territory_information", "visit_map",
           "FREEZE_TICKS", "IMMUNE_TICKS", "MAX_LEVEL", "STYLE_RANGE", "XP_SCALE", "XP_TABLE",
           "AttackResult", "Skill", "Style", "attack", "chebyshev", "combat_level", "hit_probability",
           "immune", "level_from_xp", "max_hit", "xp_at_level",
           "FOREST_REGROW_PROB", "HEALTH_RESTORE", "INITIAL_HEALTH", "INITIAL_RESOURCE", "MOVE_DELTAS",
           "RESOURCE_RESTORE", "STARVE_DAMAGE", "Agents", "deaths", "move", "regrow", "step",
           "update_vitals",
           "FOREST_BELOW", "GRASS_BELOW", "IMPASSABLE", "WALKABLE", "WATER_BELOW", "Tile", "fractal",
           "generate_map", "passable", "spawn_positions", "spawn_ring", "walkable",
           "ENTITY_FEATURES", "N_ENTITIES", "POPULATION_COLORS", "SELF_FEATURES", "TILE_COLORS",
           "VIEW_RADIUS", "NeuralMMO", "coverage", "scripted_policy", "visitation"]
