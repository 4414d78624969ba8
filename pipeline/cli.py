"""`dpe`: small helpers around the DVC pipeline. The pipeline itself runs with `dvc repro`."""

from __future__ import annotations

import argparse
import sys

from pipeline.config import ParamsError, load_params


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dpe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate params.yaml without running anything")
    check.add_argument("params", nargs="?", default="params.yaml")
    check.set_defaults(func=_check)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
