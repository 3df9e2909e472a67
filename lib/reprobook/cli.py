"""The ``reprobook`` command: run notebooks at a scale, regenerate twins, list what exists."""
from __future__ import annotations

import argparse
import sys

from .run import notebooks as nbs
from .run.runner import golden, parse_param, run
from .run.scales import SCALES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reprobook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute CHAPTER[/NOTEBOOK] and write results records")
    p_run.add_argument("target", help="e.g. 03-hypersphere or 03-hypersphere/04-direct-optimisation")
    p_run.add_argument("--scale", default="smoke", help=f"one of {', '.join(SCALES)} (default smoke)")
    p_run.add_argument("--seed", type=int, default=0)
    p_run.add_argument("--device", default=None, help="passed to notebooks that take a device parameter")
    p_run.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                       help="override a notebook parameter (repeatable)")
    p_run.add_argument("--no-record", action="store_true", help="do not write a results record")
    p_golden = sub.add_parser("golden", help="regenerate the executed smoke twins")
    p_golden.add_argument("target", nargs="?", default=None)
    sub.add_parser("list", help="list chapters, notebooks and their parameters")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            if args.scale not in SCALES:
                raise ValueError(f"unknown scale {args.scale!r}; valid scales: {', '.join(SCALES)}")
            params = dict(parse_param(p) for p in args.param)
            run(args.target, args.scale, args.seed, args.device, params, record=not args.no_record)
        elif args.command == "golden":
            golden(args.target)
        else:
            for ref in nbs.notebooks():
                print(f"{ref.key:50s} {nbs.parameters(ref)}")
    except (ValueError, FileNotFoundError) as e:
        print(f"reprobook: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if type(e).__name__ != "PapermillExecutionError":
            raise
        print(f"reprobook: a notebook failed: {e.ename}: {e.evalue}\n(the executed notebook up to the "
              f"failing cell is under runs/; no results record was written)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
