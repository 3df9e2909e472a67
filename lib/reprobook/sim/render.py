"""Top-down RGB video of planar pushes: a small, deterministic numpy rasteriser (no OpenGL, no display).

The Experience-embedded Visual Foresight chapter (book/09-evf) learns from video of pushes of the
Omnipush objects. The official EVF data are 12-frame clips (2 context frames) seen from above,
with a 3-d state and a 4-d action per frame; ours are :func:`render_push` of the simulated pushes
of :mod:`reprobook.sim.omnipush_pushes`, with the state and action defined below (our definition,
not the official one).

Conventions
-----------
- **Camera** (:class:`Camera`): an orthographic view from above of a square ``extent`` metres
  wide, centred on the world point ``center``, imaged on ``size x size`` pixels of
  ``pixel_size = extent / size`` metres. World **+x points right** (increasing column) and world
  **+y points up** (decreasing row: row 0 is the top of the image, the largest y).
- **Pixel coordinates** ``(col, row)`` are floats with pixel ``(c, r)`` centred on ``(c, r)``: it
  covers ``[c - 0.5, c + 0.5] x [r - 0.5, r + 0.5]`` and the image spans ``[-0.5, size - 0.5]``
  on both axes. The world point ``center`` sits at ``((size - 1) / 2, (size - 1) / 2)``.
  Images are indexed ``image[row, col]``.
- **Poses**: an object pose ``(x, y, yaw)`` maps a point ``p`` of the object frame (the frame of
  :attr:`PlanarObject.pieces`) to ``R(yaw) @ p + (x, y)`` in the world; yaw in rad,
  counter-clockwise seen from above. The pusher is a disk of radius ``pusher_radius`` (m) at the
  world point ``pusher_xy``.
- **Anti-aliasing**: every pixel is split into ``supersample x supersample`` subpixels; a shape's
  coverage of a pixel is the fraction of the subpixel centres inside it (inside a convex piece:
  on the inner side of all its edges, a point on an edge counting as inside; inside the disk:
  distance to its centre <= its radius). The object's coverage is that of the union of its
  pieces (overlaps and shared edges count once). A pixel's colour is the background blended
  with the object colour by the object's coverage, then with the pusher colour by the pusher's
  coverage (the pusher is drawn on top), rounded to ``uint8``. Everything is plain float64
  numpy: the same inputs give byte-identical frames on every machine with IEEE arithmetic.

Shapes of arrays are given in comments; lengths in metres, angles in radians, times in seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .pushing import PlanarObject, PushResult

__all__ = ["Camera", "DEFAULT_COLORS", "render_frame", "frame_times", "render_push"]

#: default colours (RGB, 0..255): a light table, an orange object and a blue pusher
DEFAULT_COLORS = {"background": (236, 232, 220), "object": (200, 120, 50), "pusher": (40, 70, 160)}
#: Omnipush pusher radius in m (the default of :class:`reprobook.sim.pushing.PushSimulator`)
PUSHER_RADIUS = 0.00475
#: a subpixel centre within this many pixels outside an edge still counts as inside (closes
#: rounding-sized gaps along edges shared by two pieces)
_EDGE_EPS = 1e-9


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@dataclass(frozen=True)
class Camera:
    """An orthographic top-down camera (conventions in the module docstring).

    Args:
        size: image side in pixels (the image is ``size x size``), an int >= 1.
        extent: metres shown across the image (both directions), finite and > 0.
        center: world point ``(x, y)`` in m imaged at the centre of the image.
        supersample: subpixels per pixel side for anti-aliasing, an int >= 1 (powers of 2 keep
            the subpixel centres exact binary fractions).
    """

    size: int = 64
    extent: float = 0.24
    center: tuple = (0.0, 0.0)
    supersample: int = 4

    def __post_init__(self):
        if not _is_int(self.size) or self.size < 1:
            raise ValueError(f"Camera.size must be an int >= 1 (pixels), got {self.size!r}")
        if not _is_int(self.supersample) or self.supersample < 1:
            raise ValueError(f"Camera.supersample must be an int >= 1 (subpixels per pixel side), "
                             f"got {self.supersample!r}")
        try:
            extent = float(self.extent)
        except (TypeError, ValueError):
            extent = float("nan")
        if isinstance(self.extent, bool) or not (math.isfinite(extent) and extent > 0):
            raise ValueError(f"Camera.extent must be a finite number of metres > 0, got {self.extent!r}")
        try:
            center = np.asarray(self.center, dtype=np.float64)
        except (TypeError, ValueError):
            center = np.full(1, np.nan)
        if center.shape != (2,) or not np.all(np.isfinite(center)):
            raise ValueError(f"Camera.center must be a finite world point (x, y) in m, got {self.center!r}")
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "supersample", int(self.supersample))
        object.__setattr__(self, "extent", extent)
        object.__setattr__(self, "center", (float(center[0]), float(center[1])))

    @property
    def pixel_size(self) -> float:
        """Metres per pixel, ``extent / size``."""
        return self.extent / self.size

    def to_pixels(self, xy) -> np.ndarray:
        """World points ``(N, 2)`` (or one ``(2,)``) in m -> pixel coordinates ``(col, row)``, same shape.

        ``col = (x - cx) / pixel_size + (size - 1) / 2`` and ``row = (size - 1) / 2 - (y - cy) / pixel_size``.
        """
        p = _points(xy, "xy")
        mid = (self.size - 1) / 2.0
        out = np.empty_like(p)
        out[..., 0] = (p[..., 0] - self.center[0]) / self.pixel_size + mid
        out[..., 1] = mid - (p[..., 1] - self.center[1]) / self.pixel_size
        return out

    def to_world(self, colrow) -> np.ndarray:
        """Pixel coordinates ``(N, 2)`` (or one ``(2,)``) ``(col, row)`` -> world points in m (inverse of :meth:`to_pixels`)."""
        q = _points(colrow, "colrow")
        mid = (self.size - 1) / 2.0
        out = np.empty_like(q)
        out[..., 0] = self.center[0] + (q[..., 0] - mid) * self.pixel_size
        out[..., 1] = self.center[1] - (q[..., 1] - mid) * self.pixel_size
        return out


def _points(xy, name: str) -> np.ndarray:
    try:
        p = np.asarray(xy, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric points of shape (N, 2) or (2,), got {xy!r}") from None
    if p.ndim not in (1, 2) or p.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) or (2,), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must be finite")
    return p


def _check_colors(colors) -> dict[str, np.ndarray]:
    if colors is None:
        colors = {}
    if not isinstance(colors, dict):
        raise ValueError(f"colors must be None or a dict with keys among {sorted(DEFAULT_COLORS)}, got {colors!r}")
    unknown = set(colors) - set(DEFAULT_COLORS)
    if unknown:
        raise ValueError(f"unknown colors key(s) {sorted(map(str, unknown))} (valid: {', '.join(DEFAULT_COLORS)})")
    out = {}
    for key, default in DEFAULT_COLORS.items():
        value = colors.get(key, default)
        c = np.asarray(value)
        if (c.shape != (3,) or not np.issubdtype(c.dtype, np.number) or c.dtype == np.bool_
                or not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(c > 255)):
            raise ValueError(f"colors[{key!r}] must be an RGB triple of numbers in [0, 255], got {value!r}")
        out[key] = c.astype(np.float64)
    return out


def _check_pose(pose) -> np.ndarray:
    try:
        p = np.asarray(pose, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"pose must be a finite (3,) array (x, y, yaw), got {pose!r}") from None
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ValueError(f"pose must be a finite (3,) array (x, y, yaw) in m and rad, got shape {p.shape}")
    return p


def _check_radius(pusher_radius) -> float:
    try:
        r = float(pusher_radius)
    except (TypeError, ValueError):
        r = float("nan")
    if isinstance(pusher_radius, bool) or not (math.isfinite(r) and r > 0):
        raise ValueError(f"pusher_radius must be a finite number of metres > 0, got {pusher_radius!r}")
    return r


def _window(lo: np.ndarray, hi: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """Pixels ``[c0, c1) x [r0, r1)`` touched by the pixel-coordinate box ``lo``..``hi`` (each ``(2,)`` col, row), clipped."""
    c0, r0 = (max(0, int(math.floor(v + 0.5))) for v in lo)
    c1, r1 = (min(size, int(math.floor(v + 0.5)) + 1) for v in hi)
    return c0, c1, r0, r1


def _samples(start: int, stop: int, s: int) -> np.ndarray:
    """Subpixel centres ``((stop - start) * s,)`` of pixels ``start..stop-1`` along one axis, in pixel coordinates."""
    offsets = (np.arange(s) + 0.5) / s - 0.5                               # (s,)
    return (np.arange(start, stop, dtype=np.float64)[:, None] + offsets[None, :]).ravel()


def _to_coverage(inside: np.ndarray, s: int) -> np.ndarray:
    """Boolean subpixel mask ``(nr * s, nc * s)`` -> coverage ``(nr, nc)`` in [0, 1]."""
    nr, nc = inside.shape[0] // s, inside.shape[1] // s
    return inside.reshape(nr, s, nc, s).sum(axis=(1, 3)) / float(s * s)


def _object_coverage(obj: PlanarObject, pose: np.ndarray, camera: Camera) -> np.ndarray:
    """Coverage ``(size, size)`` of the object's pieces at ``pose``."""
    size, s = camera.size, camera.supersample
    cov = np.zeros((size, size))
    kmax = max(len(p) for p in obj.pieces)
    # pad every piece to kmax vertices by repeating its last one: the extra edges have length 0
    verts = np.stack([np.vstack([p, np.repeat(p[-1:], kmax - len(p), axis=0)]) for p in obj.pieces])  # (P, K, 2)
    c, si = math.cos(pose[2]), math.sin(pose[2])
    world = verts @ np.array([[c, si], [-si, c]]) + pose[:2]               # (P, K, 2) = R(yaw) p + (x, y)
    px = camera.to_pixels(world.reshape(-1, 2)).reshape(world.shape)        # (P, K, 2) (col, row)
    c0, c1, r0, r1 = _window(px.reshape(-1, 2).min(axis=0), px.reshape(-1, 2).max(axis=0), size)
    if c1 <= c0 or r1 <= r0:
        return cov
    u, v = _samples(c0, c1, s), _samples(r0, r1, s)                        # (nu,), (nv,)
    edge = np.roll(px, -1, axis=1) - px                                    # (P, K, 2)
    length = np.linalg.norm(edge, axis=2, keepdims=True)                   # (P, K, 1)
    unit = np.divide(edge, length, out=np.zeros_like(edge), where=length > 0)
    # world-counter-clockwise pieces are clockwise in (col, row) (the row axis points down), so the
    # interior lies where the cross product edge x (sample - vertex) is <= 0 for every edge;
    # with unit edges it is the signed distance in pixels
    a = unit[..., 0, None] * (v[None, None, :] - px[..., 1, None])          # (P, K, nv)
    b = unit[..., 1, None] * (u[None, None, :] - px[..., 0, None])          # (P, K, nu)
    inside_piece = np.ones((len(obj.pieces), len(v), len(u)), dtype=bool)  # (P, nv, nu)
    for k in range(kmax):
        inside_piece &= (a[:, k, :, None] - b[:, k, None, :]) <= _EDGE_EPS
    cov[r0:r1, c0:c1] = _to_coverage(inside_piece.any(axis=0), s)
    return cov


