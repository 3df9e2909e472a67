"""The Omnipush object grammar (reprobook.sim.omnipush_objects): geometry, mass properties and
validation, checked against independent reference computations (shoelace by hand, grid
rasterisation of the outline) and against the 250 objects of the real split."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from reprobook.data.omnipush import read_split
from reprobook.sim.omnipush_objects import (CENTRE_MASS, CENTRE_SIZE, CIRCLE_SEGMENTS, CONCAVE_NOTCH, SIDE_AREAL_DENSITY,
                                            SIDE_DEPTH, SIDE_SHAPES, SLOT_OFFSET, SUPPORTS, WEIGHTS, mass_properties,
                                            max_radius, object_pieces, omnipush_object, side_pieces)
from reprobook.sim.pushing import PlanarObject, PushSimulator

H = CENTRE_SIZE / 2
D = SIDE_DEPTH
# the documented constants the reference computations below rely on (module docstring)
WEIGHT_KG = {"a": 0.0, "b": 0.060, "c": 0.150, "B": 0.060, "C": 0.150}
SHAPE_OF = {"1": "concave", "2": "triangular", "3": "circular", "4": "rectangular"}


# ------------------------------------------------------------------------------ references
def shoelace(p) -> float:
    """Signed area by the shoelace formula, written out term by term."""
    s = 0.0
    for i in range(len(p)):
        x0, y0 = p[i]
        x1, y1 = p[(i + 1) % len(p)]
        s += x0 * y1 - x1 * y0
    return s / 2


def rot(a: float) -> np.ndarray:
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def inside(points: np.ndarray, piece: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Points strictly inside a counter-clockwise convex piece (by more than ``margin`` from each edge line)."""
    ok = np.ones(len(points), bool)
    for i in range(len(piece)):
        a, b = piece[i], piece[(i + 1) % len(piece)]
        e = b - a
        n = np.hypot(*e)
        cross = (e[0] * (points[:, 1] - a[1]) - e[1] * (points[:, 0] - a[0])) / n
        ok &= cross > margin
    return ok


def grid(step: float, half: float = 0.0575):
    """Cell centres of a square grid over the object (offset so no centre lies on a piece's edge)."""
    c = np.arange(-half + step / 2, half, step) + step * 0.1234567
    gx, gy = np.meshgrid(c, c)
    return np.c_[gx.ravel(), gy.ravel()]


def raster_mass_properties(obj_id: str, step: float = 1.25e-4):
    """Mass, com and inertia by rasterising the outline on a fine grid (uniform parts) plus point weights."""
    pts = grid(step)
    cell = step * step
    pieces = object_pieces(obj_id)
    masses = np.zeros(len(pts))
    masses[inside(pts, pieces[0])] += CENTRE_MASS / CENTRE_SIZE ** 2 * cell
    for p in pieces[1:]:
        masses[inside(pts, p)] += SIDE_AREAL_DENSITY * cell
    point_m, point_q = [], []
    for k in range(4):
        m = WEIGHT_KG[obj_id[2 * k + 1]]
        if m:
            r = H + (0.008 if obj_id[2 * k + 1] in "bc" else 0.017)
            point_m.append(m)
            point_q.append([r * math.cos(k * math.pi / 2), r * math.sin(k * math.pi / 2)])
    point_m, point_q = np.array(point_m), np.array(point_q).reshape(-1, 2)
    mass = masses.sum() + point_m.sum()
    com = (masses @ pts + point_m @ point_q) / mass
    inertia = masses @ ((pts - com) ** 2).sum(1) + point_m @ ((point_q - com) ** 2).sum(1)
    return mass, com, inertia


def same_piece(a: np.ndarray, b: np.ndarray, tol: float = 1e-12) -> bool:
    """Equal vertex cycles (up to the starting vertex)."""
    if a.shape != b.shape:
        return False
    return any(np.abs(np.roll(a, s, axis=0) - b).max() < tol for s in range(len(a)))


# --------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def split_ids(data_root):
    split = read_split(data_root / "omnipush" / "split.json")
    ids = list(split.train_keys) + list(split.test_keys)
    assert len(ids) == 250, f"the real split should list 250 objects, got {len(ids)}"
    return ids


