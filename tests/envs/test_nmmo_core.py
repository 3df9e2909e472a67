"""Neural MMO v1.3 core (reprobook.envs.nmmo): terrain, survival rules, combat, experience."""
from __future__ import annotations

import numpy as np
import pytest

from reprobook.envs.nmmo import (FOREST_REGROW_PROB, FREEZE_TICKS, IMMUNE_TICKS, MAX_LEVEL, XP_TABLE,
                                 Agents, Skill, Style, Tile, attack, combat_level, deaths,
                                 generate_map, hit_probability, level_from_xp, max_hit, move, regrow,
                                 spawn_positions, spawn_ring, step, update_vitals, walkable,
                                 xp_at_level)

NONE = Style.NONE


def grass(n: int = 12) -> np.ndarray:
    """An all-grass map with a one-tile lava border."""
    t = np.full((n, n), Tile.GRASS, dtype=np.int8)
    t[0, :] = t[-1, :] = t[:, 0] = t[:, -1] = Tile.LAVA
    return t


def no_attacks(n: int):
    return np.full(n, NONE), np.zeros(n, dtype=np.int64)


def run(tiles, agents, ticks, rng, start=0, moves=None):
    for k in range(start, start + ticks):
        m = np.zeros(agents.n, dtype=np.int64) if moves is None else moves(k)
        step(tiles, agents, k, m, *no_attacks(agents.n), rng)


# ----------------------------------------------------------------------------- terrain

def test_map_shape_dtype_border_and_tiles():
    t = generate_map()
    assert t.shape == (80, 80) and t.dtype == np.int8
    b = 9
    ring = np.ones_like(t, dtype=bool)
    ring[b:-b, b:-b] = False
    assert np.all(t[ring] == Tile.LAVA)
    assert not np.any(t[~ring] == Tile.LAVA)
    present = set(np.unique(t).tolist())
    assert present == {Tile.LAVA, Tile.WATER, Tile.GRASS, Tile.FOREST, Tile.STONE}  # no SCRUB yet
    # the official spawn ring is grass
    r, c = spawn_ring(t.shape).T
    assert np.all(t[r, c] == Tile.GRASS) and len(r) == 4 * 62 - 4
    assert generate_map(size=20, border=3).shape == (26, 26)


def test_map_deterministic_under_seed():
    assert np.array_equal(generate_map(seed=3), generate_map(seed=3))
    assert not np.array_equal(generate_map(seed=3), generate_map(seed=4))


def test_spawn_positions_walkable_and_seeded():
    t = generate_map(seed=1)
    for where in ("ring", "interior"):
        p = spawn_positions(t, 50, np.random.default_rng(0), where=where)
        assert p.shape == (50, 2) and np.all(walkable(t[p[:, 0], p[:, 1]]))
        assert np.array_equal(p, spawn_positions(t, 50, np.random.default_rng(0), where=where))
    assert spawn_positions(t, 0, np.random.default_rng(0)).shape == (0, 2)


@pytest.mark.parametrize("kwargs", [dict(size=2), dict(size=10.5), dict(size=-5), dict(border=0),
                                    dict(water_below=0.8)])
def test_bad_map_arguments(kwargs):
    with pytest.raises(ValueError):
        generate_map(**kwargs)


