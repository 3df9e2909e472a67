"""A small planar pushing simulator on MuJoCo (a stand-in for the Omnipush pushes).

Omnipush (Bauza et al. 2019) pushes 250 objects 250 times each with a round pusher that moves
in a straight line over a flat surface (ABS, and a second surface, plywood). The real pushes
are not available offline, so this module simulates physically sensible substitutes. The
Omnipush object geometry is *not* encoded here: any rigid planar object can be described as

- one or more **convex polygon pieces** (each a ``(K, 2)`` array of vertices in metres, in the
  object frame, counter-clockwise; clockwise pieces are reversed), extruded to ``height``;
- a total ``mass`` (kg) and a centre of mass ``com`` (``(2,)``, metres, object frame);
- a rotational inertia about the vertical axis through ``com`` (kg m^2): given explicitly, or
  computed as that of the union of the pieces at **uniform density** (pieces must not overlap;
  overlapping area is counted twice), taken about the given ``com`` point, i.e. the inertia about
  the geometric centroid plus ``mass * |com - centroid|^2`` (parallel-axis theorem).

Model (:class:`PushSimulator` builds an MJCF string, see :meth:`PushSimulator.mjcf`):

- a ground plane; the object body has slide joints along world x and y and a hinge about z,
  so its motion is planar (no tipping). It also has a vertical slide joint ``z`` on which it
  rests under gravity: MuJoCo needs a vertical degree of freedom for the floor's normal force
  to be ``m g`` and the ground friction to be Coulomb friction proportional to it. ``z`` only
  moves by the sub-millimetre contact penetration.
- one convex mesh geom per piece (a prism, bottom at ``z = 0``) and an ``inertial`` element with
  the mass, centre of mass and inertia;
- the pusher: a heavy (10 kg) body with a vertical cylinder geom on two horizontal slide joints,
  moved kinematically: its position *and velocity* are overwritten before every step, so it is
  not pushed back. (A mocap body was tried first: MuJoCo gives mocap bodies zero velocity in
  contacts, so the contact damping holds the object back and a 0.5 m/s push only got the
  object to about 0.18 m/s; with the true pusher velocity in the contact this artefact is gone.)
- contacts come only from explicit ``<pair>`` elements (floor-piece with the surface's friction,
  pusher-piece with the pusher friction), elliptic friction cones, ``condim=3`` and MuJoCo's
  default soft contact parameters. The floor contact of a flat mesh face is a few points
  (MuJoCo's plane-convex collision), a coarse model of the pressure distribution.

Units: metres, seconds, radians, kilograms. Angles are counter-clockwise seen from above.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PlanarObject", "Surface", "ABS", "PLYWOOD", "PushResult", "PushSimulator", "GRAVITY"]

#: gravitational acceleration (m/s^2) used by the model
GRAVITY = 9.81


def _polygon_props(v: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Signed area, centroid (2,) and polar second moment of area about the origin (m^4)."""
    x, y = v[:, 0], v[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    c = x * yn - xn * y
    area = c.sum() / 2.0
    cx = ((x + xn) * c).sum() / (6.0 * area)
    cy = ((y + yn) * c).sum() / (6.0 * area)
    ixx = ((y * y + y * yn + yn * yn) * c).sum() / 12.0
    iyy = ((x * x + x * xn + xn * xn) * c).sum() / 12.0
    return float(area), np.array([cx, cy]), float(ixx + iyy)


def _check_piece(piece, index: int) -> np.ndarray:
    v = np.asarray(piece, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 2:
        raise ValueError(f"pieces[{index}] must be a (K, 2) array of vertices, got shape {v.shape}")
    if v.shape[0] < 3:
        raise ValueError(f"pieces[{index}] needs at least 3 vertices, got {v.shape[0]}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"pieces[{index}] has non-finite vertices")
    e = np.roll(v, -1, axis=0) - v
    if np.any(np.linalg.norm(e, axis=1) <= 1e-12):
        raise ValueError(f"pieces[{index}] has repeated consecutive vertices")
    cross = e[:, 0] * np.roll(e[:, 1], -1) - e[:, 1] * np.roll(e[:, 0], -1)
    tol = 1e-12 * float(np.max(np.abs(v)) ** 2 + 1e-30)
    if np.all(cross <= tol) and np.any(cross < -tol):  # clockwise: fixable
        v = v[::-1].copy()
        e = np.roll(v, -1, axis=0) - v
        cross = e[:, 0] * np.roll(e[:, 1], -1) - e[:, 1] * np.roll(e[:, 0], -1)
    if np.any(cross < -tol) or not np.any(cross > tol):
        raise ValueError(f"pieces[{index}] is not a convex polygon (valid: convex, vertices in order, "
                         "counter-clockwise or clockwise)")
    ang = np.arctan2(np.roll(e, -1, axis=0)[:, 1], np.roll(e, -1, axis=0)[:, 0]) - np.arctan2(e[:, 1], e[:, 0])
    turning = float(np.sum((ang + np.pi) % (2 * np.pi) - np.pi))
    if abs(turning - 2 * np.pi) > 1e-6:  # e.g. a pentagram: all turns left, but winds twice
        raise ValueError(f"pieces[{index}] is self-intersecting (total turning {turning:.3f} rad, "
                         "a convex polygon has 2*pi)")
    v.setflags(write=False)
    return v


@dataclass(frozen=True, eq=False)
class PlanarObject:
    """A rigid planar object: convex polygon pieces extruded to ``height``.

    Args:
        pieces: sequence of ``(K, 2)`` vertex arrays (metres, object frame), each convex with
            ``K >= 3``; counter-clockwise (clockwise ones are reversed). Pieces should not overlap.
        mass: total mass in kg, > 0.
        com: centre of mass ``(2,)`` in metres, object frame.
        height: extrusion height in metres, > 0 (Omnipush objects are about 13 mm thick).
        inertia: rotational inertia about the vertical axis through ``com`` in kg m^2; ``None``
            (default) computes it from uniform-density pieces (see :meth:`inertia_z`).
        support: indices of the pieces whose bottom touches the floor (the others are pushed
            but carry no floor friction: they hover a hair above it), or ``None`` (default) for
            all. Where an object rests sets its friction's pressure distribution, hence how
            easily it turns.
    """

    pieces: tuple
    mass: float
    com: tuple = (0.0, 0.0)
    height: float = 0.013
    inertia: float | None = None
    support: tuple | None = None
    _area: float = field(init=False, repr=False, default=0.0)

    def __post_init__(self):
        if isinstance(self.pieces, np.ndarray) and self.pieces.ndim == 2:
            raise ValueError("pieces must be a sequence of (K, 2) arrays; wrap a single piece in a list")
        pieces = tuple(_check_piece(p, i) for i, p in enumerate(self.pieces))
        if not pieces:
            raise ValueError("pieces must hold at least one convex polygon")
        mass = float(self.mass)
        if not (math.isfinite(mass) and mass > 0):
            raise ValueError(f"mass must be a finite positive number of kg, got {self.mass!r}")
        com = np.asarray(self.com, dtype=np.float64)
        if com.shape != (2,) or not np.all(np.isfinite(com)):
            raise ValueError(f"com must be a finite (2,) point in metres, got {self.com!r}")
        height = float(self.height)
        if not (math.isfinite(height) and height > 0):
            raise ValueError(f"height must be a finite positive number of metres, got {self.height!r}")
        if self.inertia is not None:
            inertia = float(self.inertia)
            if not (math.isfinite(inertia) and inertia > 0):
                raise ValueError(f"inertia must be None or a finite positive kg m^2, got {self.inertia!r}")
            object.__setattr__(self, "inertia", inertia)
        if self.support is not None:
            support = tuple(self.support) if isinstance(self.support, (list, tuple, range)) else None
            if (not support or any(not isinstance(i, (int, np.integer)) or isinstance(i, bool)
                                   or not 0 <= i < len(pieces) for i in support) or len(set(support)) != len(support)):
                raise ValueError(f"support must be None or distinct piece indices in [0, {len(pieces)}), "
                                 f"at least one, got {self.support!r}")
            object.__setattr__(self, "support", tuple(int(i) for i in support))
        object.__setattr__(self, "pieces", pieces)
        object.__setattr__(self, "mass", mass)
        object.__setattr__(self, "com", (float(com[0]), float(com[1])))
        object.__setattr__(self, "height", height)
        object.__setattr__(self, "_area", float(sum(_polygon_props(p)[0] for p in pieces)))

    @property
    def area(self) -> float:
        """Total area of the pieces in m^2 (overlaps counted twice)."""
        return self._area

    def centroid(self) -> np.ndarray:
        """Area centroid ``(2,)`` of the pieces (the centre of mass at uniform density)."""
        acc = np.zeros(2)
        for p in self.pieces:
            a, c, _ = _polygon_props(p)
            acc += a * c
        return acc / self._area

    def inertia_z(self) -> float:
        """Rotational inertia about the vertical axis through ``com`` in kg m^2.

        The explicit ``inertia`` if given; otherwise ``(mass / area) * sum_i J_i(com)``, with
        ``J_i(com)`` the polar second moment of area of piece ``i`` about the point ``com``: the
        uniform-density inertia of the pieces, shifted to ``com`` by the parallel-axis theorem.
        """
        if self.inertia is not None:
            return self.inertia
        com = np.asarray(self.com)
        j = sum(_polygon_props(p - com)[2] for p in self.pieces)
        return self.mass / self._area * j

    def outline(self) -> tuple[np.ndarray, ...]:
        """One closed ``(K + 1, 2)`` vertex array per piece (first vertex repeated), for plotting."""
        return tuple(np.vstack([p, p[:1]]) for p in self.pieces)


@dataclass(frozen=True)
class Surface:
    """A support surface, given by its Coulomb friction coefficient with the object.

    The values of :data:`ABS` (0.3) and :data:`PLYWOOD` (0.45) are **placeholders**, to be
    calibrated against the statistics of the real Omnipush pushes on each surface.
    """

    friction: float = 0.3
    name: str = "abs"

    def __post_init__(self):
        f = self.friction
        if not isinstance(f, (int, float, np.floating, np.integer)) or not (math.isfinite(f) and f > 0):
            raise ValueError(f"friction must be a finite number > 0, got {f!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "friction", float(f))


#: the default Omnipush-like surface (placeholder friction)
ABS = Surface(friction=0.3, name="abs")
#: the second surface, with other friction (placeholder friction)
PLYWOOD = Surface(friction=0.45, name="plywood")


@dataclass(frozen=True, eq=False)
class PushResult:
    """One simulated push.

    Attributes:
        object_pose: ``(T, 4)`` rows ``[t, x, y, yaw]``: time in s since the pusher started, object
            frame origin in m and yaw in rad (world frame = the object's initial frame).
        tip_pose: ``(T, 4)`` rows ``[t, x, y, yaw]``: pusher centre in m, yaw = push direction.
        delta: ``(3,)`` ``(dx, dy, dtheta)`` of the object, final minus initial, world frame.
        max_lift: largest ``|z - z0|`` of the object during the push in m (it rests on the floor).
    """

    object_pose: np.ndarray
    tip_pose: np.ndarray
    delta: np.ndarray
    max_lift: float


def _fmt(a) -> str:
    return " ".join(repr(float(x)) for x in np.ravel(a))


class PushSimulator:
    """Straight-line pushes of a :class:`PlanarObject` on a :class:`Surface` by a round pusher.

    Args:
        obj: the object.
        surface: the support surface (its friction is the object-floor friction).
        pusher_radius: pusher radius in m (Omnipush: 4.75 mm).
        pusher_friction: pusher-object friction coefficient, > 0.
        timestep: MuJoCo time step in s.
        sample_dt: sampling period of the returned trajectories in s (a multiple of ``timestep``).
    """

    def __init__(self, obj: PlanarObject, surface: Surface = ABS, pusher_radius: float = 0.00475,
                 pusher_friction: float = 0.25, timestep: float = 0.002, sample_dt: float = 0.01):
        import mujoco

        if not isinstance(obj, PlanarObject):
            raise ValueError(f"obj must be a PlanarObject, got {type(obj).__name__}")
        if not isinstance(surface, Surface):
            raise ValueError(f"surface must be a Surface, got {type(surface).__name__}")
        for name, val in (("pusher_radius", pusher_radius), ("pusher_friction", pusher_friction),
                          ("timestep", timestep), ("sample_dt", sample_dt)):
            if not (math.isfinite(val) and val > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {val!r}")
        ratio = sample_dt / timestep
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(f"sample_dt must be a positive multiple of timestep ({timestep}), got {sample_dt}")
        self.obj, self.surface = obj, surface
        self.pusher_radius, self.pusher_friction = float(pusher_radius), float(pusher_friction)
        self.timestep, self.sample_dt = float(timestep), float(sample_dt)
        self._every = int(round(ratio))
        self.model = mujoco.MjModel.from_xml_string(self.mjcf())
        self._mj = mujoco

    def mjcf(self) -> str:
        """The MJCF model as a string."""
        o, h = self.obj, self.obj.height
        izz = o.inertia_z()
        ixy = izz / 2 + o.mass * h * h / 12  # x/y rotations are locked; any valid value will do
        meshes, geoms, pairs = [], [], []
        mu, mp = self.surface.friction, self.pusher_friction
        for i, p in enumerate(o.pieces):
            verts = np.concatenate([np.c_[p, np.zeros(len(p))], np.c_[p, np.full(len(p), h)]])
            meshes.append(f'<mesh name="piece{i}" vertex="{_fmt(verts)}"/>')
            geoms.append(f'<geom name="piece{i}" type="mesh" mesh="piece{i}" rgba="0.8 0.5 0.2 1"/>')
            if o.support is None or i in o.support:
                pairs.append(f'<pair geom1="floor" geom2="piece{i}" condim="3" friction="{mu} {mu} 0.005 0.0001 0.0001"/>')
            pairs.append(f'<pair geom1="pusher" geom2="piece{i}" condim="3" friction="{mp} {mp} 0.005 0.0001 0.0001"/>')
        r = self.pusher_radius
        return f"""<mujoco model="planar_push">
  <compiler angle="radian" inertiafromgeom="false"/>
  <option timestep="{self.timestep!r}" gravity="0 0 {-GRAVITY}" cone="elliptic" impratio="10"/>
  <default><geom contype="0" conaffinity="0"/></default>
  <asset>
    {' '.join(meshes)}
  </asset>
  <worldbody>
    <geom name="floor" type="plane" size="2 2 0.1"/>
    <body name="object" pos="0 0 0">
      <joint name="x" type="slide" axis="1 0 0"/>
      <joint name="y" type="slide" axis="0 1 0"/>
      <joint name="z" type="slide" axis="0 0 1"/>
      <joint name="yaw" type="hinge" axis="0 0 1"/>
      <inertial pos="{o.com[0]!r} {o.com[1]!r} {h / 2!r}" mass="{o.mass!r}" diaginertia="{ixy!r} {ixy!r} {izz!r}"/>
      {' '.join(geoms)}
    </body>
    <body name="pusher" pos="0 0 {h / 2 + 0.001!r}">
      <joint name="px" type="slide" axis="1 0 0"/>
      <joint name="py" type="slide" axis="0 1 0"/>
      <inertial pos="0 0 0" mass="10" diaginertia="1 1 1"/>
      <geom name="pusher" type="cylinder" size="{r!r} {h / 2 + 0.005!r}" rgba="0.2 0.2 0.8 1"/>
    </body>
  </worldbody>
  <contact>
    {' '.join(pairs)}
  </contact>
</mujoco>"""

    def push(self, contact_point, direction: float, distance: float = 0.05, speed: float = 0.02,
             approach: float = 0.01, settle: float = 0.5) -> PushResult:
        """Simulate one push of the object, which starts at the origin with yaw 0 and at rest.

        Args:
            contact_point: ``(2,)`` point in m (object frame = world frame at the start), normally
                on the object's boundary, that the pusher's surface reaches after ``approach``.
            direction: push direction in rad, world frame (0 = +x).
            distance: pusher travel in m after reaching the contact point, > 0.
            speed: pusher speed in m/s, > 0.
            approach: free travel in m before the contact point, >= 0. The pusher centre starts at
                ``contact_point - (approach + pusher_radius) * u`` (``u`` the unit direction), so
                that its leading surface is ``approach`` before the contact point.
            settle: time in s simulated after the pusher stops, >= 0.

        Returns:
            a :class:`PushResult`, sampled every ``sample_dt`` seconds from ``t = 0`` (pusher
            starts) to the end (the last row is always the final state).
        """
        mj = self._mj
        cp = np.asarray(contact_point, dtype=np.float64)
        if cp.shape != (2,) or not np.all(np.isfinite(cp)):
            raise ValueError(f"contact_point must be a finite (2,) point in metres, got {contact_point!r}")
        direction = float(direction)
        if not math.isfinite(direction):
            raise ValueError(f"direction must be a finite angle in rad, got {direction!r}")
        for name, val, lo in (("distance", distance, "> 0"), ("speed", speed, "> 0"),
                              ("approach", approach, ">= 0"), ("settle", settle, ">= 0")):
            ok = math.isfinite(val) and (val > 0 if lo == "> 0" else val >= 0)
            if not ok:
                raise ValueError(f"{name} must be a finite number {lo}, got {val!r}")
        m, d = self.model, mj.MjData(self.model)
        u = np.array([math.cos(direction), math.sin(direction)])
        start = cp - (approach + self.pusher_radius) * u
        travel = approach + distance
        px, py = m.jnt_qposadr[m.joint("px").id], m.jnt_qposadr[m.joint("py").id]
        vx, vy = m.jnt_dofadr[m.joint("px").id], m.jnt_dofadr[m.joint("py").id]

        def tip(k):
            return start + min(speed * k * self.timestep, travel) * u

        d.qpos[[px, py]] = start
        # let the object settle onto the floor (z only) before the pusher starts
        for _ in range(int(round(0.1 / self.timestep))):
            mj.mj_step(m, d)
        jx, jy, jz, jyaw = (m.jnt_qposadr[m.joint(n).id] for n in ("x", "y", "z", "yaw"))
        z0 = float(d.qpos[jz])
        pose0 = np.array([d.qpos[jx], d.qpos[jy], d.qpos[jyaw]])
        n_steps = int(math.ceil((travel / speed + settle) / self.timestep - 1e-9))
        obj_rows, tip_rows, max_lift = [], [], 0.0

        def record(k):
            t = k * self.timestep
            obj_rows.append([t, d.qpos[jx], d.qpos[jy], d.qpos[jyaw]])
            p = tip(k)
            tip_rows.append([t, p[0], p[1], direction])

        record(0)
        for k in range(1, n_steps + 1):
            a, b = tip(k - 1), tip(k)
            d.qpos[[px, py]] = a
            d.qvel[[vx, vy]] = (b - a) / self.timestep
            mj.mj_step(m, d)
            max_lift = max(max_lift, abs(float(d.qpos[jz]) - z0))
            if k % self._every == 0 or k == n_steps:
                record(k)
        obj_pose, tip_pose = np.array(obj_rows), np.array(tip_rows)
        delta = obj_pose[-1, 1:] - pose0
        return PushResult(object_pose=obj_pose, tip_pose=tip_pose, delta=delta, max_lift=max_lift)
