"""PettingZoo environment of Neural MMO v1.3 (reprobook.envs.nmmo.env)."""
from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from reprobook.envs.nmmo import (ENTITY_FEATURES, IMMUNE_TICKS, POPULATION_COLORS, SELF_FEATURES, Skill,
                                 VIEW_RADIUS, NeuralMMO, Tile, coverage, scripted_policy,
                                 visitation)

SMALL = dict(size=20, border=3, max_agents=8)
E = 32
COL = {name: k for k, name in enumerate(ENTITY_FEATURES)}


def noop(env):
    return {n: {"move": 0, "style": 0, "target": env.n_entities} for n in env.agents}


def random_actions(env, rng):
    return {n: {"move": int(rng.integers(5)), "style": int(rng.integers(3)),
                "target": int(rng.integers(env.n_entities + 1))} for n in env.agents}


def fill(env, n):
    """Step with no-ops until ``n`` agents are alive (round-robin spawning: one per tick)."""
    while len(env.agents) < n:
        env.step(noop(env))


def grass_world(env):
    """Make the interior all grass (keeps the lava border)."""
    b = env.border
    env.tiles[b:-b, b:-b] = Tile.GRASS


# ----------------------------------------------------------------------------- API

def test_parallel_api():
    parallel_api_test(NeuralMMO(**SMALL, seed=0, respawn=False), num_cycles=50)


def test_spaces_and_reset():
    env = NeuralMMO(**SMALL, seed=1)
    obs, infos = env.reset()
    assert env.possible_agents == [f"agent_{i}" for i in range(8)]
    assert env.agents == ["agent_0"] and set(obs) == set(infos) == {"agent_0"}
    o = obs["agent_0"]
    assert env.observation_space("agent_0").contains(o)
    assert o["tiles"].shape == (15, 15) and o["entities"].shape == (E, len(ENTITY_FEATURES))
    assert env.action_space("agent_3") is env.action_space("agent_0")
    assert env.action_space("agent_0")["target"].n == E + 1
    with pytest.raises(ValueError):
        NeuralMMO(max_agents=4, populations=8)
    with pytest.raises(ValueError):
        NeuralMMO(spawn="sea")


def test_defaults_are_v1_3():
    env = NeuralMMO()
    assert (env.size, env.border, env.max_agents, env.populations, env.horizon) == (62, 9, 128, 8, 1000)
    assert env.pop_size == 16
    env.reset(seed=0)
    assert env.tiles.shape == (80, 80)


def test_determinism_under_seed():
    envs = [NeuralMMO(**SMALL, seed=7) for _ in range(2)]
    outs = [e.reset() for e in envs]
    rngs = [np.random.default_rng(3) for _ in range(2)]
    for _ in range(30):
        outs = [e.step(random_actions(e, r)) for e, r in zip(envs, rngs)]
        (o1, r1, t1, u1, _), (o2, r2, t2, u2, _) = outs
        assert r1 == r2 and t1 == t2 and u1 == u2 and o1.keys() == o2.keys()
        for n in o1:
            for k in o1[n]:
                assert np.array_equal(o1[n][k], o2[n][k])
    assert np.array_equal(envs[0].tiles, envs[1].tiles)
    other = NeuralMMO(**SMALL, seed=8)
    other.reset()
    assert not np.array_equal(other.tiles, envs[0].tiles)


# ----------------------------------------------------------------------------- spawning

def test_one_spawn_per_tick_up_to_cap():
    env = NeuralMMO(**SMALL, seed=0, pop_assign="round_robin")
    env.reset()
    counts = [len(env.agents)]
    for _ in range(10):  # nobody starves before tick 10 and no-ops never enter lava
        env.step(noop(env))
        counts.append(len(env.agents))
    assert counts == [1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8]
    pops = env.state_agents.population[env.state_agents.alive]
    assert sorted(pops.tolist()) == list(range(8))  # one per population (cap 8 // 8 = 1)
    r, c = env.state_agents.r, env.state_agents.c
    b, hi = env.border, env.tiles.shape[0] - env.border - 1
    assert np.all((r == b) | (r == hi) | (c == b) | (c == hi))  # the official spawn ring