def _disk_coverage(center_xy: np.ndarray, radius: float, camera: Camera) -> np.ndarray:
    """Coverage ``(size, size)`` of the disk of ``radius`` m centred at the world point ``center_xy``."""
    size, s = camera.size, camera.supersample
    cov = np.zeros((size, size))
    centre = camera.to_pixels(center_xy)                                   # (2,) col, row
    rp = radius / camera.pixel_size                                        # radius in pixels
    c0, c1, r0, r1 = _window(centre - rp, centre + rp, size)
    if c1 <= c0 or r1 <= r0:
        return cov
    u, v = _samples(c0, c1, s), _samples(r0, r1, s)
    d2 = (v[:, None] - centre[1]) ** 2 + (u[None, :] - centre[0]) ** 2    # (nv, nu)
    cov[r0:r1, c0:c1] = _to_coverage(d2 <= rp * rp, s)
    return cov


def render_frame(obj: PlanarObject, pose, pusher_xy=None, camera: Camera = Camera(),
                 pusher_radius: float = PUSHER_RADIUS, colors: dict | None = None) -> np.ndarray:
    """One top-down RGB frame ``(size, size, 3)`` ``uint8`` of ``obj`` at ``pose`` and the pusher.

    Args:
        obj: the object; all its pieces are drawn in the object colour.
        pose: ``(3,)`` object pose ``(x, y, yaw)`` in m and rad (world = ``R(yaw) p + (x, y)``).
        pusher_xy: ``(2,)`` world position of the pusher's centre in m, or ``None`` for no pusher.
        camera: the :class:`Camera`.
        pusher_radius: radius of the pusher disk in m, > 0.
        colors: ``None`` or a dict overriding some of :data:`DEFAULT_COLORS` (keys
            ``"background"``, ``"object"``, ``"pusher"``; RGB triples in [0, 255]).

    Returns:
        ``image[row, col, channel]``; the blend of the module docstring, rounded to the nearest integer.
    """
    if not isinstance(obj, PlanarObject):
        raise ValueError(f"obj must be a PlanarObject, got {type(obj).__name__}")
    if not isinstance(camera, Camera):
        raise ValueError(f"camera must be a Camera, got {type(camera).__name__}")
    pose = _check_pose(pose)
    radius = _check_radius(pusher_radius)
    col = _check_colors(colors)
    if pusher_xy is not None:
        pusher_xy = _points(pusher_xy, "pusher_xy")
        if pusher_xy.shape != (2,):
            raise ValueError(f"pusher_xy must be None or one (2,) point (x, y) in m, got shape {pusher_xy.shape}")
    n = camera.size
    image = np.broadcast_to(col["background"], (n, n, 3)).copy()            # (size, size, 3) float64
    cov = _object_coverage(obj, pose, camera)[..., None]                   # (size, size, 1)
    image += cov * (col["object"] - image)
    if pusher_xy is not None:
        cov = _disk_coverage(pusher_xy, radius, camera)[..., None]
        image += cov * (col["pusher"] - image)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _check_push(push) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(push, PushResult):
        raise ValueError(f"push must be a PushResult, got {type(push).__name__}")
    out = []
    for name in ("object_pose", "tip_pose"):
        a = np.asarray(getattr(push, name), dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 4 or a.shape[0] < 2:
            raise ValueError(f"push.{name} must be a (T, 4) array [t, x, y, yaw] with T >= 2, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"push.{name} must be finite")
        if np.any(np.diff(a[:, 0]) <= 0):
            raise ValueError(f"push.{name} times (column 0) must be strictly increasing")
        out.append(a)
    return out[0], out[1]


def _check_n_frames(n_frames) -> int:
    if not _is_int(n_frames) or n_frames < 2:
        raise ValueError(f"n_frames must be an int >= 2, got {n_frames!r}")
    return int(n_frames)


def frame_times(push: PushResult, n_frames: int = 12) -> np.ndarray:
    """``(n_frames,)`` evenly spaced times from the first to the last time of ``push.object_pose`` (both included)."""
    n = _check_n_frames(n_frames)
    obj_pose, _ = _check_push(push)
    return np.linspace(obj_pose[0, 0], obj_pose[-1, 0], n)


def render_push(obj: PlanarObject, push: PushResult, n_frames: int = 12, camera: Camera = Camera(),
                pusher_radius: float = PUSHER_RADIUS, colors: dict | None = None) -> dict[str, np.ndarray]:
    """A push as a video clip with per-frame states and actions.

    The official EVF data are 12-frame clips with 2 context frames, a 3-d state and a 4-d action
    per frame; the state and action here are **our definition**:

    - ``times`` ``(n_frames,)``: :func:`frame_times`;
    - ``states`` ``(n_frames, 3)`` float64: the object pose ``(x, y, yaw)``, linearly interpolated
      in ``push.object_pose`` at ``times``; yaw is interpolated on the unwrapped angle
      (``np.unwrap``), so it is continuous over the clip (equal to the recorded yaw up to a
      multiple of 2 pi, exactly equal when the recording has no jump of more than pi);
    - ``actions`` ``(n_frames, 4)`` float64: ``(pusher x, pusher y, dx, dy)``, the pusher centre
      linearly interpolated in ``push.tip_pose`` at ``times`` and its displacement to the next
      frame (zero for the last frame);
    - ``frames`` ``(n_frames, size, size, 3)`` uint8: :func:`render_frame` of each state with the
      pusher at its position.

    Args:
        obj: the pushed object (the one ``push`` was simulated with).
        push: a :class:`PushResult` (world frame).
        n_frames: frames in the clip, an int >= 2 (EVF: 12).
        camera, pusher_radius, colors: as in :func:`render_frame`.
    """
    if not isinstance(obj, PlanarObject):
        raise ValueError(f"obj must be a PlanarObject, got {type(obj).__name__}")
    n = _check_n_frames(n_frames)
    obj_pose, tip_pose = _check_push(push)
    times = np.linspace(obj_pose[0, 0], obj_pose[-1, 0], n)                # (n,)
    t = obj_pose[:, 0]
    states = np.stack([np.interp(times, t, obj_pose[:, 1]), np.interp(times, t, obj_pose[:, 2]),
                       np.interp(times, t, np.unwrap(obj_pose[:, 3]))], axis=1)   # (n, 3)
    tt = tip_pose[:, 0]
    tip = np.stack([np.interp(times, tt, tip_pose[:, 1]), np.interp(times, tt, tip_pose[:, 2])], axis=1)  # (n, 2)
    step = np.zeros_like(tip)
    step[:-1] = tip[1:] - tip[:-1]
    actions = np.concatenate([tip, step], axis=1)                          # (n, 4)
    frames = np.stack([render_frame(obj, states[i], tip[i], camera, pusher_radius, colors) for i in range(n)])
    return {"frames": frames, "states": states, "actions": actions, "times": times}
