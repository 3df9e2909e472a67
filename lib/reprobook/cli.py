"""The reprobook command: run the book's notebooks at a scale, regenerate the smoke twins,
measure tolerances, list what exists."""
from __future__ import annotations

import argparse
import signal
import sys
import textwrap
from pathlib import Path

from . import __version__

from .run import notebooks as nbs
from .run.runner import golden, parse_param, run
from .run.scales import SCALES
from .run.spread import CONFIGURATIONS, run_spread


EPILOG = "\n\n".join(textwrap.fill(p, 88) for p in [
    "Data: datasets are read from $REPROBOOK_DATA (folders separated by ':', each tried in turn; "
    "relative paths are taken from the current directory), then the clone's data/. Decoded arrays "
    "are cached in $REPROBOOK_CACHE (default ~/.cache/reprobook).",
    "Outputs: executed notebooks go to runs/<chapter>/ (git-ignored); results records to "
    "results/<chapter>/<notebook>/<scale>-seed<k>[-<variant>].json, where <variant> is a hash of "
    "the parameters given with -p ($REPROBOOK_RESULTS overrides the folder). Ctrl-C stops a run "
    "and records nothing.",
])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="reprobook", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"reprobook {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute CHAPTER[/NOTEBOOK] and write results records", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p_run.add_argument("target", help="e.g. 03-hypersphere, 03-hypersphere/04-direct-optimisation, or "
                       "a path such as book/03-hypersphere/04-direct-optimisation.md")
    p_run.add_argument("--scale", default="smoke", help=f"one of {', '.join(SCALES)} (default smoke)")
    p_run.add_argument("--seed", type=int, default=0)
    p_run.add_argument("--device", default=None, help="passed to notebooks that take a device parameter")
    p_run.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                       help="override a notebook parameter (repeatable)")
    p_run.add_argument("--no-record", action="store_true", help="do not write a results record")
    p_golden = sub.add_parser("golden", help="regenerate the executed smoke twins")
    p_golden.add_argument("target", nargs="?", default=None)
    p_tol = sub.add_parser("tolerances", help="measure the spread of reported numbers under perturbed "
                           "numerics and write book/<chapter>/tolerances.json")
    p_tol.add_argument("target", help="CHAPTER or CHAPTER/NOTEBOOK")
    p_tol.add_argument("--config", action="append", default=None, metavar="NAME",
                       help=f"numeric configuration (repeatable; one of {', '.join(CONFIGURATIONS)}; default: all but default)")
    p_tol.add_argument("--reuse", action="store_true",
                       help="do not execute: compute tolerances from the observations stored under runs/spread")
    p_twins = sub.add_parser("twins", help="print the executed twins' paths (for nbval)")
    which = p_twins.add_mutually_exclusive_group()
    which.add_argument("--portable", action="store_true",
                       help="only the one-per-chapter sample replayed under other numerics")
    which.add_argument("--rest", action="store_true", help="all but that sample")
    p_gpu = sub.add_parser("gpu", help="record a chapter's short run on a lent GPU machine (see CONTRIBUTING.md)")
    gsub = p_gpu.add_subparsers(dest="gpu_command", required=True)
    for name, text in (("plan", "print the sequence of device calls and what each carries"),
                       ("prepare", "fill .gpu/ with the files of one step"),
                       ("check", "check that every file a chapter needs is staged (on the device)")):
        g = gsub.add_parser(name, help=text)
        g.add_argument("chapter")
        g.add_argument("--data", default=None, help="data folder (default: the first of $REPROBOOK_DATA, else data/)")
        if name != "check":
            g.add_argument("--wheels", default="../shared/wheels/device-py312", help="the notebook tools' wheels")
        if name == "prepare":
            g.add_argument("--step", type=int, required=True)
    g = gsub.add_parser("collect", help="unpack the results archive a device call returned")
    g.add_argument("folder")
    p_sim = sub.add_parser("omnipush-sim", help="simulate the Omnipush benchmark (250 objects x 250 pushes) into a "
                           "folder in the benchmark's file format (book/08-omnipush)")
    p_sim.add_argument("out", help="output folder (an interrupted run resumes there)")
    p_sim.add_argument("--surface", default="abs", help="abs (the benchmark's objects) or plywood (its plywood test objects)")
    p_sim.add_argument("--pushes", type=int, default=250, help="pushes per object (default 250)")
    p_sim.add_argument("--objects", type=int, default=None, help="simulate this many train and this many test objects "
                       "(plywood: test objects), spread over the split (default: all)")
    p_sim.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p_sim.add_argument("--seed", type=int, default=0)
    p_sim.add_argument("--statistics", default=None, metavar="SPLIT_JSON",
                       help="take the normalisation statistics from this split file (default: computed from the "
                       "simulated train objects; for plywood, the real split's)")
    p_sim.add_argument("--record", default=None, metavar="JSON",
                       help="add this run's timing (and the machine's description) to the runs of this JSON file")
    p_sim.add_argument("--no-raw", action="store_true", help="write only the benchmark files, not the raw per-push records")
    p_list = sub.add_parser("list", help="list chapters, notebooks and their parameters")
    p_list.add_argument("target", nargs="?", default=None, help="a chapter or notebook (default: all)")
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)   # SIGTERM cleans up as Ctrl-C does
    try:
        if args.command == "run":
            if args.scale not in SCALES:
                raise ValueError(f"unknown scale {args.scale!r}; valid scales: {', '.join(SCALES)}")
            params = dict(parse_param(p) for p in args.param)
            run(args.target, args.scale, args.seed, args.device, params, record=not args.no_record)
        elif args.command == "golden":
            golden(args.target)
        elif args.command == "tolerances":
            for path in run_spread(args.target, args.config, execute=not args.reuse):
                print(f"tolerances written to {path}")
        elif args.command == "gpu":
            _gpu(args)
        elif args.command == "omnipush-sim":
            _omnipush_sim(args)
        elif args.command == "twins":
            sample = {r.key for r in nbs.portability_sample()}
            for ref in nbs.notebooks():
                if (args.portable and ref.key not in sample) or (args.rest and ref.key in sample):
                    continue
                print(ref.twin.relative_to(Path.cwd()) if ref.twin.is_relative_to(Path.cwd()) else ref.twin)
        else:
            for ref in (nbs.resolve(args.target) if args.target else nbs.notebooks()):
                choices = nbs.parameter_choices(ref)
                params = ", ".join(f"{k}={v!r}" + (f" (one of {', '.join(map(str, choices[k]))})" if k in choices else "")
                                   for k, v in nbs.parameters(ref).items())
                print(f"{ref.key:50s} {params}")
    except KeyboardInterrupt:
        print("reprobook: interrupted; nothing recorded", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as e:
        print(f"reprobook: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if type(e).__name__ != "PapermillExecutionError":
            raise
        print(f"reprobook: a notebook failed: {e.ename}: {e.evalue}\n(the executed notebook up to the "
              f"failing cell is kept under runs/ as *.failed.ipynb; no results record was written)",
              file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _gpu(args) -> None:
    from .data.cifar import data_roots
    from .run import gpu

    if args.gpu_command == "collect":
        for name in gpu.collect(Path(args.folder)):
            print(name)
        return
    data = Path(args.data).expanduser() if args.data else data_roots()[0]
    chapter = nbs.resolve(args.chapter)[0].chapter
    if args.gpu_command == "check":
        files = [f for name in gpu.chapter_datasets(chapter) for f in gpu.dataset_files(name, data, staged_only=True)]
        print(f"{chapter}: all {len(files)} data files staged in {data}")
        return
    steps = gpu.plan(chapter, data, Path(args.wheels))
    if args.gpu_command == "plan":
        print(gpu.describe(chapter, steps))
    else:
        copied = gpu.prepare(steps, args.step)
        size = sum(p.stat().st_size for p in copied) / 2**20
        print(f"step {args.step} of {len(steps)}: {len(copied)} files, {size:.1f} MiB in {gpu.STAGING}/")


def _omnipush_sim(args) -> None:
    import json
    import time

    from .chapters.omnipush import spread
    from .data.omnipush import load_split, read_split
    from .sim.omnipush_pushes import SURFACES, generate_dataset

    surface = args.surface.lower()
    if surface not in SURFACES:
        raise ValueError(f"unknown --surface {args.surface!r}; valid: {', '.join(SURFACES)}")
    for flag, value in (("--objects", args.objects), ("--pushes", args.pushes), ("--workers", args.workers)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be a positive number, got {value}")
    if surface == "abs" and not args.statistics and args.pushes * (args.objects or 200) < 2:
        raise ValueError("one train push cannot give normalisation statistics: simulate more, or give --statistics")
    split = load_split() if surface == "abs" else load_split("plywood_split", allow_overlap=True)
    ids = (spread(split.train_keys, args.objects) if args.objects else list(split.train_keys)) if surface == "abs" else []
    ids += spread(split.test_keys, args.objects) if args.objects else list(split.test_keys)
    statistics = None
    if args.statistics:
        statistics = read_split(args.statistics, allow_overlap=True)
    elif surface == "plywood":   # normalised with the ABS statistics, as the official plywood split is
        statistics = load_split()
        print("normalising with the real split's statistics (give --statistics <abs folder>/split.json for the "
              "simulated ones)")
    start = time.time()
    report = generate_dataset(args.out, split, ids, n_pushes=args.pushes, surface=surface, seed=args.seed,
                              workers=args.workers, raw=not args.no_raw, statistics=statistics)
    print(report.describe())
    written = read_split(Path(args.out) / "split.json")
    summary = {"objects": len(ids), "simulated": len(report.simulated), "pushes_per_object": args.pushes,
               "surface": surface, "workers": args.workers, "seconds": round(time.time() - start, 1),
               "statistics": {k: getattr(written, k).tolist() for k in ("X_mean", "X_std", "y_mean", "y_std")}}
    print(json.dumps(summary))
    if args.record:
        import os
        import platform
        from datetime import date

        import mujoco

        path = Path(args.record)
        record = json.loads(path.read_text()) if path.exists() else {
            "what": "simulating the Omnipush benchmark with `reprobook omnipush-sim` (book/08-omnipush)", "runs": []}
        flags = [args.out, f"--surface {surface}", f"--pushes {args.pushes}", f"--workers {args.workers}",
                 f"--seed {args.seed}"] + ([f"--objects {args.objects}"] if args.objects else []) + (
                 [f"--statistics {args.statistics}"] if args.statistics else []) + (["--no-raw"] if args.no_raw else [])
        summary.update(command=" ".join(["reprobook omnipush-sim"] + flags), date=date.today().isoformat(),
                       machine=f"{platform.machine()} CPU, {os.cpu_count()} cores, {platform.system()}",
                       mujoco=mujoco.__version__)
        record["runs"].append(summary)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"recorded in {path}")


def _terminate(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