def test_random_population_respects_caps():
    env = NeuralMMO(size=20, border=3, max_agents=16, populations=4, seed=2)
    env.reset()
    prev = 1
    for _ in range(12):
        env.step(noop(env))
        n = len(env.agents)
        assert n - prev in (0, 1)
        prev = n
        pops = env.state_agents.population[env.state_agents.alive]
        assert np.bincount(pops, minlength=4).max() <= 4


def test_dead_terminate_leave_and_do_not_act():
    env = NeuralMMO(**SMALL, seed=0, pop_assign="round_robin", respawn=True)
    env.reset()
    deaths = 0
    for _ in range(40):
        before = set(env.agents)
        obs, rew, term, trunc, info = env.step(noop(env))
        dead = {n for n, t in term.items() if t}
        assert dead <= before and not dead & set(env.agents)
        assert all(rew[n] == -1.0 and n in obs and not info[n]["alive"] for n in dead)
        assert all(rew[n] == 0.0 for n in set(term) - dead)
        if dead:
            deaths += len(dead)
            ag = env.state_agents
            idx = [env._slot[n] for n in dead]
            snap = {f: getattr(ag, f)[idx].copy() for f in ("r", "c", "health", "food", "xp")}
            acts = {**noop(env), **{n: {"move": 1, "style": 0, "target": 1} for n in dead}}
            nxt = env.step(acts)
            for k, n in enumerate(dead):
                if n in env.agents:  # respawned into this slot in this step
                    continue
                assert n not in nxt[0]
                for f, v in snap.items():
                    assert np.array_equal(getattr(ag, f)[idx[k]], v[k])
    assert deaths  # standing still on the grass ring starves everyone within ~20 ticks
    # respawn (official persistence): freed slots re-enter `agents` as fresh agents
    assert env.agents and env._used.all()
    ages = [i["age"] for i in env._infos([env._slot[n] for n in env.agents]).values()]
    assert min(ages) < 20


def test_no_respawn_one_life_per_slot():
    env = NeuralMMO(**SMALL, seed=0, respawn=False, pop_assign="round_robin")
    env.reset()
    finished = set()
    for _ in range(60):
        _, _, term, _, _ = env.step(noop(env))
        assert not finished & set(env.agents)
        finished |= {n for n, t in term.items() if t}
        if not env.agents:
            break
    assert finished == set(env.possible_agents) and env.agents == []


def test_horizon_truncates():
    env = NeuralMMO(**SMALL, seed=0, horizon=5)
    env.reset()
    for _ in range(4):
        _, _, _, trunc, _ = env.step(noop(env))
        assert not any(trunc.values())
    live = set(env.agents)
    _, _, _, trunc, _ = env.step(noop(env))
    assert live <= {n for n, t in trunc.items() if t} and env.agents == []


# ----------------------------------------------------------------------------- observations

def test_tile_crop_matches_map_and_lava_outside():
    env = NeuralMMO(**SMALL, seed=4)
    obs, _ = env.reset()
    r, c = int(env.state_agents.r[0]), int(env.state_agents.c[0])
    R, C = env.tiles.shape
    expect = np.full((15, 15), Tile.LAVA, dtype=np.int8)
    for i in range(15):
        for j in range(15):
            rr, cc = r + i - VIEW_RADIUS, c + j - VIEW_RADIUS
            if 0 <= rr < R and 0 <= cc < C:
                expect[i, j] = env.tiles[rr, cc]
    assert np.array_equal(obs["agent_0"]["tiles"], expect)
    assert obs["agent_0"]["tiles"].dtype == np.int8
    # the spawn ring of this small map is 3 tiles from the edge: the crop sticks out of the map
    assert min(r, c, R - 1 - r, C - 1 - c) < VIEW_RADIUS
    # an interior position far from the edge is a plain slice
    env.state_agents.r[0], env.state_agents.c[0] = 12, 13
    env.tiles[12, 13] = Tile.GRASS
    o = env._observe(np.array([0]))["agent_0"]
    assert np.array_equal(o["tiles"], env.tiles[5:20, 6:21])


