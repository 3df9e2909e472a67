"""Simulated Omnipush pushes (reprobook.sim.omnipush_pushes): the push protocol, sampling,
determinism, outcomes, statistics and the dataset writer. Few pushes per test (~10 ms each)."""
from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest

from reprobook.data.omnipush import OmnipushSplit, X_SUFFIX, Y_SUFFIX, canonical_id, read_benchmark, read_object, read_split
from reprobook.data.push_records import read_push_records, records_file, records_to_benchmark
from reprobook.sim.omnipush_objects import omnipush_object
from reprobook.sim.omnipush_pushes import (SURFACES, GenerationReport, PushProtocol, generate_dataset,
                                           normalisation_statistics, push_outcomes, sample_pushes, simulate_object)
from reprobook.sim.pushing import ABS, PLYWOOD, PushSimulator

STATS = dict(X_mean=[0.0, 0.0, 0.0], X_std=[0.05, 0.05, 1.8], y_mean=[0.0, 0.0, 0.0], y_std=[0.01, 0.01, 0.1])


def tiny_split(train=("1a2a3a4a", "2b1a1a4a"), test=("3a3a2c1a",)):
    return OmnipushSplit(train_keys=tuple(train), test_keys=tuple(test), **STATS)


def wrap(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def object_rng(obj_id, surface="abs", seed=0):
    """The documented stream: seeded by (seed, canonical id, surface name)."""
    return np.random.default_rng([seed, zlib.crc32(f"{canonical_id(obj_id)}/{surface}".encode())])


# --------------------------------------------------------------------------------- protocol
def test_protocol_defaults_are_valid():
    p = PushProtocol()
    assert p.support == "centre" and 0 < p.max_offset <= math.pi
    assert PushProtocol(max_offset=0.0, settle=0.0).max_offset == 0.0
    assert PushProtocol(max_offset=math.pi, support="all").max_offset == math.pi


@pytest.mark.parametrize("field, value", [
    ("start_radius", -0.1), ("start_radius", 0.0), ("distance", 0), ("speed", 0.0), ("pusher_radius", 0.0),
    ("pusher_friction", 0), ("settle", -1e-3), ("max_offset", -0.1), ("speed", float("nan")),
    ("distance", float("inf")), ("start_radius", True), ("settle", False), ("speed", "0.04"), ("speed", None),
    ("max_offset", math.pi + 1e-9), ("max_offset", 4.0)])
def test_protocol_rejects_bad_numbers(field, value):
    with pytest.raises(ValueError, match=f"PushProtocol.{field}"):
        PushProtocol(**{field: value})


@pytest.mark.parametrize("support", ["center", "", None, "floor"])
def test_protocol_rejects_bad_support(support):
    with pytest.raises(ValueError, match="PushProtocol.support must be one of all, centre"):
        PushProtocol(support=support)


# ---------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("max_offset", [1.4, 0.3, math.pi])
def test_sample_pushes_geometry(max_offset):
    proto = PushProtocol(max_offset=max_offset, start_radius=0.07)
    start, direction = sample_pushes(2000, np.random.default_rng(3), proto)
    assert start.shape == (2000, 2) and direction.shape == (2000,)
    assert start.dtype == np.float64 and direction.dtype == np.float64
    assert np.abs(np.hypot(start[:, 0], start[:, 1]) - 0.07).max() < 1e-12
    assert (direction >= -math.pi).all() and (direction < math.pi).all()
    towards = np.arctan2(-start[:, 1], -start[:, 0])
    off = wrap(direction - towards)
    assert np.abs(off).max() <= max_offset + 1e-12, f"offset {np.abs(off).max()} > max_offset {max_offset}"
    # uniform offsets fill the allowed range, starts all around the circle
    assert np.abs(off).max() > 0.95 * max_offset
    assert np.ptp(np.arctan2(start[:, 1], start[:, 0])) > 0.99 * 2 * math.pi


def test_sample_pushes_deterministic_and_aimed_at_the_origin_without_offset():
    a = sample_pushes(7, np.random.default_rng(11))
    b = sample_pushes(7, np.random.default_rng(11))
    c = sample_pushes(7, np.random.default_rng(12))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    start, direction = sample_pushes(50, np.random.default_rng(0), PushProtocol(max_offset=0.0))
    towards = np.arctan2(-start[:, 1], -start[:, 0])
    assert np.abs(wrap(direction - towards)).max() < 1e-12
    # the pusher moves towards the origin: its distance shrinks along the direction
    u = np.c_[np.cos(direction), np.sin(direction)]
    assert np.allclose(np.einsum("ij,ij->i", u, start), -np.hypot(start[:, 0], start[:, 1]), atol=1e-12)


@pytest.mark.parametrize("n", [0, -1, 1.0, 2.5, True, "3", None])
def test_sample_pushes_bad_n(n):
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample_pushes(n, np.random.default_rng(0))


def test_sample_pushes_prefix_property():
    # simulate_object promises that the first m of n pushes are the pushes of m: the sampling must be
    s4, d4 = sample_pushes(4, np.random.default_rng(5))
    s2, d2 = sample_pushes(2, np.random.default_rng(5))
    assert np.array_equal(s2, s4[:2]), "the starts of n=2 are not the first two of n=4"
    assert np.array_equal(d2, d4[:2]), (f"LIBRARY BUG: the directions of n=2 {d2} are not the first two of n=4 "
                                        f"{d4[:2]} (phi and beta are drawn in two blocks of n)")


def test_sample_pushes_numpy_int():
    start, _ = sample_pushes(np.int64(4), np.random.default_rng(0))
    assert start.shape == (4, 2)


# -------------------------------------------------------------------------------- simulation
@pytest.fixture(scope="module")
def four_pushes():
    return simulate_object("1a2a3a4a", 4)


def test_simulate_object_is_deterministic(four_pushes):
    again = simulate_object("1a2a3a4a", 4)
    assert len(four_pushes) == len(again) == 4
    for i, (a, b) in enumerate(zip(four_pushes, again)):
        assert np.array_equal(a.object_pose, b.object_pose), f"push {i}: object_pose differs between runs"
        assert np.array_equal(a.tip_pose, b.tip_pose), f"push {i}: tip_pose differs between runs"
    other = simulate_object("1a2a3a4a", 4, seed=1)
    assert not np.array_equal(records_to_benchmark(other)[0], records_to_benchmark(four_pushes)[0])


def test_simulate_object_prefix_property(four_pushes):
    # documented: "the first m pushes of n_pushes are the pushes of n_pushes = m"
    first = simulate_object("1a2a3a4a", 2)
    X2, X4 = records_to_benchmark(first)[0], records_to_benchmark(four_pushes)[0]
    assert np.array_equal(X2[:, :2], X4[:2, :2]), "the pusher starts of n=2 should be the first 2 of n=4"
    assert np.array_equal(X2[:, 2], X4[:2, 2]), (
        f"LIBRARY BUG: the push directions of n=2 {X2[:, 2]} are not the first two of n=4 {X4[:2, 2]}: "
        "sample_pushes draws all n angles phi, then all n offsets beta, so beta_i depends on n")
    for i, (a, b) in enumerate(zip(first, four_pushes)):
        assert np.array_equal(a.object_pose, b.object_pose) and np.array_equal(a.tip_pose, b.tip_pose), (
            f"push {i} of n=2 differs from push {i} of n=4")


def test_rotated_id_gets_the_same_pushes(four_pushes):
    # seeded by the canonical id: the same starts and directions (each in its id's object frame)
    rotated = simulate_object("3a4a1a2a", 4)
    Xa, _ = records_to_benchmark(four_pushes)
    Xb, _ = records_to_benchmark(rotated)
    assert np.array_equal(Xa, Xb), "a rotation of the id should draw the same pushes"


def test_X_is_the_sampled_start_and_direction(four_pushes):
    start, direction = sample_pushes(4, object_rng("1a2a3a4a"))
    X, y = records_to_benchmark(four_pushes)
    assert X.shape == y.shape == (4, 3)
    # X is taken relative to the tracked (noisy) initial object pose: within a few noise sigmas
    p = PushProtocol()
    assert np.abs(X[:, :2] - start).max() < 6 * p.tracking_noise + 6 * p.tracking_noise_yaw * p.start_radius, (
        f"pusher starts {X[:, :2]} vs sampled {start}")
    assert np.abs(wrap(X[:, 2] - direction)).max() < 6 * p.tracking_noise_yaw
    exact = simulate_object("1a2a3a4a", 4, protocol=PushProtocol(tracking_noise=0.0, tracking_noise_yaw=0.0))
    X0, _ = records_to_benchmark(exact)
    assert np.abs(X0[:, :2] - start).max() < 1e-9 and np.abs(wrap(X0[:, 2] - direction)).max() < 1e-9
    for r, a in zip(four_pushes, direction):
        # the pusher travels `distance` along its direction
        travel = r.tip_pose[-1, 1:3] - r.tip_pose[0, 1:3]
        assert np.hypot(*travel) == pytest.approx(PushProtocol().distance, abs=1e-9)
        assert np.allclose(travel / np.hypot(*travel), [math.cos(a), math.sin(a)], atol=1e-9)
        assert r.max_lift < 1e-3


def test_central_push_on_a_symmetric_object_translates():
    proto = PushProtocol()
    sim = PushSimulator(omnipush_object("4a4a4a4a", support=proto.support), ABS, pusher_radius=proto.pusher_radius,
                        pusher_friction=proto.pusher_friction)
    r = proto.pusher_radius
    # as the protocol does: start at (start_radius, 0), direction pi (max_offset = 0)
    res = sim.push((proto.start_radius - r, 0.0), math.pi, distance=proto.distance, speed=proto.speed,
                   approach=0.0, settle=proto.settle)
    assert res.tip_pose[0, 1:3] == pytest.approx([proto.start_radius, 0.0], abs=1e-15)
    dx, dy, dth = res.delta
    # contact after start_radius - (H + D) - r of travel: about 42 mm of pushing
    assert dx < -0.03, f"the object should move along -x, dx={dx}"
    assert abs(dy) < 1e-3 and abs(dth) < 0.01, f"a central push should not deviate: dy={dy}, dtheta={dth}"


def test_surfaces():
    assert SURFACES == {"abs": ABS, "plywood": PLYWOOD}
    a = simulate_object("4a4a4a4a", 1, surface="plywood")
    b = simulate_object("4a4a4a4a", 1, surface=PLYWOOD)
    assert np.array_equal(a[0].object_pose, b[0].object_pose)
    assert simulate_object("4a4a4a4a", 1, surface="ABS")[0].object_pose.shape[1] == 4
    for bad in ("ice", "", None, 0.3):
        with pytest.raises(ValueError, match="surface must be a Surface or one of abs, plywood"):
            simulate_object("4a4a4a4a", 1, surface=bad)
    with pytest.raises(ValueError, match="Omnipush object id"):
        simulate_object("4a4a4a4", 1)


# ---------------------------------------------------------------------------------- outcomes
def test_push_outcomes_by_hand():
    start = np.array([[0.0, 1.0, 2.0, math.pi / 2], [0.0, 0.0, 0.0, 0.0], [0.0, 0.5, -0.5, 3.0]])
    end = np.array([[1.0, 1.0, 3.0, math.pi / 2 + 0.1], [1.0, 0.02, -0.01, -0.2], [2.0, 0.5, -0.4, -3.0]])
    out = push_outcomes(start, end)
    # row 0: world move (0, 1) seen from a frame turned by +90 deg is (1, 0)
    # row 2: world move (0, 0.1) from a frame turned by 3 rad: (0.1 sin 3, 0.1 cos 3); -6 rad wraps to 2 pi - 6
    expected = np.array([[1.0, 0.0, 0.1], [0.02, -0.01, -0.2],
                         [0.1 * math.sin(3.0), 0.1 * math.cos(3.0), 2 * math.pi - 6.0]])
    assert np.allclose(out, expected, atol=1e-12), f"{out} vs {expected}"
    assert out.shape == (3, 3) and out.dtype == np.float64


@pytest.mark.parametrize("s, e", [(np.zeros((3, 3)), np.zeros((3, 3))), (np.zeros((3, 4)), np.zeros((2, 4))),
                                  (np.zeros(4), np.zeros(4)), (np.zeros((2, 4, 1)), np.zeros((2, 4, 1)))])
def test_push_outcomes_shape_errors(s, e):
    with pytest.raises(ValueError, match=r"\(n, 4\) arrays of the same shape"):
        push_outcomes(s, e)


# -------------------------------------------------------------------------------- statistics
def test_normalisation_statistics_match_numpy():
    rng = np.random.default_rng(0)
    objs = [(rng.normal(size=(n, 3)), rng.normal(size=(n, 3))) for n in (5, 3, 8)]
    st = normalisation_statistics(objs)
    X = np.concatenate([x for x, _ in objs])
    y = np.concatenate([t for _, t in objs])
    assert set(st) == {"X_mean", "y_mean", "X_std", "y_std"}
    assert np.allclose(st["X_mean"], X.mean(0), rtol=1e-14) and np.allclose(st["y_mean"], y.mean(0), rtol=1e-14)
    assert np.allclose(st["X_std"], X.std(0, ddof=1), rtol=1e-14) and np.allclose(st["y_std"], y.std(0, ddof=1), rtol=1e-14)
    # ddof=1 by hand for one column
    col = X[:, 0]
    assert st["X_std"][0] == pytest.approx(math.sqrt(((col - col.mean()) ** 2).sum() / (len(col) - 1)), rel=1e-12)
    assert all(isinstance(v, float) for vals in st.values() for v in vals)
    with pytest.raises(ValueError, match="at least one object"):
        normalisation_statistics([])


# -------------------------------------------------------------------------------- generation
def files_of(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.endswith(".npz")}


def npz_arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("omnipush_sim")
    split = tiny_split()
    report = generate_dataset(folder, split, n_pushes=3, progress=False)
    return folder, split, report


def test_generate_dataset_writes_readable_files(generated):
    folder, split, report = generated
    ids = list(split.train_keys) + list(split.test_keys)
    assert isinstance(report, GenerationReport)
    assert report.simulated == ids and report.reused == [] and report.pushes == 3 and report.workers == 1
    names = sorted(p.name for p in folder.iterdir())
    expected = sorted([o + X_SUFFIX for o in ids] + [o + Y_SUFFIX for o in ids] + [o + "_pushes.npz" for o in ids]
                      + ["simulation.json", "split.json"])
    assert names == expected
    written = read_split(folder / "split.json")
    assert written.train_keys == split.train_keys and written.test_keys == split.test_keys
    bench = read_benchmark(folder, written, "all", require_all=True)
    for o in ids:
        records, surface = read_push_records(folder, o)
        assert surface == "abs" and len(records) == 3
        X, y = records_to_benchmark(records)
        assert np.array_equal(bench[o][0], X) and np.array_equal(bench[o][1], y), f"{o}: X/y files != records"
        # and they are the simulation's pushes
        Xs, ys = records_to_benchmark(simulate_object(o, 3))
        assert np.array_equal(X, Xs) and np.array_equal(y, ys), f"{o}: files differ from simulate_object"
    stats = normalisation_statistics([read_object(folder, o) for o in split.train_keys])
    for k, v in stats.items():
        assert np.array_equal(getattr(written, k), np.array(v)), f"split.json {k} != train statistics"
    raw = json.loads((folder / "split.json").read_text())
    assert list(raw) == ["train_keys", "test_keys", "X_mean", "y_mean", "X_std", "y_std"]
    text = report.describe()
    assert "3 objects x 3 pushes simulated" in text and "0 found done" in text and str(folder) in text
    assert "1 worker)" in text


def test_generate_dataset_resumes(generated, tmp_path):
    folder, split, _ = generated
    before = files_of(folder)
    npz_before = {o: (folder / (o + "_pushes.npz")).read_bytes() for o in split.train_keys + split.test_keys}
    report = generate_dataset(folder, split, n_pushes=3, progress=False)
    assert report.simulated == [] and report.reused == list(split.train_keys + split.test_keys)
    assert "0 objects x 3 pushes simulated" in report.describe() and "3 found done" in report.describe()
    assert files_of(folder) == before, "a second call changed files"
    assert {o: (folder / (o + "_pushes.npz")).read_bytes() for o in npz_before} == npz_before
    # one object's X file gone: only it is simulated again, with the same content
    victim = split.train_keys[1]
    old_npz = npz_arrays(folder / (victim + "_pushes.npz"))
    (folder / (victim + X_SUFFIX)).unlink()
    report = generate_dataset(folder, split, n_pushes=3, progress=False)
    assert report.simulated == [victim] and victim not in report.reused and len(report.reused) == 2
    assert files_of(folder) == before, "the re-simulated object's files differ"
    new_npz = npz_arrays(folder / (victim + "_pushes.npz"))
    assert old_npz.keys() == new_npz.keys() and all(np.array_equal(old_npz[k], new_npz[k]) for k in old_npz)
    # another push count is not "done": simulated again
    other = generate_dataset(tmp_path, split, objects=[victim], n_pushes=2, progress=False)
    assert other.simulated == [victim]


def test_generate_dataset_workers_give_the_same_files(generated, tmp_path):
    folder, split, _ = generated
    report = generate_dataset(tmp_path, split, n_pushes=3, workers=2, progress=False)
    assert sorted(report.simulated) == sorted(split.train_keys + split.test_keys) and report.workers == 2
    assert "2 workers)" in report.describe()
    assert files_of(tmp_path) == files_of(folder), "workers=2 wrote other X/y/split.json bytes than workers=1"
    for o in split.train_keys + split.test_keys:
        a, b = npz_arrays(records_file(tmp_path, o)), npz_arrays(records_file(folder, o))
        assert all(np.array_equal(a[k], b[k]) for k in a), f"{o}: raw records differ with workers=2"


def test_generate_dataset_statistics_and_objects(tmp_path):
    split = tiny_split()
    given = OmnipushSplit(train_keys=("1a1a1a1a",), test_keys=(), X_mean=[1.0, 2.0, 3.0], X_std=[4.0, 5.0, 6.0],
                          y_mean=[0.1, 0.2, 0.3], y_std=[0.4, 0.5, 0.6])
    # only a test object, with statistics given; the id may be another rotation of the split's key
    report = generate_dataset(tmp_path, split, objects="2c1a3a3a", n_pushes=1, statistics=given, progress=False)
    assert report.simulated == ["2c1a3a3a"]
    written = read_split(tmp_path / "split.json")
    assert written.train_keys == () and written.test_keys == ("2c1a3a3a",)
    for k in ("X_mean", "y_mean", "X_std", "y_std"):
        assert np.array_equal(getattr(written, k), getattr(given, k)), f"{k} not copied from statistics="


def test_generate_dataset_all_test_without_statistics_raises(tmp_path):
    split = tiny_split(train=(), test=("4a4a4a4a",))
    with pytest.raises(ValueError, match="no train pushes.*statistics="):
        generate_dataset(tmp_path, split, n_pushes=1, progress=False)
    assert not any(tmp_path.iterdir()), "refused before simulating anything"


def test_generate_dataset_one_train_push_refused_before_simulating(tmp_path):
    split = tiny_split(train=("4a4a4a4a",), test=())
    with pytest.raises(ValueError, match="at least 2 needed"):
        generate_dataset(tmp_path, split, n_pushes=1, progress=False)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, match", [
    (dict(objects=["4c4c4c4c"]), "in neither list of the split"),
    (dict(objects=["4a4a4a4"]), "Omnipush object id"),
    (dict(workers=0), "workers must be a positive int"),
    (dict(workers=-2), "workers must be a positive int"),
    (dict(workers=1.5), "workers must be a positive int"),
    (dict(workers="2"), "workers must be a positive int"),
    (dict(n_pushes=0), "n_pushes must be a positive int"),
    (dict(n_pushes=2.0), "n_pushes must be a positive int"),
    (dict(n_pushes=True), "n_pushes must be a positive int"),
    (dict(surface="ice"), "surface must be"),
])
def test_generate_dataset_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_dataset(tmp_path / "out", tiny_split(train=("1a2a3a4a",), test=()), **{"n_pushes": 1, **kwargs},
                         progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), "nothing may be written"


