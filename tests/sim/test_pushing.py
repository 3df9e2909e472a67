"""Physical-sense tests of the MuJoCo planar pushing simulator (reprobook.sim.pushing)."""
from __future__ import annotations

import numpy as np
import pytest

from reprobook.sim import ABS, PLYWOOD, PlanarObject, PushSimulator, Surface

SQUARE = np.array([[-0.05, -0.05], [0.05, -0.05], [0.05, 0.05], [-0.05, 0.05]])


@pytest.fixture(scope="module")
def square():
    return PlanarObject([SQUARE], mass=0.3, com=(0.0, 0.0))


@pytest.fixture(scope="module")
def sim(square):
    return PushSimulator(square, ABS)


def test_object_geometry_and_inertia():
    sq = PlanarObject([SQUARE[::-1]], mass=0.3, com=(0.0, 0.0))  # clockwise is fixed
    assert sq.area == pytest.approx(0.01)
    assert sq.inertia_z() == pytest.approx(0.3 * (0.1 ** 2 + 0.1 ** 2) / 12)
    shifted = PlanarObject([SQUARE], mass=0.3, com=(0.02, 0.0))
    assert shifted.inertia_z() == pytest.approx(sq.inertia_z() + 0.3 * 0.02 ** 2)
    # two pieces making one 0.1 x 0.1 square give the same inertia
    left = np.array([[-0.05, -0.05], [0.0, -0.05], [0.0, 0.05], [-0.05, 0.05]])
    two = PlanarObject([left, left + [0.05, 0.0]], mass=0.3, com=(0.0, 0.0))
    assert two.inertia_z() == pytest.approx(sq.inertia_z())
    assert PlanarObject([SQUARE], mass=0.3, inertia=1e-3).inertia_z() == 1e-3
    outl = two.outline()
    assert len(outl) == 2 and outl[0].shape == (5, 2) and np.array_equal(outl[0][0], outl[0][-1])
    assert PLYWOOD.friction != ABS.friction


def test_centre_push_translates(sim):
    r = sim.push((-0.05, 0.0), 0.0, distance=0.05, speed=0.02)
    dx, dy, dth = r.delta
    print("centre push delta", r.delta)
    assert dx == pytest.approx(0.05, abs=2e-3)
    assert abs(dth) < 0.02 and abs(dy) < 1e-3
    assert r.object_pose.shape[1] == 4 and r.tip_pose.shape == r.object_pose.shape
    assert np.allclose(np.diff(r.object_pose[:-1, 0]), 0.01)
    assert np.all(r.tip_pose[:, 3] == 0.0)


def test_offset_push_turns(sim):
    up = sim.push((-0.05, 0.03), 0.0).delta
    down = sim.push((-0.05, -0.03), 0.0).delta
    print("offset +y delta", up, "offset -y delta", down)
    assert up[2] < -0.05  # clockwise
    assert down[2] > 0.05  # counter-clockwise
    assert up[0] > 0 and down[0] > 0


def test_push_direction_is_world_frame(square):
    sim = PushSimulator(square, ABS)
    dx, dy, dth = sim.push((0.0, -0.05), np.pi / 2, distance=0.03).delta  # from below, along +y
    assert dy == pytest.approx(0.03, abs=2e-3) and abs(dx) < 1e-3 and abs(dth) < 0.02


def test_more_friction_less_motion(square):
    lo = PushSimulator(square, Surface(friction=0.2, name="slippery")).push(
        (-0.05, 0.0), 0.0, distance=0.01, speed=0.5, settle=0.5).delta
    hi = PushSimulator(square, Surface(friction=0.6, name="rough")).push(
        (-0.05, 0.0), 0.0, distance=0.01, speed=0.5, settle=0.5).delta
    print("fast push dx: mu=0.2", lo[0], "mu=0.6", hi[0])
    assert abs(lo[0]) > abs(hi[0]) + 0.02
    # both slide past the pusher's stop (dynamic push), the slippery one much further
    assert hi[0] > 0.01 and lo[0] > 0.05