def test_bad_spawn_arguments():
    t = generate_map()
    with pytest.raises(ValueError, match="non-negative"):
        spawn_positions(t, -1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown spawn region"):
        spawn_positions(t, 1, np.random.default_rng(0), where="sea")
    with pytest.raises(ValueError):
        Agents.spawn([[5, 5]], population=[-1])


# ----------------------------------------------------------------------------- vitals

def test_vitals_closed_form_on_plain_grass():
    """No food, no water nearby: -1 food and water a tick; health full until a resource is 0,
    then -2 a tick (both empty at the same tick)."""
    t, rng = grass(), np.random.default_rng(0)
    a = Agents.spawn([[5, 5]])
    for k in range(1, 15):  # dies at tick 14: 10 - 2 * 5 = 0
        run(t, a, 1, rng, start=k - 1)
        assert a.food[0] == a.water[0] == max(10 - k, 0)
        expected = 10 if k < 10 else 10 - 2 * (k - 9)
        assert a.health[0] == max(expected, 0)
        assert a.alive[0] == (expected > 0)
    assert not a.alive[0]


def test_starving_loses_exactly_one_health_per_tick_and_no_regen():
    t = grass()
    t[4, 5] = Tile.WATER  # water next door keeps water topped up
    a = Agents.spawn([[5, 5]])
    a.food[:] = 0
    update_vitals(t, a)
    assert a.food[0] == 0 and a.water[0] == 10 and a.health[0] == 9
    update_vitals(t, a)
    assert a.health[0] == 8


def test_regeneration_above_half_only():
    t = grass()
    t[4, 5] = Tile.WATER
    t[5, 5] = Tile.FOREST
    a = Agents.spawn([[5, 5], [7, 7]])
    a.health[:] = 4
    a.food[1], a.water[1] = 6, 10  # agent 1: food 6 -> 5 after the tick: not > 5, no regen
    update_vitals(t, a)
    assert a.health[0] == 5  # fed and watered: +floor(0.1 * 10) = 1
    assert a.health[1] == 4
    assert a.water[0] == 10 and a.food[0] == 10  # drank (+5 capped) and foraged (+5 capped)


def test_foraging_scrub_and_regrowth():
    t = grass()
    t[5, 5] = Tile.FOREST
    a = Agents.spawn([[5, 5], [5, 5]])  # two agents on one forest tile
    a.food[:] = 2
    update_vitals(t, a)
    assert t[5, 5] == Tile.SCRUB
    assert a.food.tolist() == [1 + 5, 1]  # only the lowest index forages: floor(0.5 * 10) = 5
    assert a.xp[0, Skill.HUNTING] == xp_at_level(10) + 50 and a.xp[1, Skill.HUNTING] == xp_at_level(10)
    update_vitals(t, a)  # scrub: nothing to forage
    assert a.food.tolist() == [5, 0] and np.all(a.food >= 0)
    # regrowth: every scrub tile eventually returns, at the documented per-tick rate
    big = np.full((200, 200), Tile.SCRUB, dtype=np.int8)
    regrow(big, np.random.default_rng(0))
    frac = np.mean(big == Tile.FOREST)
    assert abs(frac - FOREST_REGROW_PROB) < 5 * np.sqrt(FOREST_REGROW_PROB / big.size)
    assert set(np.unique(big).tolist()) <= {Tile.SCRUB, Tile.FOREST}
    regrow(t, np.random.default_rng(0), prob=1.0)
    assert t[5, 5] == Tile.FOREST


def test_food_and_water_never_negative_in_long_run():
    t, rng = generate_map(seed=2), np.random.default_rng(2)
    a = Agents.spawn(spawn_positions(t, 32, rng, where="interior"))
    forest0 = np.isin(t, (Tile.FOREST, Tile.SCRUB))
    for k in range(40):
        step(t, a, k, rng.integers(0, 5, a.n), *no_attacks(a.n), rng)
        assert np.all(a.food >= 0) and np.all(a.water >= 0) and np.all(a.health >= 0)
        mx = a.maxima()
        assert np.all(a.food <= mx["food"]) and np.all(a.water <= mx["water"])
        assert np.array_equal(np.isin(t, (Tile.FOREST, Tile.SCRUB)), forest0)  # scrub only where forest was


def test_lava_kills_and_deaths():
    t = grass()
    a = Agents.spawn([[1, 5], [5, 5]])
    assert move(t, a, np.array([1, 0]), tick=0).tolist() == [True, False]
    assert deaths(t, a).tolist() == [True, False] and a.alive.tolist() == [False, True]
    b = Agents.spawn([[1, 5]])
    assert not move(t, b, np.array([1]), tick=0, lava_lethal=False)[0]


# ----------------------------------------------------------------------------- movement

def test_moves_blocked_by_water_stone_and_stacking_allowed():
    t = grass()
    t[4, 5], t[5, 6] = Tile.WATER, Tile.STONE
    a = Agents.spawn([[5, 5], [5, 5], [5, 5], [5, 4]])
    moved = move(t, a, np.array([1, 3, 2, 3]), tick=0)  # N into water, E into stone, S ok, E onto (5, 5)
    assert moved.tolist() == [False, False, True, True]
    assert a.r.tolist() == [5, 5, 6, 5] and a.c.tolist() == [5, 5, 5, 5]


def test_dead_do_not_act():
    t = grass()
    a = Agents.spawn([[5, 5], [5, 6]], tick=-100)  # long past immunity
    a.alive[0] = False
    assert not move(t, a, np.array([2, 0]), tick=0)[0] and a.r[0] == 5
    before = a.copy()
    res = attack(a, np.array([Style.MELEE, NONE]), np.array([1, 0]), tick=0, always_hit=True)
    assert not res.valid[0] and a.health[1] == before.health[1]
    res = attack(a, np.array([NONE, Style.MELEE]), np.array([0, 0]), tick=0, always_hit=True)
    assert not res.valid[1] and np.array_equal(a.xp, before.xp)  # attacks on the dead do nothing
    food0 = a.food[0]
    update_vitals(t, a)
    assert a.food[0] == food0  # vitals frozen for the dead


# ----------------------------------------------------------------------------- combat

@pytest.mark.parametrize("level,melee,ranged,mage", [(1, 5, 3, 1), (50, 27, 19, 13), (99, 50, 35, 25)])
def test_max_hit_hand_computed(level, melee, ranged, mage):
    # melee floor(5 + 45 L / 99), range floor(3 + 32 L / 99), mage floor(1 + 24 L / 99)
    assert max_hit(Style.MELEE, level) == melee
    assert max_hit(Style.RANGE, level) == ranged
    assert max_hit(Style.MAGE, level) == mage


def test_max_hit_vectorised_and_hit_probability():
    lv = np.arange(1, 100)
    for s, (b, k) in enumerate([(5, 45), (3, 32), (1, 24)]):
        assert np.array_equal(max_hit(np.full(99, s), lv), (b * 99 + k * lv) // 99)
    assert hit_probability(1, 1) == 0.5 and hit_probability(99, 1) == pytest.approx(0.99)


def duel(dist_r: int, dist_c: int, tick: int = 100) -> Agents:
    return Agents.spawn([[20, 20], [20 + dist_r, 20 + dist_c]], tick=tick - IMMUNE_TICKS)


@pytest.mark.parametrize("style,reach", [(Style.MELEE, 1), (Style.RANGE, 2), (Style.MAGE, 3)])
def test_ranges_chebyshev(style, reach):
    for dr, dc, ok in [(reach, reach, True), (0, reach, True), (reach + 1, 0, False), (reach, reach + 1, False)]:
        a = duel(dr, dc)
        res = attack(a, np.array([style, NONE]), np.array([1, 0]), tick=100, always_hit=True)
        assert res.valid[0] == ok
        assert a.health[1] == (10 - max_hit(style, 1) if ok else 10)


def test_damage_side_effects():
    a = duel(1, 0)
    a.food[0], a.water[0] = 3, 4
    attack(a, np.array([Style.MELEE, NONE]), np.array([1, 0]), tick=100, always_hit=True)
    assert a.health.tolist() == [10, 5]
    assert a.food.tolist() == [8, 5] and a.water.tolist() == [9, 5]  # attacker +5, target -5
    base = xp_at_level(10)
    assert a.xp[0, Skill.MELEE] == 200 and a.xp[0, Skill.CONSTITUTION] == base + 100
    assert a.xp[1, Skill.DEFENSE] == 200 and a.xp[1, Skill.CONSTITUTION] == base + 100


def test_stochastic_hits_deal_max_or_nothing_and_are_seeded():
    def trial(seed):
        a = Agents.spawn(np.array([[20, 20], [20, 21]] * 200), tick=0)
        a.r[1::2], a.c[1::2] = a.r[::2], a.c[::2] + 1
        styles = np.tile([Style.MELEE, NONE], 200)
        targets = np.arange(400) + 1
        targets[1::2] = 0
        return attack(a, styles, targets, tick=50, rng=np.random.default_rng(seed))
    r1, r2 = trial(7), trial(7)
    assert np.array_equal(r1.damage, r2.damage)
    assert set(np.unique(r1.damage[::2]).tolist()) == {0, 5}
    assert 0.4 < r1.hit[::2].mean() < 0.6  # accuracy 0.5 at equal levels


def test_spawn_immunity():
    for spawned, tick, immune_now in [(0, 0, True), (0, IMMUNE_TICKS - 1, True), (0, IMMUNE_TICKS, False)]:
        a = Agents.spawn([[20, 20]], tick=-50)
        a = Agents.concat(a, Agents.spawn([[20, 21]], tick=spawned))
        res = attack(a, np.array([Style.MAGE, NONE]), np.array([1, 0]), tick=tick, always_hit=True)
        assert res.valid[0] != immune_now
        assert a.health[1] == (10 if immune_now else 9)
        assert a.frozen_until[1] == (spawned if immune_now else tick + FREEZE_TICKS)


def test_mage_freeze_blocks_moves_for_documented_ticks():
    t = grass(40)
    rng = np.random.default_rng(0)
    a = Agents.spawn([[20, 20], [20, 21]], tick=-IMMUNE_TICKS)
    hit_tick = 0
    step(t, a, hit_tick, np.array([0, 0]), np.array([Style.MAGE, NONE]), np.array([1, 0]), rng, always_hit=True)
    blocked = []
    for k in range(hit_tick + 1, hit_tick + 6):
        out = step(t, a, k, np.array([0, 3]), *no_attacks(2), rng)
        blocked.append(not out["moved"][1])
    assert blocked == [True] * (FREEZE_TICKS - 1) + [False] * (6 - FREEZE_TICKS)  # official: 2 ticks
    # melee and range never freeze
    b = Agents.spawn([[20, 20], [20, 21]], tick=-IMMUNE_TICKS)
    attack(b, np.array([Style.MELEE, NONE]), np.array([1, 0]), tick=0, always_hit=True)
    assert b.frozen_until[1] == -IMMUNE_TICKS


def test_self_attack_ignored_and_bad_combat_inputs():
    a = duel(0, 1)
    res = attack(a, np.array([Style.MELEE, NONE]), np.array([0, 0]), tick=100, always_hit=True)
    assert not res.valid[0] and a.health[0] == 10
    with pytest.raises(ValueError, match="unknown attack style"):
        attack(a, np.array([5, NONE]), np.array([1, 0]), tick=100, always_hit=True)
    with pytest.raises(ValueError, match="unknown attack style"):
        max_hit(3, 10)
    with pytest.raises(ValueError, match="out of range"):
        attack(a, np.array([Style.MELEE, NONE]), np.array([2, 0]), tick=100, always_hit=True)
    with pytest.raises(ValueError, match="rng"):
        attack(a, np.array([Style.MELEE, NONE]), np.array([1, 0]), tick=100)
    with pytest.raises(ValueError, match="shape"):
        attack(a, np.array([Style.MELEE]), np.array([1]), tick=100, always_hit=True)
    with pytest.raises(ValueError, match="0..4"):
        move(grass(), a, np.array([5, 0]), tick=0)
    with pytest.raises(ValueError, match="levels"):
        max_hit(Style.MELEE, 0)


# ----------------------------------------------------------------------------- experience

def test_level_from_xp_table_and_monotone():
    # RuneScape table (official experience.py): 83 for level 2, 1154 for 10, 101,333 for 50,
    # 6,517,253 for 92, 13,034,431 for 99.
    for level, xp in [(1, 0), (2, 83), (10, 1154), (50, 101_333), (92, 6_517_253), (99, 13_034_431)]:
        assert xp_at_level(level) == xp
        assert level_from_xp(xp) == level
        if level > 1:
            assert level_from_xp(xp - 1) == level - 1
    assert level_from_xp(10**9) == MAX_LEVEL and len(XP_TABLE) == MAX_LEVEL
    xs = np.arange(0, 14_000_000, 997)
    lv = level_from_xp(xs)
    assert np.all(np.diff(lv) >= 0) and lv[0] == 1 and lv[-1] == 99
    assert np.all(np.diff(XP_TABLE) > 0)
    with pytest.raises(ValueError):
        level_from_xp(-1)
    with pytest.raises(ValueError):
        xp_at_level(0)


def test_initial_levels_and_combat_level():
    a = Agents.spawn([[3, 3]])
    lv = a.levels()[0]
    assert lv[Skill.CONSTITUTION] == lv[Skill.HUNTING] == lv[Skill.FISHING] == 10
    assert lv[Skill.MELEE] == lv[Skill.RANGE] == lv[Skill.MAGE] == lv[Skill.DEFENSE] == 1
    assert combat_level(lv) == 3  # floor(0.25 * (1 + 10) + max(0.65, 0.325 * (0 + 1)))


# ----------------------------------------------------------------------------- determinism

def test_ticks_deterministic_under_seed():
    def rollout(seed):
        t = generate_map(seed=seed)
        rng = np.random.default_rng(seed)
        a = Agents.spawn(spawn_positions(t, 24, rng, where="interior"), tick=0)
        a.r[1::2], a.c[1::2] = a.r[::2], a.c[::2]  # pairs share tiles so attacks land
        for k in range(30):
            styles = rng.integers(-1, 3, a.n)
            targets = np.arange(a.n) ^ 1
            step(t, a, k, rng.integers(0, 5, a.n), styles, targets, rng)
        return t, a
    (t1, a1), (t2, a2) = rollout(5), rollout(5)
    assert np.array_equal(t1, t2)
    for f in ("r", "c", "food", "water", "health", "alive", "xp", "frozen_until"):
        assert np.array_equal(getattr(a1, f), getattr(a2, f))
    assert (a1.xp[:, Skill.DEFENSE] > 0).any()  # combat actually happened after immunity