def test_entity_rows_sorted_masked_self_first():
    env = NeuralMMO(**SMALL, seed=0, pop_assign="round_robin")
    env.reset()
    fill(env, 8)
    grass_world(env)
    ag = env.state_agents
    # agent 0 at (10, 10); others at Chebyshev 3, 1, 7, 8 (invisible), 2, 0 (same tile), 12
    pos = [(10, 10), (13, 11), (9, 9), (17, 3), (18, 10), (8, 12), (10, 10), (22, 22)]
    ag.r[:] = [p[0] for p in pos]
    ag.c[:] = [p[1] for p in pos]
    obs, *_ = env.step(noop(env))
    o = obs["agent_0"]
    ent, mask = o["entities"], o["mask"]
    assert mask.dtype == np.int8 and mask.tolist() == [1] * 6 + [0] * (E - 6)
    assert ent[0, COL["self"]] == 1 and ent[0, COL["dr"]] == 0 and ent[0, COL["dc"]] == 0
    assert ent[:, COL["self"]].sum() == 1  # self is row 0 and not duplicated
    d = np.maximum(np.abs(ent[1:6, COL["dr"]]), np.abs(ent[1:6, COL["dc"]]))
    assert d.tolist() == [0, 1, 2, 3, 7]  # sorted by Chebyshev distance, within radius 7
    assert np.all(ent[6:] == 0)
    assert env._ent_slots[0, :6].tolist() == [0, 6, 2, 5, 1, 3]
    assert np.all(env._ent_slots[0, 6:] == -1)
    assert np.allclose(ent[1:6, COL["population"]], ag.population[[6, 2, 5, 1, 3]])
    assert np.allclose(ent[:6, COL["health"]], ag.health[[0, 6, 2, 5, 1, 3]])
    me = o["self"]
    assert me[SELF_FEATURES.index("r")] == 10 and me[SELF_FEATURES.index("c")] == 10
    assert me[SELF_FEATURES.index("food")] == ag.food[0]


def test_entity_cap_keeps_nearest():
    env = NeuralMMO(**SMALL, seed=0, pop_assign="round_robin", n_entities=3)
    env.reset()
    fill(env, 8)
    grass_world(env)
    ag = env.state_agents
    ag.r[:] = 10
    ag.c[:] = [10, 16, 11, 15, 12, 14, 13, 10]
    obs, *_ = env.step(noop(env))
    assert env._ent_slots[0].tolist() == [0, 7, 2]
    assert obs["agent_0"]["mask"].tolist() == [1, 1, 1]


def _attack_setup(seed=5):
    env = NeuralMMO(**SMALL, seed=seed, pop_assign="round_robin")
    env.reset()
    fill(env, 2)
    grass_world(env)
    ag = env.state_agents
    ag.r[:2], ag.c[:2] = 10, [10, 11]  # adjacent
    ag.spawn_tick[:2] = env.tick - IMMUNE_TICKS  # no immunity
    obs, *_ = env.step(noop(env))
    assert obs["agent_0"]["mask"][:2].tolist() == [1, 1] and env._ent_slots[0, 1] == 1
    return env


@pytest.mark.parametrize("target", [E + 7, -1])
def test_target_outside_the_action_space_is_an_error(target):
    env = _attack_setup()
    acts = noop(env)
    acts["agent_0"] = {"move": 0, "style": 0, "target": target}
    with pytest.raises(ValueError, match="target of agent_0"):
        env.step(acts)


@pytest.mark.parametrize("bad", [{"move": 1.7, "style": 0, "target": E}, {"move": "1", "style": 0, "target": E},
                                 {"move": 1, "style": 0}, [1, 0, E], 3])
def test_malformed_actions_are_errors_naming_the_agent(bad):
    env = _attack_setup()
    acts = noop(env)
    acts["agent_0"] = bad
    with pytest.raises(ValueError, match="agent_0"):
        env.step(acts)


def test_flags_must_be_booleans_and_render_needs_reset():
    with pytest.raises(ValueError, match="respawn"):
        NeuralMMO(respawn="False")
    with pytest.raises(RuntimeError, match="reset"):
        NeuralMMO().render()


@pytest.mark.parametrize("target", [E, 5, 0])  # none, masked, self
def test_invalid_target_is_no_attack(target):
    env, ref = _attack_setup(), _attack_setup()
    for _ in range(6):
        acts = noop(env)
        acts["agent_0"] = {"move": 0, "style": 0, "target": target}
        env.step(acts)
        ref.step(noop(ref))
    for f in ("health", "food", "water", "xp"):
        assert np.array_equal(getattr(env.state_agents, f), getattr(ref.state_agents, f))