def test_quasi_static_bounded_and_planar(sim):
    for cp, ang in (((-0.05, 0.0), 0.0), ((-0.05, 0.02), 0.0), ((-0.05, -0.04), 0.3)):
        r = sim.push(cp, ang, distance=0.04, speed=0.02)
        disp = np.hypot(*r.delta[:2])
        assert disp <= 0.04 + 1e-3
        assert r.max_lift < 1e-3  # rests on the floor: only contact penetration
        if cp == (-0.05, 0.0):  # centre push: the object's back face never runs ahead of the pusher
            back = r.object_pose[:, 1] - 0.05
            front_of_tip = r.tip_pose[:, 1] + sim.pusher_radius
            assert np.all(back >= front_of_tip - 1e-3)  # the pusher does not pass through the object
            assert back[-1] - front_of_tip[-1] < 1e-3  # slow push: no sliding on past the pusher


def test_deterministic(square):
    a = PushSimulator(square, PLYWOOD).push((-0.05, 0.01), 0.1, distance=0.03)
    b = PushSimulator(square, PLYWOOD).push((-0.05, 0.01), 0.1, distance=0.03)
    assert np.array_equal(a.object_pose, b.object_pose) and np.array_equal(a.tip_pose, b.tip_pose)
    assert np.array_equal(a.delta, b.delta)


def test_multi_piece_off_centre_com():
    # an L made of two convex pieces, COM off the centroid
    a = np.array([[0.0, 0.0], [0.08, 0.0], [0.08, 0.03], [0.0, 0.03]])
    b = np.array([[0.0, 0.03], [0.03, 0.03], [0.03, 0.08], [0.0, 0.08]])
    obj = PlanarObject([a, b], mass=0.25, com=(0.03, 0.02))
    r = PushSimulator(obj, ABS).push((0.0, 0.02), 0.0, distance=0.03)
    assert np.all(np.isfinite(r.object_pose)) and r.delta[0] > 0.01


@pytest.mark.parametrize("kwargs, match", [
    (dict(pieces=[np.array([[0, 0], [0.1, 0], [0.05, 0.02], [0.1, 0.1], [0, 0.1]])], mass=1.0), "convex"),
    (dict(pieces=[np.array([[0, 0], [0.1, 0]])], mass=1.0), "3 vertices"),
    (dict(pieces=[SQUARE], mass=-1.0), "mass"),
    (dict(pieces=[SQUARE], mass=0.0), "mass"),
    (dict(pieces=[SQUARE], mass=1.0, com=(np.nan, 0.0)), "com"),
    (dict(pieces=[], mass=1.0), "at least one"),
    (dict(pieces=[SQUARE * [1, 0]], mass=1.0), "convex|repeated"),
])
def test_bad_objects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PlanarObject(**kwargs)


def test_pentagram_rejected():
    ang = np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    with pytest.raises(ValueError, match="self-intersecting"):
        PlanarObject([0.05 * np.c_[np.cos(ang), np.sin(ang)]], mass=1.0)


@pytest.mark.parametrize("friction", [0.0, -0.3, float("nan")])
def test_bad_friction(friction):
    with pytest.raises(ValueError, match="friction"):
        Surface(friction=friction)


def test_bad_push_args(sim, square):
    with pytest.raises(ValueError, match="distance"):
        sim.push((-0.05, 0.0), 0.0, distance=0.0)
    with pytest.raises(ValueError, match="distance"):
        sim.push((-0.05, 0.0), 0.0, distance=-0.01)
    with pytest.raises(ValueError, match="speed"):
        sim.push((-0.05, 0.0), 0.0, speed=0.0)
    with pytest.raises(ValueError, match="contact_point"):
        sim.push((-0.05, 0.0, 0.0), 0.0)
    with pytest.raises(ValueError, match="pusher_friction"):
        PushSimulator(square, ABS, pusher_friction=0.0)
