"""`dpe`: small helpers around the DVC pipeline. The pipeline itself runs with `dvc repro`."""

from __future__ import annotations

import argparse
import sys

from pipeline.config import ParamsError, load_params
from pipeline.overlay import apply_overlay, bundled


def _check(args: argparse.Namespace) -> int:
    try:
        params = load_params(args.params)
    except ParamsError as err:
        print(err, file=sys.stderr)
        return 2
    chain = ", ".join(f"{name} (from {r.prev})" for name, r in params.rounds.items())
    print(f"{args.params} is valid: seed {params.seed}, mixture {params.mixture.strategy} "
          f"(budget {params.mixture.budget}), rounds {chain}")
    return 0


def _overlay(args: argparse.Namespace) -> int:
    try:
        apply_overlay(args.params, args.overlay, args.out)
    except ParamsError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{args.overlay} merged onto {args.params} -> {args.out or args.params}; `git diff` shows the change")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dpe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate params.yaml without running anything")
    check.add_argument("params", nargs="?", default="params.yaml")
    check.set_defaults(func=_check)
    overlay = sub.add_parser("overlay", help="merge a partial params file onto params.yaml (validated first); "
                             f"bundled: {', '.join(bundled())}")
    overlay.add_argument("overlay", help="a file, or the name of a bundled overlay")
    overlay.add_argument("--params", default="params.yaml")
    overlay.add_argument("--out", default=None, help="where to write the result (default: --params itself)")
    overlay.set_defaults(func=_overlay)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