def test_valid_target_attacks():
    env, ref = _attack_setup(), _attack_setup()
    for _ in range(6):
        acts = noop(env)
        acts["agent_0"] = {"move": 0, "style": 0, "target": 1}
        env.step(acts)
        ref.step(noop(ref))
    # melee hits landed (experience, ``combat.py``); with this seed agent 1 is killed and its
    # slot refilled, so compare the attacker's experience rather than the target's health
    assert env.state_agents.xp[0, Skill.MELEE] > 0 == ref.state_agents.xp[0, Skill.MELEE]


# ----------------------------------------------------------------------------- render, visits

def test_render_rgb():
    env = NeuralMMO(**SMALL, seed=0, render_mode="rgb_array")
    env.reset()
    img = env.render()
    assert img.shape == env.tiles.shape + (3,) and img.dtype == np.uint8
    i = 0
    r, c, p = env.state_agents.r[i], env.state_agents.c[i], env.state_agents.population[i]
    assert img[r, c].tolist() == POPULATION_COLORS[p].tolist()
    assert env.state().shape == (2,) + env.tiles.shape


def test_coverage_closed_form():
    tiles = np.full((5, 5), Tile.LAVA, dtype=np.int8)
    tiles[1:4, 1:4] = [[Tile.GRASS, Tile.WATER, Tile.FOREST],
                       [Tile.STONE, Tile.SCRUB, Tile.GRASS],
                       [Tile.GRASS, Tile.GRASS, Tile.FOREST]]  # 7 walkable
    visits = np.zeros((5, 5), dtype=np.int64)
    visits[1, 1] = 3
    visits[1, 2] = 9  # water: not walkable, not counted
    visits[2, 2] = 1
    visits[0, 0] = 4  # lava: not counted
    assert coverage(visits, tiles) == pytest.approx(2 / 7)
    assert coverage(np.zeros_like(visits), tiles) == 0.0
    with pytest.raises(ValueError):
        coverage(visits[:4], tiles)


def test_visits_count_live_agents():
    env = NeuralMMO(**SMALL, seed=3)
    env.reset()
    total = len(env.agents)
    rng = np.random.default_rng(0)
    for _ in range(25):
        env.step(random_actions(env, rng))
        total += len(env.agents)
    v = visitation(env)
    assert v.dtype == np.int64 and v.shape == env.tiles.shape and v.sum() == total
    assert 0 < coverage(v, env.tiles) <= 1


# ----------------------------------------------------------------------------- scripted policy

def mean_lifetime(seed, policy):
    env = NeuralMMO(**SMALL, seed=seed, respawn=False, horizon=150, pop_assign="round_robin")
    obs, _ = env.reset()
    rng = np.random.default_rng(seed)
    life = dict.fromkeys(env.possible_agents, 0)
    while env.agents:
        acts = policy(env, {n: obs[n] for n in env.agents}, rng)
        obs, *_ = env.step(acts)
        for n in env.agents:
            life[n] += 1
    return np.mean(list(life.values()))


def test_scripted_outlives_standing_still():
    scripted = [mean_lifetime(s, lambda e, o, r: scripted_policy(o, r)) for s in range(3)]
    still = [mean_lifetime(s, lambda e, o, r: noop(e)) for s in range(3)]
    assert np.mean(scripted) > 1.5 * np.mean(still)


def test_scripted_policy_single_and_dict():
    env = NeuralMMO(**SMALL, seed=0)
    obs, _ = env.reset()
    a = scripted_policy(obs["agent_0"], np.random.default_rng(0))
    assert env.action_space("agent_0").contains(
        {k: np.int64(v) for k, v in a.items()}) and a["target"] == E
    assert scripted_policy(obs, np.random.default_rng(0)).keys() == obs.keys()


def test_spawn_per_tick_fills_every_slot_at_reset():
    env = NeuralMMO(max_agents=16, populations=4, pop_assign="round_robin", spawn_per_tick=16, seed=0)
    obs, infos = env.reset(seed=0)
    assert len(obs) == 16 and len(env.agents) == 16
    assert np.bincount([i["population"] for i in infos.values()], minlength=4).tolist() == [4, 4, 4, 4]
    obs, *_ = env.step({})
    assert len(obs) == 16


def test_spawn_per_tick_must_be_positive():
    with pytest.raises(ValueError, match="spawn_per_tick"):
        NeuralMMO(spawn_per_tick=0)