# ------------------------------------------------------------------------ the 250 objects
def test_every_piece_of_every_split_object_is_convex_ccw_and_accepted(split_ids):
    for obj_id in split_ids:
        pieces = object_pieces(obj_id)
        n_expected = 1 + sum(2 if obj_id[2 * k] == "1" else 1 for k in range(4))
        assert len(pieces) == n_expected, f"{obj_id}: {len(pieces)} pieces, expected {n_expected}"
        for i, p in enumerate(pieces):
            assert p.ndim == 2 and p.shape[1] == 2 and len(p) >= 3, f"{obj_id} piece {i}: shape {p.shape}"
            assert shoelace(p) > 0, f"{obj_id} piece {i} is not counter-clockwise (area {shoelace(p)})"
            e = np.roll(p, -1, axis=0) - p
            turn = e[:, 0] * np.roll(e[:, 1], -1) - e[:, 1] * np.roll(e[:, 0], -1)
            assert (turn > 0).all(), f"{obj_id} piece {i} has a non-left turn: not strictly convex ccw ({turn})"
        obj = omnipush_object(obj_id)
        for i, (p, q) in enumerate(zip(pieces, obj.pieces)):
            assert np.array_equal(p, q), f"{obj_id} piece {i}: PlanarObject changed (reversed?) a ccw piece"
        assert obj.area == pytest.approx(sum(shoelace(p) for p in pieces), rel=1e-12)


def test_pieces_do_not_overlap_and_sides_touch_the_centre_edge(split_ids):
    pts = grid(2.5e-4)
    # the pieces depend only on (shape, side): rasterise each once, then count per object
    masks = {"centre": inside(pts, object_pieces("4a4a4a4a")[0], margin=1e-9)}
    for shape in SIDE_SHAPES:
        for k in range(4):
            masks[shape, k] = [inside(pts, p, margin=1e-9) for p in side_pieces(shape, k)]
    for (shape, k), ms in ((key, v) for key, v in masks.items() if key != "centre"):
        assert all(m.any() for m in ms), f"shape {shape} side {k}: a piece covers no grid point"
    for obj_id in split_ids:
        count = masks["centre"].astype(int)
        for k in range(4):
            for m in masks[obj_id[2 * k], k]:
                count += m
        worst = int(count.max())
        assert worst == 1, (f"{obj_id}: {int((count > 1).sum())} grid points lie inside two pieces "
                            f"(max {worst}): pieces overlap")

    # each side's pieces rest on its edge of the centre square and cover it whole
    for shape in SIDE_SHAPES:
        for k in range(4):
            covered = []
            for p in side_pieces(shape, k):
                local = p @ rot(-k * math.pi / 2).T          # back to side 0: the edge is x = H
                assert (local[:, 0] >= H - 1e-12).all(), f"shape {shape} side {k}: a vertex inside the centre"
                assert (local[:, 0] <= H + D + 1e-12).all(), f"shape {shape} side {k}: deeper than SIDE_DEPTH"
                assert (np.abs(local[:, 1]) <= H + 1e-12).all(), f"shape {shape} side {k}: wider than the edge"
                on_edge = local[np.abs(local[:, 0] - H) < 1e-12, 1]
                assert len(on_edge) >= 2, f"shape {shape} side {k}: a piece does not touch the centre's edge"
                covered.append((on_edge.min(), on_edge.max()))
            covered.sort()
            assert covered[0][0] == pytest.approx(-H, abs=1e-12) and covered[-1][1] == pytest.approx(H, abs=1e-12)
            for (_, hi), (lo, _) in zip(covered, covered[1:]):
                assert lo == pytest.approx(hi, abs=1e-12), f"shape {shape} side {k}: a gap along the edge"


# ------------------------------------------------------------------------------- rotations
@pytest.mark.parametrize("obj_id", ["1b2a3C4a", "1a1a3a2a", "2B2a1c4a", "4a3b3a1a"])
def test_rotating_the_id_rotates_the_object_by_minus_90_degrees(obj_id):
    # side k of the id sits at angle k*pi/2: the id rotated by one pair puts old side k+1 at
    # k*pi/2, i.e. the object turned by -90 degrees
    rotated = obj_id[2:] + obj_id[:2]
    turn = rot(-math.pi / 2)
    old = [p @ turn.T for p in object_pieces(obj_id)]
    new = list(object_pieces(rotated))
    assert len(old) == len(new)
    for i, q in enumerate(new):
        assert any(same_piece(p, q) for p in old), f"{rotated} piece {i} is not a piece of {obj_id} turned -90 deg"
    a, b = mass_properties(obj_id), mass_properties(rotated)
    assert b.mass == pytest.approx(a.mass, rel=1e-12)
    assert b.inertia == pytest.approx(a.inertia, rel=1e-12)
    assert np.allclose(b.com, turn @ np.array(a.com), atol=1e-15), f"com {b.com} vs turned {turn @ np.array(a.com)}"


