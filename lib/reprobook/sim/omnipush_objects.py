"""The Omnipush object grammar: a centre piece with four sides, an id per object, its geometry and mass.

An Omnipush object (Bauza et al. 2019) is a square centre piece to which four sides attach
magnetically, one per edge. Each side has a **shape** (a digit) and may carry an extra
**weight** (a letter); an id such as ``"1a1a3a2a"`` lists the four ``(shape, weight)`` pairs
around the object (:func:`reprobook.data.omnipush.parse_object_id`), and ids that are cyclic
rotations of each other are one object (:func:`reprobook.data.omnipush.canonical_id`).

What the data files say, and what this module assumes
------------------------------------------------------
The benchmark's files give the ids only. Counted over the 250 objects of ``split.json``: shape
4 never carries a weight, and only shape 2 carries the capital letters ``B`` and ``C``; no
object has more than two weighted sides. The paper describes four side shapes (concave,
triangular, circular, rectangular) and extra weights; the *mapping* of digits and letters to
them and all dimensions below are **our assumptions** (the official files do not document
them), chosen so that the pusher starts used by :mod:`reprobook.sim.omnipush_pushes` reach the
objects the way the real pushes' statistics suggest:

- shapes: ``1`` concave, ``2`` triangular, ``3`` circular, ``4`` rectangular (:data:`SIDE_SHAPES`);
- weights: ``a`` none, ``b`` 60 g, ``c`` 150 g in the side's inner slot, ``B`` / ``C`` the same
  masses in its outer slot (farther from the centre) (:data:`WEIGHTS`);
- the centre piece is a square of side :data:`CENTRE_SIZE` (60 mm) and :data:`CENTRE_MASS`
  (100 g, magnets included); a side spans its whole edge and reaches :data:`SIDE_DEPTH` (25 mm)
  outwards, made of plastic of :data:`SIDE_AREAL_DENSITY` (kg per m^2 of outline, 13 mm thick
  ABS); all 13 mm high.

Frames: side ``k`` (``k = 0..3``, the ``k``-th pair of the id) is attached to the edge whose
outward normal points at angle ``k * pi / 2`` in the object frame (side 0 along +x, then
counter-clockwise); the object frame's origin is the centre piece's centre. So rotating an id by
one pair rotates the object by 90 degrees: the same object, as the benchmark says.

Every piece is convex (MuJoCo collides convex meshes), so the concave side is two convex pieces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..data.omnipush import parse_object_id
from .pushing import PlanarObject, _polygon_props

__all__ = ["SIDE_SHAPES", "WEIGHTS", "CENTRE_SIZE", "CENTRE_MASS", "SIDE_DEPTH", "SIDE_AREAL_DENSITY",
           "OBJECT_HEIGHT", "MassProperties", "side_pieces", "object_pieces", "mass_properties",
           "omnipush_object", "max_radius", "SUPPORTS"]

#: side shape digit -> name (our assumption of the mapping; see the module docstring)
SIDE_SHAPES = {"1": "concave", "2": "triangular", "3": "circular", "4": "rectangular"}
#: weight letter -> (extra mass in kg, slot): the slot is "inner" or "outer" (our assumption)
WEIGHTS = {"a": (0.0, "inner"), "b": (0.060, "inner"), "c": (0.150, "inner"),
           "B": (0.060, "outer"), "C": (0.150, "outer")}
CENTRE_SIZE = 0.060          # m, side of the square centre piece
CENTRE_MASS = 0.100          # kg, centre piece with its magnets
SIDE_DEPTH = 0.025           # m, how far a side reaches out from the centre piece's edge
SIDE_AREAL_DENSITY = 13.65   # kg/m^2: ABS (1050 kg/m^3) 13 mm thick
OBJECT_HEIGHT = 0.013        # m
#: distance of a weight's centre from the centre piece's edge, per slot (m)
SLOT_OFFSET = {"inner": 0.008, "outer": 0.017}
CONCAVE_NOTCH = 0.015        # m, depth of the concave side's notch at its middle
CIRCLE_SEGMENTS = 16         # polygon segments of the circular side's arc


@lru_cache(maxsize=None)
def _side_pieces_local(shape: str) -> tuple[np.ndarray, ...]:
    """Convex pieces of a side in its own frame: ``u`` along the edge in ``[-h, h]``, ``v >= 0`` outwards."""
    h, d = CENTRE_SIZE / 2, SIDE_DEPTH
    name = SIDE_SHAPES.get(shape)
    if name == "rectangular":
        pieces = [np.array([[-h, 0], [h, 0], [h, d], [-h, d]])]
    elif name == "triangular":
        pieces = [np.array([[-h, 0], [h, 0], [0, d]])]
    elif name == "circular":  # the circular arc through (-h, 0), (0, d), (h, 0)
        r = (h * h + d * d) / (2 * d)
        c = d - r                                  # the circle's centre on the v axis
        a0 = math.atan2(0 - c, h)                  # angle of (h, 0) seen from the centre
        ang = np.linspace(a0, math.pi - a0, CIRCLE_SEGMENTS + 1)
        arc = np.c_[r * np.cos(ang), c + r * np.sin(ang)]
        arc[0], arc[-1] = (h, 0.0), (-h, 0.0)      # exact end points
        pieces = [arc]
    elif name == "concave":  # a rectangle with a V notch in its outer edge: two convex quads
        m = d - CONCAVE_NOTCH
        pieces = [np.array([[-h, 0], [0, 0], [0, m], [-h, d]]), np.array([[0, 0], [h, 0], [h, d], [0, m]])]
    else:
        raise ValueError(f"unknown side shape {shape!r} (valid: {', '.join(SIDE_SHAPES)})")
    out = []
    for p in pieces:
        p = np.asarray(p, dtype=np.float64)
        p.setflags(write=False)
        out.append(p)
    return tuple(out)


def _to_object_frame(uv: np.ndarray, side: int) -> np.ndarray:
    """A counter-clockwise side-frame piece ``(u, v)`` -> object frame (still counter-clockwise),
    for the side whose normal is at ``side * pi/2``."""
    h = CENTRE_SIZE / 2
    local = np.c_[h + uv[:, 1], uv[:, 0]]          # side 0: normal +x, u along +y
    a = side * math.pi / 2
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (local @ rot.T)[::-1].copy()  # (u, v) -> (v, u) mirrors: reverse to stay counter-clockwise


def side_pieces(shape: str, side: int = 0) -> tuple[np.ndarray, ...]:
    """The convex pieces (each ``(K, 2)``, metres) of a side of ``shape`` attached at ``side`` (0..3)."""
    if side not in (0, 1, 2, 3):
        raise ValueError(f"side must be 0, 1, 2 or 3 (the edge at side * 90 degrees), got {side!r}")
    return tuple(_to_object_frame(p, side) for p in _side_pieces_local(shape))


def _centre_piece() -> np.ndarray:
    h = CENTRE_SIZE / 2
    return np.array([[-h, -h], [h, -h], [h, h], [-h, h]])


def object_pieces(obj_id: str) -> tuple[np.ndarray, ...]:
    """All convex pieces of the object ``obj_id``: the centre square, then each side's pieces."""
    sides = parse_object_id(obj_id)
    pieces = [_centre_piece()]
    for k, (shape, _) in enumerate(sides):
        pieces.extend(side_pieces(shape, k))
    return tuple(pieces)


