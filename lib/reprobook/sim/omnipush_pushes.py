"""Simulated Omnipush: the push protocol, 250 pushes per object, the benchmark's files written by one call.

A push (:class:`PushProtocol`): the object rests at the origin with yaw 0; the round pusher's
centre starts on a circle of radius ``start_radius`` around the object's origin, at an angle
``phi`` drawn uniformly, and moves ``distance`` metres in a straight line in the direction
``phi + pi + beta`` (towards the object, off by ``beta`` drawn uniformly in
``[-max_offset, max_offset]``) at ``speed``; the simulation continues ``settle`` seconds after the
pusher stops. Some pushes miss the object, as many real ones do
(:func:`push_outcomes` of the real poses: 36 % of them move the object less than 1 mm).

The benchmark's input and output of a push are :func:`reprobook.data.push_records.push_to_benchmark`:
``X = (x0, y0, alpha)``, the pusher's start and direction in the object's initial frame, and
``y = (dx, dy, dtheta)``, the object's displacement in that frame. The real files' X
statistics (``split.json``: standard deviations 0.055, 0.056 m and 1.80 rad, means about 0) are
those of a start on a circle of radius ``0.055 * sqrt(2) = 0.078`` m with a uniform direction
(``pi / sqrt(3) = 1.81`` rad); the other parameters are calibrated against the real pushes'
outcomes (book/08-omnipush/01-dataset).

Every object's pushes come from their own random stream, seeded by ``(seed, canonical id,
surface)``, so a dataset does not depend on the order or the number of worker processes.
:func:`generate_dataset` writes the benchmark's per-object files, raw per-push records and a
``split.json`` with normalisation statistics of the simulated training pushes, and records its
settings in ``simulation.json``; an interrupted generation resumes where it stopped, and a folder
holding a simulation with other settings (seed, surface, protocol, pushes) is refused.
"""
from __future__ import annotations

import json
import math
import os
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.omnipush import (OmnipushSplit, X_SUFFIX, Y_SUFFIX, canonical_id, parse_object_id, read_object,
                             write_object, write_split)
from ..data.push_records import records_file, records_to_benchmark, relative_pose, wrap_angle, write_push_records
from .omnipush_objects import SUPPORTS, omnipush_object
from .pushing import ABS, PLYWOOD, PushResult, PushSimulator, Surface

__all__ = ["PushProtocol", "SURFACES", "sample_pushes", "push_geometry", "push_once", "protocol_simulator", "simulate_object", "generate_dataset",
           "GenerationReport", "push_outcomes", "normalisation_statistics"]

#: surfaces by name
SURFACES = {"abs": ABS, "plywood": PLYWOOD}


@dataclass(frozen=True)
class PushProtocol:
    """How pushes are drawn and simulated (module docstring). Lengths in m, angles in rad, time in s.

    The defaults are the calibrated ones (book/08-omnipush/01-dataset). ``tracking_noise`` (m) and
    ``tracking_noise_yaw`` (rad) are the standard deviations of independent Gaussian errors added
    to every recorded object pose, as a motion-capture system measures it: the real pushes that
    miss the object move it by a median 57 micrometres and 0.63 mrad, never by exactly 0, which
    these values reproduce (an outcome is the difference of two noisy poses, so its error has
    standard deviation ``sqrt(2) sigma``; the median of a 2-d Gaussian's length is
    ``1.177 sigma``, of a 1-d one's absolute value ``0.674 sigma``). Without them a
    missed push's outcome would be exactly zero, and a model could claim unbounded likelihood.
    """

    start_radius: float = 0.078
    max_offset: float = 1.4
    distance: float = 0.06
    speed: float = 0.04
    settle: float = 0.2
    pusher_radius: float = 0.00475
    pusher_friction: float = 0.6
    support: str = "centre"
    tracking_noise: float = 3.4e-5
    tracking_noise_yaw: float = 6.6e-4

    def __post_init__(self):
        if self.support not in SUPPORTS:
            raise ValueError(f"PushProtocol.support must be one of {', '.join(SUPPORTS)}, got {self.support!r}")
        for name, value in asdict(self).items():
            if name == "support":
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"PushProtocol.{name} must be a finite number, got {value!r}")
            may_be_zero = name in ("settle", "max_offset", "tracking_noise", "tracking_noise_yaw")
            if value < 0 or (value == 0 and not may_be_zero):
                raise ValueError(f"PushProtocol.{name} must be {'>= 0' if may_be_zero else '> 0'}, got {value!r}")
        if self.max_offset > math.pi:
            raise ValueError(f"PushProtocol.max_offset must be at most pi, got {self.max_offset!r}")