# ------------------------------------------------------------------------- mass properties
SIDE_AREA = {"rectangular": 0.06 * 0.025, "triangular": 0.06 * 0.025 / 2,
             "concave": 0.06 * 0.025 - 0.06 * CONCAVE_NOTCH / 2}


def circular_polygon_area() -> float:
    # the arc through (-H, 0), (0, D), (H, 0) of radius r, inscribed with CIRCLE_SEGMENTS chords
    r = (H * H + D * D) / (2 * D)
    theta = 2 * math.asin(H / r) if D <= r else 2 * math.pi - 2 * math.asin(H / r)
    n = CIRCLE_SEGMENTS
    return r * r / 2 * (n * math.sin(theta / n) - math.sin(theta))


def test_side_shapes_areas_and_max_radius():
    assert SIDE_SHAPES == SHAPE_OF
    for shape, name in SHAPE_OF.items():
        for k in range(4):
            area = sum(shoelace(p) for p in side_pieces(shape, k))
            if name == "circular":
                r = (H * H + D * D) / (2 * D)
                theta = 2 * math.asin(H / r)
                segment = r * r / 2 * (theta - math.sin(theta))   # the exact circular segment
                assert area == pytest.approx(segment, rel=0.01), f"circular side {k}: {area} vs segment {segment}"
                assert area < segment, "an inscribed polygon has less area than the segment"
                assert area == pytest.approx(circular_polygon_area(), rel=1e-12)
            else:
                assert area == pytest.approx(SIDE_AREA[name], rel=1e-12), f"{name} side {k}: area {area}"
    assert SIDE_AREA["concave"] == pytest.approx(0.00105)
    corner = math.hypot(H + D, H)                    # outer corner of a rectangular / concave side
    assert max_radius("4a4a4a4a") == pytest.approx(corner, rel=1e-12)
    assert max_radius("1a1a1a1a") == pytest.approx(corner, rel=1e-12)
    assert max_radius("2a2a2a2a") == pytest.approx(H * math.sqrt(2) if H * math.sqrt(2) > H + D else H + D, rel=1e-12)
    assert max_radius("3a3a3a3a") == pytest.approx(H + D, rel=1e-9)
    assert max_radius("2a3a2a4a") == pytest.approx(corner, rel=1e-12)


@pytest.mark.parametrize("obj_id", ["4a4a4a4a", "1a1a1a1a", "1b1a1a1a", "2B2a2a2a", "2b2a2a2a", "1a1a3a2a",
                                    "2C3c1b4a", "3B2c1a4a"])
def test_mass_matches_independent_sum(obj_id):
    expected = CENTRE_MASS
    for k in range(4):
        shape, weight = obj_id[2 * k], obj_id[2 * k + 1]
        name = SHAPE_OF[shape]
        expected += 13.65 * (circular_polygon_area() if name == "circular" else SIDE_AREA[name])
        expected += WEIGHT_KG[weight]
    got = mass_properties(obj_id)
    assert got.mass == pytest.approx(expected, rel=1e-12), f"{obj_id}: mass {got.mass} vs {expected}"
    assert omnipush_object(obj_id).mass == got.mass
    assert CENTRE_MASS == 0.100 and SIDE_AREAL_DENSITY == 13.65
    assert {k: v[0] for k, v in WEIGHTS.items()} == WEIGHT_KG


def test_com_of_symmetric_and_weighted_objects():
    for sym in ("4a4a4a4a", "1a1a1a1a", "2c2c2c2c", "3a3a3a3a"):
        assert np.allclose(mass_properties(sym).com, 0.0, atol=1e-15), f"{sym}: com {mass_properties(sym).com}"
    cx, cy = mass_properties("1b1a1a1a").com
    assert cx > 1e-3 and abs(cy) < 1e-15, f"a weight on side 0 should move the com to +x, got {(cx, cy)}"
    # by hand: only the 60 g weight at (H + inner slot, 0) is off the origin
    m = mass_properties("1b1a1a1a").mass
    assert cx == pytest.approx(0.060 * (H + SLOT_OFFSET["inner"]) / m, rel=1e-12)
    inner = mass_properties("2b2a2a2a").com[0]
    outer = mass_properties("2B2a2a2a").com[0]
    assert outer > inner > 0, f"the outer slot should move the com farther: inner {inner}, outer {outer}"
    assert outer / inner == pytest.approx((H + 0.017) / (H + 0.008), rel=1e-12)
    # a weight on side 1 (normal +y) moves the com towards +y
    assert mass_properties("2a2c2a2a").com[1] > 0 and abs(mass_properties("2a2c2a2a").com[0]) < 1e-15


