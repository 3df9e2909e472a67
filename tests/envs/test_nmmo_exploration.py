"""The exploration experiment: more agents visit more of the map (the paper's exploration figure)."""
import numpy as np
import pytest

from reprobook.envs.nmmo import Tile, coverage, exploration_sweep, visit_map


def test_visit_map_is_deterministic_and_counts_agent_ticks():
    v1, t1 = visit_map(4, 40, seed=3, size=20, border=3)
    v2, t2 = visit_map(4, 40, seed=3, size=20, border=3)
    assert np.array_equal(v1, v2) and np.array_equal(t1, t2)
    assert v1.shape == t1.shape == (26, 26) and v1.sum() > 0
    assert (v1[t1 == Tile.WATER] == 0).all() and (v1[t1 == Tile.STONE] == 0).all()   # never stood on
    with pytest.raises(ValueError, match="ticks"):
        visit_map(4, 0)


def test_more_agents_cover_more_of_the_same_map():
    out = exploration_sweep(sizes=(1, 16), ticks=120, seed=0, size=24, border=3)
    one, many = out["rows"]
    assert (one["agents"], many["agents"]) == (1, 16)
    assert many["coverage"] > one["coverage"] > 0 and many["agent_ticks"] > one["agent_ticks"]
    assert one["coverage"] == coverage(out["visits"][1], out["tiles"])
    with pytest.raises(ValueError, match="sizes"):
        exploration_sweep(sizes=(0,))


def test_territory_information_bounds():
    from reprobook.envs.nmmo import territory_information
    v = np.zeros((2, 4, 4))
    v[0, :2], v[1, 2:] = 5, 5                      # two disjoint territories: 1 bit
    out = territory_information(v)
    assert out["mi_bits"] == pytest.approx(1.0) and out["max_bits"] == 1.0
    assert 0 < out["mi_corrected_bits"] < 1.0
    assert territory_information(np.full((3, 4, 4), 2.0))["mi_bits"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="no visits"):
        territory_information(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        territory_information(-np.ones((2, 3, 3)))


def test_territory_information_needs_counts():
    from reprobook.envs.nmmo import territory_information
    with pytest.raises(ValueError, match="counts"):
        territory_information(np.full((2, 3, 3), 0.1))
    with pytest.raises(ValueError, match="counts"):
        territory_information(np.full((2, 3, 3), np.nan))
