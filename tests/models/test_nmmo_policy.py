"""The Neural MMO policy (reprobook.models.nmmo_policy): shapes, masks, attention, populations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reprobook.envs.nmmo import ENTITY_FEATURES, NeuralMMO
from reprobook.models.nmmo_policy import (ACTION_HEADS, Attention, NMMOPolicy, PopulationPolicy, obs_to_tensors,
                                          sample_actions)


def _obs(n_agents=12, seed=0):
    env = NeuralMMO(size=24, border=5, max_agents=n_agents, populations=4, pop_assign="round_robin",
                    spawn_per_tick=n_agents, seed=seed)
    obs, infos = env.reset(seed=seed)
    names = sorted(obs)
    pop = torch.tensor([infos[n]["population"] for n in names])
    return (*obs_to_tensors(obs, names), pop)


def test_attention_matches_loop_transcription_with_softmax_over_queries():
    torch.manual_seed(0)
    att = Attention(4, 3).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    mask = torch.tensor([True, True, False, True, False])
    out = att(x[None], mask[None])[0].detach()
    with torch.no_grad():
        Q, K, V = att.Q(x), att.K(x), att.V(x)
    valid = [i for i in range(5) if mask[i]]
    ref = torch.full((3,), -math.inf, dtype=torch.float64)
    for i in valid:                                   # row i of softmax_{queries}(QK^T / sqrt 3) V
        row = torch.zeros(3, dtype=torch.float64)
        for j in valid:
            z = sum(math.exp(float(Q[q] @ K[j]) / math.sqrt(3)) for q in valid)
            row += math.exp(float(Q[i] @ K[j]) / math.sqrt(3)) / z * V[j]
        ref = torch.maximum(ref, row)
    torch.testing.assert_close(out, ref)


def test_masked_entities_do_not_change_the_outputs():
    torch.manual_seed(0)
    net = NMMOPolicy(hidden=16, populations=4)
    tiles, ents, mask, _ = _obs()
    logits, value = net(tiles, ents, mask)
    junk = ents.clone()
    junk[~mask] = torch.randn(int((~mask).sum()), ents.shape[-1]) * 50
    logits2, value2 = net(tiles, junk, mask)
    torch.testing.assert_close(value, value2)
    for k in ACTION_HEADS:
        torch.testing.assert_close(logits[k], logits2[k])


def test_shapes_and_target_mask():
    torch.manual_seed(0)
    tiles, ents, mask, pop = _obs()
    B, E = ents.shape[:2]
    pol = PopulationPolicy(populations=4, hidden=16)
    logits, value = pol(tiles, ents, mask, pop)
    assert logits["move"].shape == (B, 5) and logits["style"].shape == (B, 3)
    assert logits["target"].shape == (B, E + 1) and value.shape == (B,)
    assert torch.isinf(logits["target"][:, 0]).all()                      # never oneself
    assert torch.isfinite(logits["target"][:, E]).all()                   # "no attack" always legal
    near = ents[:, 1:, :2].abs().amax(-1) <= 1                             # official MELEERANGE = 1
    assert torch.equal(torch.isfinite(logits["target"][:, 1:E]), mask[:, 1:] & near)
    wide = PopulationPolicy(populations=4, hidden=16, target_range=None)
    assert torch.equal(torch.isfinite(wide(tiles, ents, mask, pop)[0]["target"][:, 1:E]), mask[:, 1:])
    acts = sample_actions(logits, torch.Generator().manual_seed(0))
    assert acts.shape == (B, 3)
    assert torch.isfinite(logits["target"].gather(1, acts[:, 2:])).all()


def test_population_rows_use_their_own_weights():
    torch.manual_seed(0)
    tiles, ents, mask, pop = _obs()
    pol = PopulationPolicy(populations=4, hidden=16)
    logits, value = pol(tiles, ents, mask, pop)
    for p in range(4):
        rows = pop == p
        lg, v = pol.nets[p](tiles[rows], ents[rows], mask[rows])
        torch.testing.assert_close(value[rows], v)
        torch.testing.assert_close(logits["move"][rows], lg["move"])
    io = PopulationPolicy(populations=4, hidden=16, share="io")
    assert len(io.nets) == 1
    _, v_io = io(tiles, ents, mask, pop)
    s, _ = io.nets[0].encode(tiles, ents, mask)
    torch.testing.assert_close(v_io, torch.stack([io.values[int(p)](s[i])[0] for i, p in enumerate(pop)]))


def test_population_embedding_is_discrete():
    torch.manual_seed(0)
    net = NMMOPolicy(hidden=8, populations=4)
    tiles, ents, mask, _ = _obs()
    col = ENTITY_FEATURES.index("population")
    a = ents.clone(); a[:, :, col] = 1
    b = ents.clone(); b[:, :, col] = 2
    assert not torch.allclose(net(tiles, a, mask)[1], net(tiles, b, mask)[1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="share"):
        PopulationPolicy(share="none")
    with pytest.raises(ValueError, match="populations"):
        PopulationPolicy(populations=0)
    tiles, ents, mask, pop = _obs()
    with pytest.raises(ValueError, match="target_range"):
        PopulationPolicy(target_range=0)
    with pytest.raises(ValueError, match="population ids"):
        PopulationPolicy(populations=2, hidden=8)(tiles, ents, mask, pop)


def test_batch_shapes_and_the_self_row_are_checked():
    tiles, ents, mask, pop = _obs()
    pol = PopulationPolicy(populations=4, hidden=8)
    with pytest.raises(ValueError, match="population"):
        pol(tiles, ents, mask, pop[:-1])
    bad = mask.clone()
    bad[0, 0] = False
    with pytest.raises(ValueError, match="row 0"):
        pol(tiles, ents, bad, pop)