@dataclass(frozen=True)
class MassProperties:
    """Mass (kg), centre of mass ``(x, y)`` (m, object frame) and inertia about the vertical axis
    through the centre of mass (kg m^2) of an object."""

    mass: float
    com: tuple
    inertia: float


def mass_properties(obj_id: str) -> MassProperties:
    """Mass, centre of mass and inertia of ``obj_id`` (module docstring: masses and densities).

    The centre piece is uniform with :data:`CENTRE_MASS`; a side is uniform plastic of
    :data:`SIDE_AREAL_DENSITY`; a weight is a point mass on the side's axis at
    :data:`SLOT_OFFSET` from the centre piece's edge. The inertia sums each uniform piece's polar
    moment about the centre of mass (its second moment of area times its areal density) and
    ``m r^2`` of each weight.
    """
    sides = parse_object_id(obj_id)
    h = CENTRE_SIZE / 2
    # (areal density, piece) for the uniform parts; (mass, point) for the weights
    centre = _centre_piece()
    uniform = [(CENTRE_MASS / CENTRE_SIZE ** 2, centre)]
    points = []
    for k, (shape, weight) in enumerate(sides):
        uniform.extend((SIDE_AREAL_DENSITY, p) for p in side_pieces(shape, k))
        extra, slot = WEIGHTS[weight]
        if extra > 0:
            a = k * math.pi / 2
            r = h + SLOT_OFFSET[slot]
            points.append((extra, np.array([r * math.cos(a), r * math.sin(a)])))
    mass, moment = 0.0, np.zeros(2)
    for rho, p in uniform:
        area, centroid, _ = _polygon_props(p)
        mass += rho * area
        moment += rho * area * centroid
    for m, q in points:
        mass += m
        moment += m * q
    com = moment / mass
    inertia = sum(rho * _polygon_props(p - com)[2] for rho, p in uniform)
    inertia += sum(m * float(np.sum((q - com) ** 2)) for m, q in points)
    return MassProperties(mass=float(mass), com=(float(com[0]), float(com[1])), inertia=float(inertia))


#: where an object touches the floor: every piece, or only the centre piece (the sides hover)
SUPPORTS = ("all", "centre")


def omnipush_object(obj_id: str, height: float = OBJECT_HEIGHT, support: str = "all") -> PlanarObject:
    """The :class:`~reprobook.sim.pushing.PlanarObject` of an Omnipush id, ready to simulate.

    ``support``: ``"all"`` (the whole outline rests on the floor) or ``"centre"`` (only the centre
    piece does; the sides carry no floor friction), see :attr:`PlanarObject.support`.
    """
    if support not in SUPPORTS:
        raise ValueError(f"support must be one of {', '.join(SUPPORTS)}, got {support!r}")
    props = mass_properties(obj_id)
    return PlanarObject(pieces=object_pieces(obj_id), mass=props.mass, com=props.com, height=height,
                        inertia=props.inertia, support=None if support == "all" else (0,))


def max_radius(obj_id: str) -> float:
    """The largest distance (m) of the object's outline from its frame origin (the centre's centre)."""
    return float(max(np.linalg.norm(p, axis=1).max() for p in object_pieces(obj_id)))
