"""Rollout workers and the policy-gradient learner of chapter 10 (reprobook.train.rollouts)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reprobook.losses.policy_gradient import GAMMA
from reprobook.models.nmmo_policy import PopulationPolicy
from reprobook.train.rollouts import PGConfig, RolloutWorker, WorkerPool, train_policy

ENV = dict(size=20, border=4, max_agents=8, populations=2, horizon=1000)
POLICY = dict(populations=2, hidden=8)


def test_lives_hold_whole_lives_with_discounted_death_returns():
    w = RolloutWorker(ENV, POLICY, seed=0)
    lives = w.collect(200)
    assert lives.n >= 200 and lives.lifetimes.sum() == lives.n
    assert lives.tiles.shape == (lives.n, 15, 15) and lives.actions.shape == (lives.n, 3)
    # each life ends in death: returns -gamma^(T-1-t), t = 0..T-1, life after life
    start = 0
    for T in lives.lifetimes:
        np.testing.assert_allclose(lives.returns[start:start + T], -GAMMA ** np.arange(T - 1, -1, -1), rtol=1e-6)
        start += T
    assert set(np.unique(lives.population)) <= {0, 1}
    assert lives.ticks > 0


def test_horizon_cuts_are_bootstrapped_with_the_value():
    w = RolloutWorker({**ENV, "horizon": 3}, POLICY, seed=1)
    lives = w.collect(30)
    # a life cut at the horizon has returns gamma^(T-t) V(s_T): never the death return -gamma^(T-1-t)
    start, cut = 0, 0
    for T in lives.lifetimes:
        R = lives.returns[start:start + T]
        if not np.allclose(R, -GAMMA ** np.arange(T - 1, -1, -1), rtol=1e-5):
            cut += 1
            np.testing.assert_allclose(R[:-1] / R[1:], GAMMA, rtol=1e-4)
        start += T
    assert cut > 0


def test_same_seed_same_lives_and_weights_are_used():
    a = RolloutWorker(ENV, POLICY, seed=3).collect(100)
    b = RolloutWorker(ENV, POLICY, seed=3).collect(100)
    np.testing.assert_array_equal(a.actions, b.actions)
    torch.manual_seed(0)
    other = PopulationPolicy(**POLICY).state_dict()
    w = RolloutWorker(ENV, POLICY, seed=3)
    w.collect(1, other)
    assert all(torch.equal(v, other[k]) for k, v in w.policy.state_dict().items())


def test_ray_workers_return_what_local_workers_return():
    pytest.importorskip("ray")
    import ray
    torch.manual_seed(0)
    weights = PopulationPolicy(**POLICY).state_dict()
    with WorkerPool(2, ENV, POLICY, seed=5) as local:
        a = local.collect(60, weights)
    try:
        with WorkerPool(2, ENV, POLICY, seed=5, backend="ray", num_cpus=2) as remote:
            b = remote.collect(60, weights)
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.returns, b.returns)


def test_train_policy_records_updates_and_changes_weights():
    torch.manual_seed(0)
    pol = PopulationPolicy(**POLICY)
    before = {k: v.clone() for k, v in pol.state_dict().items()}
    hist = train_policy(pol, ENV, PGConfig(updates=2, decisions=128, workers=2, minibatch=100), progress=False)
    assert [h["update"] for h in hist] == [0, 1]
    assert all(np.isfinite(h["loss"]) and h["decisions"] >= 128 and h["lifetime"] > 0 for h in hist)
    assert any(not torch.equal(v, before[k]) for k, v in pol.state_dict().items())


def test_bad_arguments():
    with pytest.raises(ValueError, match="workers"):
        WorkerPool(0, ENV, POLICY)
    with pytest.raises(ValueError, match="backend"):
        WorkerPool(1, ENV, POLICY, backend="mpi")
    with pytest.raises(ValueError, match="decisions"):
        train_policy(PopulationPolicy(**POLICY), ENV, PGConfig(decisions=0), progress=False)


def test_an_interrupted_tick_records_nothing():
    w = RolloutWorker(ENV, POLICY, seed=2)
    for _ in range(3):
        w.step()
    before = {n: len(s) for n, s in w._open.items()}
    real_step = w.env.step

    def interrupted(actions):
        raise KeyboardInterrupt
    w.env.step = interrupted
    with pytest.raises(KeyboardInterrupt):
        w.step()
    assert {n: len(s) for n, s in w._open.items()} == before
    w.env.step = real_step
    w.step()
    assert all(len(s) == before.get(n, 0) + 1 for n, s in w._open.items() if n in before)


def test_learner_refuses_bad_clip_and_play_past_the_horizon():
    with pytest.raises(ValueError, match="grad_clip"):
        train_policy(PopulationPolicy(**POLICY), ENV, PGConfig(grad_clip=0.0), progress=False)
    from reprobook.train.rollouts import play
    with pytest.raises(ValueError, match="horizon"):
        play(PopulationPolicy(**POLICY), {**ENV, "horizon": 5}, 6)