def test_generate_dataset_rejects_a_bool_worker_count(tmp_path):
    # n_pushes=True and PushProtocol(...=True) are refused; workers=True should be as well
    try:
        report = generate_dataset(tmp_path / "out", tiny_split(train=("1a2a3a4a",), test=()), n_pushes=2,
                                  workers=True, progress=False)
    except ValueError as e:
        assert "workers must be a positive int" in str(e), f"unexpected error: {e}"
    else:
        raise AssertionError(f"LIBRARY BUG: generate_dataset(workers=True) was accepted (ran as {report.workers!r} "
                             "worker) instead of raising ValueError: the check isinstance(workers, int) lets bools in")


@pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_generate_dataset_one_train_push_cannot_give_statistics(tmp_path):
    # std with ddof=1 over a single push is undefined: an error, not a split with nan stds
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, tiny_split(train=("1a2a3a4a",), test=()), n_pushes=1, progress=False)
    assert not (tmp_path / "split.json").exists()


def test_generate_dataset_split_type(tmp_path):
    with pytest.raises(ValueError, match="split must be an OmnipushSplit"):
        generate_dataset(tmp_path, {"train_keys": ["1a1a1a1a"]}, n_pushes=1, progress=False)


def test_generate_dataset_refuses_a_folder_of_other_settings(tmp_path):
    split = tiny_split()
    generate_dataset(tmp_path, split, objects=["1a2a3a4a"], n_pushes=2, progress=False, statistics=split)
    manifest = json.loads((tmp_path / "simulation.json").read_text())
    assert manifest["seed"] == 0 and manifest["surface"] == "abs" and manifest["pushes_per_object"] == 2
    for kwargs, what in ((dict(seed=1), "seed"), (dict(surface="plywood"), "surface"),
                         (dict(protocol=PushProtocol(distance=0.05)), "protocol"), (dict(n_pushes=3), "pushes_per_object")):
        with pytest.raises(ValueError, match=what):
            generate_dataset(tmp_path, split, objects=["1a2a3a4a"], progress=False, statistics=split,
                             **{"n_pushes": 2, **kwargs})
    # the same settings resume
    report = generate_dataset(tmp_path, split, objects=["1a2a3a4a"], n_pushes=2, progress=False, statistics=split)
    assert report.reused == ["1a2a3a4a"]


def test_generate_dataset_refuses_benchmark_files_without_a_manifest(tmp_path):
    from reprobook.data.omnipush import write_object

    write_object(tmp_path, "1a2a3a4a", np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="without a simulation.json"):
        generate_dataset(tmp_path, tiny_split(), objects=["1a2a3a4a"], n_pushes=2, progress=False)


def test_tracking_noise_matches_the_real_missed_pushes():
    """Pushes that miss the object: outcomes of pure tracking noise, medians as the real misses' (57 um, 0.63 mrad)."""
    p = PushProtocol(max_offset=0.0, start_radius=0.2, distance=0.01)     # far away: every push misses
    pushes = simulate_object("4a4a4a4a", 40, protocol=p)
    _, y = records_to_benchmark(pushes)
    r, th = np.hypot(y[:, 0], y[:, 1]), np.abs(y[:, 2])
    assert 35e-6 < np.median(r) < 90e-6 and 0.35e-3 < np.median(th) < 1.0e-3
    assert (r > 0).all(), "no outcome is exactly zero"