@pytest.mark.parametrize("obj_id", ["4a4a4a4a", "1b2a3C4a", "2B2a2a2a", "3c1a1a2b"])
def test_mass_properties_against_grid_rasterisation(obj_id):
    mass, com, inertia = raster_mass_properties(obj_id)
    got = mass_properties(obj_id)
    assert got.mass == pytest.approx(mass, rel=3e-3), f"{obj_id}: mass {got.mass} vs raster {mass}"
    assert np.allclose(got.com, com, atol=1e-4), f"{obj_id}: com {got.com} vs raster {com}"
    assert got.inertia == pytest.approx(inertia, rel=0.01), f"{obj_id}: inertia {got.inertia} vs raster {inertia}"
    obj = omnipush_object(obj_id)
    assert obj.com == got.com and obj.inertia_z() == got.inertia


# ------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("bad", ["1a1a1a1", "5a1a1a1a", "xa1a1a1a", "1a1a1a1a1a", "1d1a1a1a", None, 11111111])
def test_bad_ids_raise(bad):
    for f in (object_pieces, mass_properties, omnipush_object, max_radius):
        with pytest.raises(ValueError, match="Omnipush object id"):
            f(bad)


def test_bad_side_pieces_and_support_raise():
    with pytest.raises(ValueError, match=r"unknown side shape '5'.*valid: 1, 2, 3, 4"):
        side_pieces("5")
    with pytest.raises(ValueError, match="unknown side shape"):
        side_pieces("rectangular")
    for side in (-1, 4, 1.5, "0", None):
        with pytest.raises(ValueError, match="side must be 0, 1, 2 or 3"):
            side_pieces("4", side)
    assert SUPPORTS == ("all", "centre")
    for support in ("center", "none", "", None, 0):
        with pytest.raises(ValueError, match="support must be one of all, centre"):
            omnipush_object("1a1a1a1a", support=support)


def test_side_pieces_are_read_only():
    p = side_pieces("4", 0)[0]
    p[0, 0] = 1.0   # a copy: the cached pieces must not change
    assert side_pieces("4", 0)[0][0, 0] != 1.0


SQUARE = np.array([[-0.01, -0.01], [0.01, -0.01], [0.01, 0.01], [-0.01, 0.01]])
TWO = [SQUARE, SQUARE + [0.02, 0.0]]


@pytest.mark.parametrize("support", [(), [], (2,), (-1,), (0, 0), (True,), (0.0,), ("0",), {0}, 0,
                                     np.array([0]), (0, 1, 2)])
def test_planar_object_support_validation(support):
    with pytest.raises(ValueError, match=re.escape("support must be None or distinct piece indices in [0, 2)")):
        PlanarObject(TWO, mass=0.1, support=support)


def test_planar_object_support_accepted():
    assert PlanarObject(TWO, mass=0.1).support is None
    assert PlanarObject(TWO, mass=0.1, support=[1, 0]).support == (1, 0)
    assert PlanarObject(TWO, mass=0.1, support=(np.int64(1),)).support == (1,)
    assert type(PlanarObject(TWO, mass=0.1, support=(np.int64(1),)).support[0]) is int
    assert PlanarObject(TWO, mass=0.1, support=range(2)).support == (0, 1)


# ------------------------------------------------------------------------------- support
@pytest.mark.parametrize("obj_id", ["1a1a3a2a", "4a4a4a4a"])
def test_support_sets_the_floor_pairs_of_the_mjcf(obj_id):
    n = len(object_pieces(obj_id))
    centre = PushSimulator(omnipush_object(obj_id, support="centre")).mjcf()
    everything = PushSimulator(omnipush_object(obj_id, support="all")).mjcf()
    floor = re.compile(r'<pair geom1="floor" geom2="(piece\d+)"')
    assert floor.findall(centre) == ["piece0"], "support='centre': only the centre piece touches the floor"
    assert floor.findall(everything) == [f"piece{i}" for i in range(n)], "support='all': every piece on the floor"
    pusher = re.compile(r'<pair geom1="pusher" geom2="piece\d+"')
    assert len(pusher.findall(centre)) == len(pusher.findall(everything)) == n, "the pusher touches every piece"
    assert omnipush_object(obj_id, support="centre").support == (0,)
    assert omnipush_object(obj_id).support is None