def _surface(surface) -> Surface:
    if isinstance(surface, Surface):
        return surface
    if isinstance(surface, str) and surface.lower() in SURFACES:
        return SURFACES[surface.lower()]
    raise ValueError(f"surface must be a Surface or one of {', '.join(SURFACES)}, got {surface!r}")


def _object_key(obj_id: str, surface: Surface, seed: int) -> list[int]:
    return [int(seed), zlib.crc32(f"{canonical_id(obj_id)}/{surface.name}".encode())]


def _object_rng(obj_id: str, surface: Surface, seed: int) -> np.random.Generator:
    """The random stream of one object's pushes: seeded by (seed, canonical id, surface name)."""
    return np.random.default_rng(_object_key(obj_id, surface, seed))


def sample_pushes(n: int, rng: np.random.Generator, protocol: PushProtocol = PushProtocol()) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pusher starts ``(n, 2)`` (m, object frame) and directions ``(n,)`` (rad, in ``[-pi, pi)``)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    u = rng.random((n, 2))                           # one row per push: n pushes are a prefix of n + m
    phi = -math.pi + 2 * math.pi * u[:, 0]
    beta = protocol.max_offset * (2 * u[:, 1] - 1)
    return push_geometry(phi, beta, protocol)


def push_geometry(phi, beta, protocol: PushProtocol = PushProtocol()) -> tuple[np.ndarray, np.ndarray]:
    """The pusher's start ``(..., 2)`` on the start circle at angle ``phi`` and its direction ``(...,)``
    in ``[-pi, pi)``, ``beta`` off the line to the object's origin (module docstring)."""
    phi, beta = np.asarray(phi, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    start = protocol.start_radius * np.stack([np.cos(phi), np.sin(phi)], axis=-1)
    return start, wrap_angle(phi + math.pi + beta)


def protocol_simulator(obj_id: str, surface="abs", protocol: PushProtocol = PushProtocol()) -> PushSimulator:
    """The simulator of the Omnipush object ``obj_id`` on ``surface`` with the protocol's pusher and support."""
    return PushSimulator(omnipush_object(obj_id, support=protocol.support), _surface(surface),
                         pusher_radius=protocol.pusher_radius, pusher_friction=protocol.pusher_friction)


def push_once(sim: PushSimulator, start, direction: float, protocol: PushProtocol = PushProtocol()) -> PushResult:
    """One push of the protocol by ``sim``: the pusher's centre starts at ``start`` (m, the object
    at the origin) and travels ``protocol.distance`` in ``direction``; no tracking noise."""
    u = np.array([math.cos(direction), math.sin(direction)])
    # push() starts the pusher's centre at contact_point - (approach + r) u: with approach 0
    # and contact_point = start + r u it starts at `start` and travels `distance`
    return sim.push(np.asarray(start, dtype=np.float64) + protocol.pusher_radius * u, float(direction),
                    distance=protocol.distance, speed=protocol.speed, approach=0.0, settle=protocol.settle)


def _tracked(push: PushResult, rng: np.random.Generator, protocol: PushProtocol) -> PushResult:
    """``push`` as a tracker sees it: independent Gaussian noise on every recorded object pose."""
    if protocol.tracking_noise == 0 and protocol.tracking_noise_yaw == 0:
        return push
    pose = push.object_pose.copy()                                     # (T, 4) [t, x, y, yaw]
    pose[:, 1:3] += rng.normal(0.0, protocol.tracking_noise, size=(len(pose), 2))
    pose[:, 3] += rng.normal(0.0, protocol.tracking_noise_yaw, size=len(pose))
    return PushResult(object_pose=pose, tip_pose=push.tip_pose, delta=pose[-1, 1:] - pose[0, 1:],
                      max_lift=push.max_lift)


def _run_pushes(sim: PushSimulator, starts: np.ndarray, directions: np.ndarray, protocol: PushProtocol,
                noise_seed: list[int]) -> list[PushResult]:
    return [_tracked(push_once(sim, start, a, protocol), np.random.default_rng(noise_seed + [i]), protocol)
            for i, (start, a) in enumerate(zip(starts, directions))]                  # one noise stream per push


def simulate_object(obj_id: str, n_pushes: int = 250, surface="abs", protocol: PushProtocol = PushProtocol(),
                    seed: int = 0) -> list[PushResult]:
    """``n_pushes`` simulated pushes of the Omnipush object ``obj_id`` on ``surface``.

    Deterministic in ``(obj_id up to rotation, surface, seed, protocol)``: every spelling of an
    object gets the same pusher starts and directions, each in its own id's frame (so the outcomes
    of a rotated spelling are those of a rotated object); the first ``m`` pushes of ``n_pushes``
    are the pushes of ``n_pushes = m``.
    """
    parse_object_id(obj_id)
    surface = _surface(surface)
    rng = _object_rng(obj_id, surface, seed)
    starts, directions = sample_pushes(n_pushes, rng, protocol)
    sim = protocol_simulator(obj_id, surface, protocol)
    return _run_pushes(sim, starts, directions, protocol, _object_key(obj_id, surface, seed) + [1])


def push_outcomes(object_pose_start: np.ndarray, object_pose_end: np.ndarray) -> np.ndarray:
    """``(n, 3)`` outcomes ``(dx, dy, dtheta)`` in each push's initial object frame from start and
    end poses ``(n, 4)`` rows ``[t, x, y, yaw]`` (e.g. the real ``object_pose.npy``)."""
    s, e = np.asarray(object_pose_start, np.float64), np.asarray(object_pose_end, np.float64)
    if s.ndim != 2 or s.shape[1] != 4 or s.shape != e.shape:
        raise ValueError(f"start and end must be (n, 4) arrays of the same shape, got {s.shape} and {e.shape}")
    return relative_pose(s, e)


def normalisation_statistics(ys_and_xs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, list[float]]:
    """``X_mean``, ``y_mean``, ``X_std``, ``y_std`` over all pushes of the given ``(X, y)`` objects,
    as the official ``omnipush_compute_normalization`` computes them (``torch.std``: ``ddof=1``)."""
    if not ys_and_xs:
        raise ValueError("normalisation statistics need at least one object")
    X = np.concatenate([x for x, _ in ys_and_xs])
    y = np.concatenate([t for _, t in ys_and_xs])
    return {"X_mean": X.mean(0).tolist(), "y_mean": y.mean(0).tolist(),
            "X_std": X.std(0, ddof=1).tolist(), "y_std": y.std(0, ddof=1).tolist()}


def _done(folder: Path, obj_id: str, n_pushes: int, raw: bool) -> bool:
    if not ((folder / (obj_id + X_SUFFIX)).exists() and (folder / (obj_id + Y_SUFFIX)).exists()):
        return False
    if raw and not records_file(folder, obj_id).exists():
        return False
    try:
        X, _ = read_object(folder, obj_id)
    except Exception:
        return False
    return X.shape[0] == n_pushes


MANIFEST = "simulation.json"


def _claim(folder: Path, settings: dict) -> None:
    """Record the settings of the simulation in ``folder/simulation.json``, or refuse when the folder
    already holds a simulation with other settings (resuming is only sound with the same ones)."""
    path = folder / MANIFEST
    if path.exists():
        try:
            held = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path} is unreadable ({e}); remove the folder or choose another") from None
        if held != json.loads(json.dumps(settings)):
            diff = sorted(k for k in set(held) | set(settings) if held.get(k) != json.loads(json.dumps(settings)).get(k))
            raise ValueError(f"{folder} holds a simulation with other settings ({', '.join(diff)} differ: "
                             f"{ {k: held.get(k) for k in diff} }); write to another folder")
        return
    if any(folder.glob("*" + X_SUFFIX)):
        raise ValueError(f"{folder} holds benchmark files without a {MANIFEST}: write to another folder")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _generate_one(job) -> tuple[str, float]:
    folder, obj_id, n_pushes, surface, protocol, seed, raw = job
    t0 = time.perf_counter()
    pushes = simulate_object(obj_id, n_pushes, surface, protocol, seed)
    X, y = records_to_benchmark(pushes)
    if raw:  # the raw records first: an object counts as done once its X file exists
        write_push_records(folder, obj_id, pushes, surface=surface.name)
    write_object(folder, obj_id, X, y)
    return obj_id, time.perf_counter() - t0


