"""Video clips of simulated Omnipush pushes, the data of the EVF chapter (book/09-evf).

For each object, :func:`push_videos` simulates pushes (:func:`reprobook.sim.omnipush_pushes.simulate_object`,
so the same seeded pushes as the benchmark files) and renders each as a clip
(:func:`reprobook.sim.render.render_push`): ``n_frames`` top-down frames from the pusher's start
to the end of the push, with the object's state ``(x, y, yaw)`` and the pusher's action
``(x, y, dx, dy)`` per frame, in the world frame whose origin is the object's start (the camera
is centred there). The official EVF data are 64 x 64 RGB clips of 12 frames of which 2 are
context; these are the defaults.

Arrays (``N`` objects, ``P`` pushes each, ``T`` frames, ``S`` pixels):

- ``frames``: uint8 ``(N, P, T, S, S, 3)``,
- ``states``: float64 ``(N, P, T, 3)``, ``actions``: float64 ``(N, P, T, 4)``,
- ``ids``: the ``N`` object ids.
"""
from __future__ import annotations

import numpy as np

from ..data.omnipush import parse_object_id
from .omnipush_objects import omnipush_object
from .omnipush_pushes import PushProtocol, simulate_object
from .render import Camera, render_push

__all__ = ["push_videos", "to_float_video"]


def push_videos(objects, pushes: int, n_frames: int = 12, camera: Camera = Camera(), surface: str = "abs",
                protocol: PushProtocol = PushProtocol(), seed: int = 0) -> dict:
    """Clips of ``pushes`` simulated pushes of each object in ``objects`` (module docstring)."""
    objects = [objects] if isinstance(objects, str) else list(objects)
    if not objects:
        raise ValueError("objects must name at least one Omnipush object id")
    for o in objects:
        parse_object_id(o)
    if isinstance(pushes, bool) or not isinstance(pushes, (int, np.integer)) or pushes < 1:
        raise ValueError(f"pushes must be a positive int, got {pushes!r}")
    frames, states, actions = [], [], []
    for o in objects:
        obj = omnipush_object(o, support=protocol.support)
        clips = [render_push(obj, push, n_frames=n_frames, camera=camera, pusher_radius=protocol.pusher_radius)
                 for push in simulate_object(o, int(pushes), surface, protocol, seed)]
        frames.append(np.stack([c["frames"] for c in clips]))        # (P, T, S, S, 3)
        states.append(np.stack([c["states"] for c in clips]))        # (P, T, 3)
        actions.append(np.stack([c["actions"] for c in clips]))      # (P, T, 4)
    return {"frames": np.stack(frames), "states": np.stack(states), "actions": np.stack(actions),
            "ids": list(objects)}


def to_float_video(frames) -> "torch.Tensor":
    """uint8 ``(..., T, S, S, 3)`` frames -> float32 torch ``(..., T, 3, S, S)`` in ``[0, 1]``, as the
    video predictor (:mod:`reprobook.models.video_prediction`) takes them."""
    import torch

    a = np.asarray(frames)
    if a.dtype != np.uint8 or a.ndim < 4 or a.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (..., T, S, S, 3), got {a.dtype} {a.shape}")
    return torch.from_numpy(np.moveaxis(a, -1, -3).astype(np.float32) / 255.0)
