"""Video clips of simulated pushes (reprobook.sim.push_videos): shapes, consistency with the simulator, errors."""
import numpy as np
import pytest

from reprobook.data.push_records import records_to_benchmark
from reprobook.sim.omnipush_pushes import simulate_object
from reprobook.sim.push_videos import push_videos, to_float_video
from reprobook.sim.render import Camera


def test_clips_have_the_official_layout_and_follow_the_simulated_pushes():
    data = push_videos(["4a4a4a4a", "1b2a3a4a"], pushes=2, camera=Camera(size=32))
    assert data["frames"].shape == (2, 2, 12, 32, 32, 3) and data["frames"].dtype == np.uint8
    assert data["states"].shape == (2, 2, 12, 3) and data["actions"].shape == (2, 2, 12, 4)
    assert data["ids"] == ["4a4a4a4a", "1b2a3a4a"]
    # the last state is where the simulator left the object: its displacement is the benchmark's y
    pushes = simulate_object("1b2a3a4a", 2)
    _, y = records_to_benchmark(pushes)
    states = data["states"][1]
    assert np.allclose(states[:, -1, :2] - states[:, 0, :2], [p.object_pose[-1, 1:3] - p.object_pose[0, 1:3] for p in pushes])
    assert np.allclose(np.hypot(*(states[:, -1, :2] - states[:, 0, :2]).T), np.hypot(y[:, 0], y[:, 1]))
    again = push_videos(["4a4a4a4a", "1b2a3a4a"], pushes=2, camera=Camera(size=32))
    assert np.array_equal(again["frames"], data["frames"]), "deterministic"


def test_to_float_video_is_channels_first_in_unit_range():
    frames = np.zeros((2, 3, 8, 8, 3), np.uint8)
    frames[..., 0] = 255
    video = to_float_video(frames)
    assert tuple(video.shape) == (2, 3, 3, 8, 8) and float(video[:, :, 0].min()) == 1.0 and float(video[:, :, 1].max()) == 0.0
    with pytest.raises(ValueError, match="uint8"):
        to_float_video(frames.astype(np.float32))


@pytest.mark.parametrize("kwargs, match", [(dict(objects=[], pushes=1), "at least one"),
                                           (dict(objects=["1a1a1a1"], pushes=1), "Omnipush object id"),
                                           (dict(objects="4a4a4a4a", pushes=0), "positive int"),
                                           (dict(objects="4a4a4a4a", pushes=True), "positive int")])
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        push_videos(**kwargs)