@dataclass
class GenerationReport:
    """What :func:`generate_dataset` did: objects simulated now / found done, pushes, seconds."""

    folder: Path
    simulated: list = field(default_factory=list)
    reused: list = field(default_factory=list)
    pushes: int = 0
    seconds: float = 0.0
    workers: int = 1

    def describe(self) -> str:
        per = self.seconds / max(1, len(self.simulated) * self.pushes) * 1e3
        return (f"{len(self.simulated)} objects x {self.pushes} pushes simulated in {self.seconds:.1f} s "
                f"({per:.1f} ms per push with {self.workers} worker{'s' * (self.workers > 1)}), "
                f"{len(self.reused)} found done, in {self.folder}")


def generate_dataset(folder, split: OmnipushSplit, objects=None, n_pushes: int = 250, surface="abs",
                     protocol: PushProtocol = PushProtocol(), seed: int = 0, workers: int = 1, raw: bool = True,
                     statistics: OmnipushSplit | None = None, progress: bool = True) -> GenerationReport:
    """Simulate and write a benchmark folder: per object ``<id>_X_3_not_norm.npy``, ``<id>_y_3_not_norm.npy``
    (and ``<id>_pushes.npz`` raw records with ``raw``), plus ``split.json``.

    Args:
        folder: output folder (created). Objects whose files are complete are not simulated again.
        split: the object split. The written ``split.json`` lists the simulated objects: those in
            ``split``'s test list as test keys, the others as train keys (a proper split even
            where the source overlaps, as the plywood split does), with the normalisation
            statistics of the simulated train objects, or those of ``statistics`` if given.
        objects: ids to simulate (default: every key of the split, train then test).
        n_pushes: pushes per object (the real benchmark: 250).
        surface: ``"abs"``, ``"plywood"`` or a :class:`~reprobook.sim.pushing.Surface`.
        workers: processes (each object is simulated in one process; results do not depend on it).
    """
    from tqdm import tqdm

    surface = _surface(surface)
    if not isinstance(split, OmnipushSplit):
        raise ValueError(f"split must be an OmnipushSplit (reprobook.data.omnipush.load_split), got {type(split).__name__}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if not isinstance(n_pushes, (int, np.integer)) or isinstance(n_pushes, bool) or n_pushes < 1:
        raise ValueError(f"n_pushes must be a positive int, got {n_pushes!r}")
    n_pushes = int(n_pushes)
    ids = list(split.keys("train")) + [k for k in split.keys("test") if split.key_of(k, "train") is None]
    if objects is not None:
        objects = [objects] if isinstance(objects, str) else list(objects)
        for o in objects:
            parse_object_id(o)
            if split.role(o) is None:
                raise ValueError(f"object {o!r} is in neither list of the split")
        ids = objects
    seen, unique = set(), []
    for o in ids:  # an object once, however many rotations name it
        if canonical_id(o) not in seen:
            seen.add(canonical_id(o))
            unique.append(o)
    # a proper split: an object in the source split's test list is a test object here
    test = [o for o in unique if split.key_of(o, "test") is not None]
    train = [o for o in unique if split.key_of(o, "test") is None]
    if statistics is None and len(train) * n_pushes < 2:   # refused before any simulation
        raise ValueError("no train pushes to compute the normalisation statistics from (at least 2 needed): pass "
                         "statistics= (e.g. the split of the ABS dataset, as the official plywood split does)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _claim(folder, {"format_version": 1, "surface": surface.name, "friction": surface.friction, "seed": int(seed),
                    "pushes_per_object": n_pushes, "protocol": asdict(protocol)})
    report = GenerationReport(folder=folder, pushes=n_pushes, workers=workers)
    todo = []
    for o in unique:
        (report.reused if _done(folder, o, n_pushes, raw) else todo).append(o)
    jobs = [(folder, o, n_pushes, surface, protocol, seed, raw) for o in todo]
    t0 = time.perf_counter()
    bar = tqdm(total=len(jobs), desc=f"simulating {surface.name} pushes", unit="object", disable=not progress)
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            report.simulated.append(_generate_one(job)[0])
            bar.update()
    else:
        import multiprocessing as mp
        # fork where there is one: the workers only run numpy and MuJoCo, and a script calling
        # this needs no `if __name__ == "__main__"` guard (spawn would re-import it)
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context(method)) as pool:
            for obj_id, _ in pool.map(_generate_one, jobs):
                report.simulated.append(obj_id)
                bar.update()
    bar.close()
    report.seconds = time.perf_counter() - t0
    if statistics is None:
        stats = normalisation_statistics([read_object(folder, o) for o in train])
    else:
        stats = {k: getattr(statistics, k).tolist() for k in ("X_mean", "y_mean", "X_std", "y_std")}
    written = OmnipushSplit(train_keys=tuple(train), test_keys=tuple(test), **{k: tuple(v) for k, v in stats.items()})
    write_split(folder / "split.json", written)
    return report
