"""Environment ticks per second: our Neural MMO (``reprobook.envs.nmmo``) against the official
``nmmo`` 2.1.1, side by side, with agents kept alive on both sides.

One tick = one ``env.step(actions)`` call with an action for every live agent. Only ``step`` is
timed: the actions are drawn before the clock starts, and ``reset`` (map generation, spawning)
is excluded on both sides. For every agent count N of ``--agents`` each side gets a fresh env
with N agents, resets it, runs ``--warmup`` ticks, then times ``--ticks`` ticks (default 1,000,
about one nmmo episode: its ``HORIZON`` is 1,024). nmmo's tick grows slower over an episode (on
this 2-core CPU at 128 agents, about 5 ms early and 8 ms near the end); ours does not. The
record keeps the mean of the first and of the last tenth of the timed ticks.

- Actions, both sides: a uniformly random move (stay or one of the four directions) for every live
  agent every tick, no attacks (ours: ``style`` 0, ``target`` = none; nmmo: only a ``Move``
  action). Ours also with :func:`reprobook.envs.nmmo.scripted_policy` (a forager) when
  ``--forager`` is given; its policy time is not timed either.
- Ours (in-process): ``NeuralMMO(max_agents=N, populations=min(8, N), pop_assign="round_robin",
  spawn_per_tick=N, respawn=True, lava_lethal=False, horizon=10**6)``: all N agents spawn at
  reset, the dead are replaced at once in the same tick, and lava blocks moves instead of
  killing (as nmmo's void, which is impassable). Random walkers still starve now and then, so
  the record gives the mean number of live agents over the timed ticks.
- nmmo 2.1.1 (a subprocess in its own virtual environment, ``runs/nmmo-venv``, made by
  ``--make-venv`` when missing): a ``nmmo.config.Medium`` config with the systems of our v1.3
  game only (terrain, resource, combat, progression; NPCs, items, equipment, professions,
  exchange and communication off, so nmmo does less than its ``Default`` does),
  ``PLAYER_N = N``, ``RESOURCE_STARVATION_RATE = RESOURCE_DEHYDRATION_RATE = 0`` (food and water
  still deplete and are harvested, but an empty stock does no damage: nobody dies),
  no death fog (``DEATH_FOG_ONSET = None``, the default), ``HORIZON`` beyond the run.
- Maps: ours 62 x 62 interior + a border of 9 = 80 x 80 tiles; nmmo ``MAP_CENTER = 62``,
  ``MAP_SIZE = 80`` (the same), generated once into ``runs/nmmo-maps/`` and reused.

Prints ticks/s, mean and median ms/tick (the median is robust to the spikes other processes
cause), mean live agents and microseconds per live agent per tick for every N and side, and the
speed-up per tick from the mean and from the median tick; ``--record`` writes
results/benchmarks/nmmo-ticks-cpu.json.

    python benchmarks/nmmo_ticks.py --make-venv --forager --record
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NMMO_VENV = ROOT / "runs" / "nmmo-venv"
NMMO_MAPS = ROOT / "runs" / "nmmo-maps"
NMMO_VERSION = "2.1.1"
#: pip steps that make the nmmo venv (nmmo 2.1.1 pins numpy 1.23, which has no Python 3.11 wheel
#: here; it runs with numpy 2 and the numpy-2 build of vec-noise)
VENV_STEPS = (("numpy==2.4.6", "scipy", "vec-noise-numpy2", "Cython", "setuptools", "wheel"),
              ("--no-deps", "--no-build-isolation", f"nmmo=={NMMO_VERSION}"),
              ("ordered-set", "imageio", "gymnasium", "dill", "pettingzoo", "tqdm"))
SIZE, BORDER = 62, 9
RESULT_MARK = "NMMO_RESULT "


def make_venv(venv: Path = NMMO_VENV) -> float:
    """Create the nmmo venv with the interpreter our venv is based on; returns the seconds taken."""
    t0 = time.perf_counter()
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    for step in VENV_STEPS:
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *step], check=True)
    return time.perf_counter() - t0


def time_ticks(step, live, actions, warmup: int, ticks: int) -> dict:
    """Run ``warmup`` then ``ticks`` calls of ``step(actions())``, timing only ``step``.

    ``live()`` is the number of live agents before a tick (those that act in it).
    """
    for _ in range(warmup):
        step(actions())
    durations, counts = [], []
    for _ in range(ticks):
        act = actions()
        counts.append(live())
        t0 = time.perf_counter()
        step(act)
        durations.append(time.perf_counter() - t0)
    seconds, mean_live = float(np.sum(durations)), float(np.mean(counts))
    return {"ticks_per_s": round(ticks / seconds, 1), "ms_per_tick": round(1e3 * seconds / ticks, 3),
            "median_ms_per_tick": round(1e3 * float(np.median(durations)), 3),
            "first_tenth_ms_per_tick": round(1e3 * float(np.mean(durations[:max(1, ticks // 10)])), 3),
            "last_tenth_ms_per_tick": round(1e3 * float(np.mean(durations[-max(1, ticks // 10):])), 3),
            "mean_live_agents": round(mean_live, 2), "min_live_agents": int(min(counts)),
            "us_per_agent_tick": round(1e6 * seconds / ticks / mean_live, 2)}


# ---------------------------------------------------------------------- ours (in-process)

def ours(n: int, policy: str, warmup: int, ticks: int, seed: int) -> dict:
    """Ticks of :class:`~reprobook.envs.nmmo.NeuralMMO` with ``n`` agents; ``policy`` is
    ``"random"`` (random moves) or ``"forager"`` (:func:`~reprobook.envs.nmmo.scripted_policy`)."""
    from reprobook.envs.nmmo import NeuralMMO, scripted_policy

    env = NeuralMMO(size=SIZE, border=BORDER, max_agents=n, populations=min(8, n),
                    pop_assign="round_robin", spawn_per_tick=n, respawn=True, lava_lethal=False,
                    horizon=10 ** 6, seed=seed)
    rng = np.random.default_rng(seed)
    last = {"obs": env.reset()[0]}
    none = env.n_entities

    def actions():
        if policy == "forager":
            return scripted_policy({a: last["obs"][a] for a in env.agents}, rng)
        moves = rng.integers(0, 5, len(env.agents))
        return {a: {"move": int(m), "style": 0, "target": none} for a, m in zip(env.agents, moves)}

    def step(act):
        last["obs"] = env.step(act)[0]

    return time_ticks(step, lambda: len(env.agents), actions, warmup, ticks)


# ---------------------------------------------------------------------- nmmo (subprocess)

def nmmo_config(n: int, horizon: int):
    """The nmmo 2.1.1 config described in the module docstring (imports nmmo: worker only)."""
    import nmmo
    from nmmo.core import config as cfg

    class Config(cfg.Medium, cfg.Terrain, cfg.Resource, cfg.Combat, cfg.Progression):
        PLAYER_N = n
        MAP_SIZE, MAP_CENTER = SIZE + 2 * BORDER, SIZE
        MAP_N = 1
        PATH_MAPS = str(NMMO_MAPS / f"{SIZE + 2 * BORDER}x{SIZE + 2 * BORDER}")
        MAP_FORCE_GENERATION = False
        RESOURCE_STARVATION_RATE = 0
        RESOURCE_DEHYDRATION_RATE = 0
        DEATH_FOG_ONSET = None
        HORIZON = horizon

    assert nmmo.__version__ == NMMO_VERSION, nmmo.__version__
    return Config()


def nmmo_worker(settings: dict) -> None:
    """Run in the nmmo venv: time nmmo for every agent count; print one JSON result line."""
    import nmmo

    out = {"nmmo_version": nmmo.__version__, "numpy": np.__version__, "rows": {}}
    for n in settings["agents"]:
        config = nmmo_config(n, settings["warmup"] + settings["ticks"] + 10)
        env = nmmo.Env(config, seed=settings["seed"])
        env.reset(seed=settings["seed"])
        rng = np.random.default_rng(settings["seed"])

        def actions():
            ids = list(env.realm.players)
            return {i: {"Move": {"Direction": int(d)}} for i, d in zip(ids, rng.integers(0, 5, len(ids)))}

        out["rows"][n] = time_ticks(env.step, lambda: len(env.realm.players), actions,
                                    settings["warmup"], settings["ticks"])
        out["map_shape"] = list(env.realm.map.tiles.shape)
        out["enabled_systems"] = config.enabled_systems
    print(RESULT_MARK + json.dumps(out), flush=True)


def nmmo(agents: list[int], warmup: int, ticks: int, seed: int) -> dict:
    """Start :func:`nmmo_worker` with the nmmo venv's Python and return its result."""
    settings = {"agents": agents, "warmup": warmup, "ticks": ticks, "seed": seed}
    proc = subprocess.run([str(NMMO_VENV / "bin" / "python"), __file__, "--nmmo-worker", json.dumps(settings)],
                          capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if proc.returncode or not lines:
        raise RuntimeError(f"nmmo worker failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    res = json.loads(lines[-1][len(RESULT_MARK):])
    res["rows"] = {int(k): v for k, v in res["rows"].items()}
    return res


# ---------------------------------------------------------------------- main

def main(argv=None):
    from bench_common import parser, write_record

    p = parser(__doc__, "unused")
    p.add_argument("--agents", type=int, nargs="+", default=[8, 32, 64, 128], help="agent counts")
    p.add_argument("--ticks", type=int, default=1000,
                   help="timed ticks per agent count and side (nmmo's episodes: 1,024 ticks)")
    p.add_argument("--warmup", type=int, default=20, help="untimed ticks after reset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--forager", action="store_true", help="also time ours with the scripted forager")
    p.add_argument("--make-venv", action="store_true", help=f"create {NMMO_VENV.relative_to(ROOT)} if missing")
    args = p.parse_args(argv)

    venv_s = None
    if not (NMMO_VENV / "bin" / "python").exists():
        if not args.make_venv:
            sys.exit(f"{NMMO_VENV} is missing; rerun with --make-venv")
        venv_s = make_venv()
        print(f"created {NMMO_VENV} in {venv_s:.0f} s")

    policies = ["random", "forager"] if args.forager else ["random"]
    rows = {pol: {n: ours(n, pol, args.warmup, args.ticks, args.seed) for n in args.agents} for pol in policies}
    theirs = nmmo(args.agents, args.warmup, args.ticks, args.seed)
    rows = {f"ours ({pol} moves)" if pol == "random" else "ours (forager)": r for pol, r in rows.items()}
    rows[f"nmmo {theirs['nmmo_version']} (random moves)"] = theirs["rows"]

    cpu = platform.processor() or platform.machine()
    print(f"CPU: {cpu}; map {SIZE}+2x{BORDER} = {SIZE + 2 * BORDER} tiles a side on both sides "
          f"(nmmo map {theirs['map_shape']}); {args.warmup} warm-up + {args.ticks} timed ticks; "
          f"only env.step timed")
    print(f"{'side':28s} {'agents':>6s} {'live':>7s} {'ticks/s':>9s} {'ms/tick':>8s} {'median':>8s} {'us/agent':>9s}")
    for side, by_n in rows.items():
        for n, r in by_n.items():
            print(f"{side:28s} {n:6d} {r['mean_live_agents']:7.1f} {r['ticks_per_s']:9.1f} "
                  f"{r['ms_per_tick']:8.3f} {r['median_ms_per_tick']:8.3f} {r['us_per_agent_tick']:9.2f}")
    ref = rows["ours (random moves)"]
    speedup = {n: round(theirs["rows"][n]["ms_per_tick"] / ref[n]["ms_per_tick"], 1) for n in args.agents}
    speedup_median = {n: round(theirs["rows"][n]["median_ms_per_tick"] / ref[n]["median_ms_per_tick"], 1)
                      for n in args.agents}
    print("speed-up per tick, ours (random) over nmmo, mean tick: "
          + ", ".join(f"{n} agents {s}x" for n, s in speedup.items()))
    print("speed-up per tick, ours (random) over nmmo, median tick: "
          + ", ".join(f"{n} agents {s}x" for n, s in speedup_median.items()))
    if args.record:
        write_record("nmmo-ticks-cpu.json", {
            "device": f"CPU ({cpu})", "nmmo_version": theirs["nmmo_version"],
            "nmmo_numpy": theirs["numpy"], "numpy": np.__version__, "python": sys.version.split()[0],
            "settings": {
                "agents": args.agents, "ticks": args.ticks, "warmup": args.warmup, "seed": args.seed,
                "timed": "env.step only (actions drawn before the clock, reset excluded)",
                "actions": "uniform random move in {stay, N, S, E, W} per live agent per tick, no attacks",
                "ours": {"size": SIZE, "border": BORDER, "populations": "min(8, N)",
                         "pop_assign": "round_robin", "spawn_per_tick": "N", "respawn": True,
                         "lava_lethal": False, "horizon": 10 ** 6},
                "nmmo": {"config": "nmmo.config.Medium + Terrain, Resource, Combat, Progression",
                         "enabled_systems": theirs["enabled_systems"], "PLAYER_N": "N",
                         "MAP_SIZE": SIZE + 2 * BORDER, "MAP_CENTER": SIZE,
                         "RESOURCE_STARVATION_RATE": 0, "RESOURCE_DEHYDRATION_RATE": 0,
                         "DEATH_FOG_ONSET": None, "HORIZON": "warmup + ticks + 10"},
                "nmmo_venv_created_s": None if venv_s is None else round(venv_s, 1)},
            "rows": {side: {str(n): r for n, r in by_n.items()} for side, by_n in rows.items()},
            "speedup_ours_random_over_nmmo": {str(n): s for n, s in speedup.items()},
            "speedup_median_ours_random_over_nmmo": {str(n): s for n, s in speedup_median.items()}})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--nmmo-worker"]:
        nmmo_worker(json.loads(sys.argv[2]))
    else:
        main()
