"""Top-down rendering of pushes (reprobook.sim.render): camera conventions, exact coverage of
pixel-aligned shapes, area and centroid of rotated shapes, translation equivariance, the pusher,
render_push on a simulated push, and bad inputs. Small frames; one simulated push (~20 ms)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reprobook.sim.omnipush_objects import omnipush_object
from reprobook.sim.omnipush_pushes import simulate_object
from reprobook.sim.pushing import PlanarObject, PushResult
from reprobook.sim.render import DEFAULT_COLORS, Camera, frame_times, render_frame, render_push

MM = Camera(size=64, extent=0.064)   # 1 mm pixels; the world origin is at the corner of 4 pixels
BG = np.array(DEFAULT_COLORS["background"], dtype=float)
OBJ = np.array(DEFAULT_COLORS["object"], dtype=float)
PUSHER = np.array(DEFAULT_COLORS["pusher"], dtype=float)


def square(side=0.010, at=(0.0, 0.0)):
    h = side / 2
    return np.array([[-h, -h], [h, -h], [h, h], [-h, h]]) + np.asarray(at)


def obj_of(*pieces):
    return PlanarObject(pieces=list(pieces), mass=0.1)


def coverage(image, colour=OBJ):
    """Coverage (size, size) recovered from the blend with the background, on the channel
    where the two colours differ most (rounding error <= 0.5 / 170)."""
    ch = int(np.argmax(np.abs(BG - colour)))
    return (BG[ch] - image[..., ch].astype(float)) / (BG[ch] - colour[ch])


def centroid_world(cov, camera):
    rows, cols = np.indices(cov.shape)
    w = cov.sum()
    colrow = np.array([(cov * cols).sum() / w, (cov * rows).sum() / w])
    return camera.to_world(colrow)


@pytest.fixture(scope="module")
def push():
    return simulate_object("4a4a4a4a", 1)[0]


# --- camera ------------------------------------------------------------------------------------

def test_camera_conventions():
    cam = Camera(size=64, extent=0.24, center=(0.1, -0.2))
    assert cam.pixel_size == pytest.approx(0.24 / 64)
    np.testing.assert_allclose(cam.to_pixels([0.1, -0.2]), [31.5, 31.5])
    # +x -> right (columns grow), +y -> up (rows shrink)
    d = cam.to_pixels(np.array([[0.1 + cam.pixel_size, -0.2], [0.1, -0.2 + cam.pixel_size]])) - 31.5
    np.testing.assert_allclose(d, [[1.0, 0.0], [0.0, -1.0]], atol=1e-12)
    # image corners: the top-left corner of pixel (0, 0) is (-0.5, -0.5)
    np.testing.assert_allclose(cam.to_pixels([0.1 - 0.12, -0.2 + 0.12]), [-0.5, -0.5], atol=1e-12)
    pts = np.random.default_rng(0).normal(size=(5, 2))
    assert cam.to_pixels(pts).shape == (5, 2)
    np.testing.assert_allclose(cam.to_world(cam.to_pixels(pts)), pts, atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(size=0), dict(size=-3), dict(size=8.0), dict(size=True),
                                    dict(extent=0), dict(extent=-0.1), dict(extent=float("inf")),
                                    dict(extent="wide"), dict(supersample=0), dict(supersample=2.5),
                                    dict(center=(0.0,)), dict(center=(0.0, float("nan")))])
def test_camera_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        Camera(**kwargs)


# --- frames ------------------------------------------------------------------------------------

def test_deterministic_and_type():
    o = omnipush_object("1a2a3a4a")
    a = render_frame(o, (0.01, -0.02, 0.7), (0.06, 0.01))
    b = render_frame(o, (0.01, -0.02, 0.7), (0.06, 0.01))
    assert a.dtype == np.uint8 and a.shape == (64, 64, 3)
    assert a.tobytes() == b.tobytes()
    empty = render_frame(o, (1.0, 1.0, 0.0))            # object far outside the view: background only
    assert np.all(empty == np.array(DEFAULT_COLORS["background"], dtype=np.uint8))


def test_axis_aligned_square_covers_exact_pixel_block():
    # 10 mm square centred at (3 mm, -2 mm): x in [-2, 8] mm, y in [-7, 3] mm; 1 mm pixels whose
    # edges are at integer mm (pixel col c covers x in [(c - 32) mm, (c - 31) mm])
    img = render_frame(obj_of(square()), (0.003, -0.002, 0.0), camera=MM)
    expected = np.zeros((64, 64), dtype=bool)
    expected[32 - 3:32 + 7, 32 - 2:32 + 8] = True      # rows: y in [-7, 3] mm -> rows 29..38
    assert np.all(img[expected] == DEFAULT_COLORS["object"])
    assert np.all(img[~expected] == DEFAULT_COLORS["background"])
    # yaw by a quarter turn maps the square onto itself
    img90 = render_frame(obj_of(square()), (0.003, -0.002, math.pi / 2), camera=MM)
    assert np.array_equal(img90, img)


@pytest.mark.parametrize("pose", [(0.0, 0.0, 0.0), (0.0013, -0.0041, 0.3), (-0.007, 0.0052, 1.1), (0.004, 0.002, -2.5)])
def test_area_and_centroid(pose):
    # a non-symmetric object of two pieces (a square and a triangle sharing an edge)
    tri = np.array([[0.005, -0.005], [0.015, -0.005], [0.005, 0.005]])
    o = obj_of(square(), tri)
    cam = Camera(size=64, extent=0.064, supersample=8)
    cov = coverage(render_frame(o, pose, camera=cam))
    area_px = o.area / cam.pixel_size ** 2                 # 150 pixels
    perimeter_px = (0.03 + 0.01 + 0.01 + math.hypot(0.01, 0.01)) / cam.pixel_size
    assert abs(cov.sum() - area_px) <= max(0.5, perimeter_px / (2 * cam.supersample) * 0.5)
    x, y, yaw = pose
    c, s = math.cos(yaw), math.sin(yaw)
    expected = np.array([[c, -s], [s, c]]) @ o.centroid() + [x, y]
    got = centroid_world(cov, cam)
    assert np.linalg.norm(got - expected) / cam.pixel_size < 0.3


def test_one_pixel_translation_shifts_the_image():
    o = omnipush_object("1a2a3a4a")
    cam = Camera()
    p = cam.pixel_size
    base = render_frame(o, (0.0012, -0.0031, 0.4), camera=cam)
    right = render_frame(o, (0.0012 + p, -0.0031, 0.4), camera=cam)
    up = render_frame(o, (0.0012, -0.0031 + p, 0.4), camera=cam)
    inner = (slice(2, -2), slice(2, -2))
    assert np.array_equal(np.roll(base, 1, axis=1)[inner], right[inner])
    assert np.array_equal(np.roll(base, -1, axis=0)[inner], up[inner])


def test_plus_y_moves_the_object_up():
    o = obj_of(square(0.02))
    low = coverage(render_frame(o, (0.0, -0.03, 0.0)))
    high = coverage(render_frame(o, (0.0, 0.03, 0.0)))
    rows = np.arange(64)
    assert (high.sum(axis=1) @ rows) / high.sum() < (low.sum(axis=1) @ rows) / low.sum() - 10


def test_pusher_disk_drawn_on_top_where_placed():
    cam = Camera(size=64, extent=0.064, supersample=8)
    o = obj_of(square(0.02))
    r = 0.00475
    img = render_frame(o, (1.0, 1.0, 0.0), (0.02, -0.015), camera=cam, pusher_radius=r)  # object out of view
    cov = coverage(img, PUSHER)
    assert abs(cov.sum() - math.pi * r * r / cam.pixel_size ** 2) < 1.0
    np.testing.assert_allclose(centroid_world(cov, cam), [0.02, -0.015], atol=0.2 * cam.pixel_size)
    # on top: a pusher overlapping the object shows the pusher colour at its centre
    img2 = render_frame(o, (0.0, 0.0, 0.0), (0.0095, 0.0), camera=cam, pusher_radius=r)
    assert tuple(img2[tuple(np.rint(cam.to_pixels([0.0095, 0.0])[::-1]).astype(int))]) == DEFAULT_COLORS["pusher"]
    # custom colours
    img3 = render_frame(o, (0.0, 0.0, 0.0), colors={"object": (0, 0, 0)}, camera=cam)
    assert tuple(img3[32, 32]) == (0, 0, 0)


# --- pushes ------------------------------------------------------------------------------------

def test_render_push_on_a_simulated_push(push):
    o = omnipush_object("4a4a4a4a")
    out = render_push(o, push, n_frames=12)
    assert set(out) == {"frames", "states", "actions", "times"}
    assert out["frames"].shape == (12, 64, 64, 3) and out["frames"].dtype == np.uint8
    assert out["states"].shape == (12, 3) and out["states"].dtype == np.float64
    assert out["actions"].shape == (12, 4) and out["actions"].dtype == np.float64
    op, tp = push.object_pose, push.tip_pose
    np.testing.assert_allclose(out["times"], frame_times(push, 12))
    np.testing.assert_allclose(out["times"][[0, -1]], op[[0, -1], 0])
    np.testing.assert_allclose(np.diff(out["times"]), (op[-1, 0] - op[0, 0]) / 11)
    st = out["states"]
    np.testing.assert_allclose(st[0], op[0, 1:], atol=1e-12)
    np.testing.assert_allclose(st[-1, :2], op[-1, 1:3], atol=1e-12)
    assert abs((st[-1, 2] - op[-1, 3] + np.pi) % (2 * np.pi) - np.pi) < 1e-12
    for k in range(3):
        np.testing.assert_allclose(st[:, k], np.interp(out["times"], op[:, 0], np.unwrap(op[:, 3]) if k == 2 else op[:, k + 1]))
    act = out["actions"]
    np.testing.assert_allclose(act[:, 0], np.interp(out["times"], tp[:, 0], tp[:, 1]))
    np.testing.assert_allclose(act[:, 1], np.interp(out["times"], tp[:, 0], tp[:, 2]))
    np.testing.assert_allclose(act[:-1, 2:], np.diff(act[:, :2], axis=0))
    assert np.all(act[-1, 2:] == 0)
    # each frame is the frame of its state and pusher position
    for i in (0, 5, 11):
        assert np.array_equal(out["frames"][i], render_frame(o, st[i], act[i, :2]))
    # the pusher moves every frame while it travels, so consecutive frames differ
    moving = np.linalg.norm(act[:, 2:], axis=1) > 1e-4
    assert moving.sum() >= 5
    for i in np.flatnonzero(moving):
        assert not np.array_equal(out["frames"][i], out["frames"][i + 1])
    # if the object moved, its pixels moved: compare object-only renders of the first and last state
    if np.linalg.norm(st[-1, :2] - st[0, :2]) > 0.002:
        assert not np.array_equal(render_frame(o, st[0]), render_frame(o, st[-1]))
    # deterministic
    again = render_push(o, push, n_frames=12)
    assert again["frames"].tobytes() == out["frames"].tobytes()


def test_render_push_moving_object_changes_frames():
    # a synthetic push in which the object translates 2 cm along +x: frames change and the object's
    # centroid follows the state
    t = np.linspace(0.0, 1.0, 11)
    op = np.c_[t, 0.02 * t, np.zeros_like(t), 0.5 * t]
    tp = np.c_[t, -0.02 + 0.02 * t, np.zeros_like(t), np.zeros_like(t)]
    p = PushResult(object_pose=op, tip_pose=tp, delta=op[-1, 1:] - op[0, 1:], max_lift=0.0)
    o = obj_of(square(0.02))
    cam = Camera(supersample=8)
    out = render_push(o, p, n_frames=5, camera=cam)
    f = out["frames"]
    assert all(not np.array_equal(f[i], f[i + 1]) for i in range(4))
    np.testing.assert_allclose(out["states"][:, 0], np.linspace(0, 0.02, 5))
    for i in range(5):
        obj_only = render_frame(o, out["states"][i], camera=cam)
        got = centroid_world(coverage(obj_only), cam)
        assert np.linalg.norm(got - out["states"][i, :2]) < 0.3 * cam.pixel_size


# --- bad inputs --------------------------------------------------------------------------------

def test_bad_inputs_raise(push):
    o = obj_of(square())
    for pose in [(0.0, 0.0), (0.0, 0.0, 0.0, 0.0), np.zeros((1, 3)), (0.0, float("nan"), 0.0), "pose"]:
        with pytest.raises(ValueError):
            render_frame(o, pose)
    with pytest.raises(ValueError):
        render_frame(o, (0, 0, 0), pusher_xy=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError):
        render_frame(o, (0, 0, 0), pusher_xy=np.zeros((2, 2)))
    for r in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            render_frame(o, (0, 0, 0), (0.0, 0.0), pusher_radius=r)
    for colors in ({"table": (0, 0, 0)}, {"object": (0, 0)}, {"object": (0, 0, 300)}, [(0, 0, 0)]):
        with pytest.raises(ValueError):
            render_frame(o, (0, 0, 0), colors=colors)
    with pytest.raises(ValueError):
        render_frame([square()], (0, 0, 0))
    with pytest.raises(ValueError):
        render_frame(o, (0, 0, 0), camera="camera")
    for n in (1, 0, -2, 2.0, True):
        with pytest.raises(ValueError):
            render_push(o, push, n_frames=n)
        with pytest.raises(ValueError):
            frame_times(push, n)
    with pytest.raises(ValueError):
        render_push("4a4a4a4a", push)
    with pytest.raises(ValueError):
        render_push(o, push.object_pose)
    bad = PushResult(object_pose=push.object_pose[::-1], tip_pose=push.tip_pose, delta=push.delta, max_lift=0.0)
    with pytest.raises(ValueError):
        render_push(o, bad)
    short = PushResult(object_pose=push.object_pose[:1], tip_pose=push.tip_pose[:1], delta=push.delta, max_lift=0.0)
    with pytest.raises(ValueError):
        frame_times(short)
