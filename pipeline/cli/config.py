"""`dpe check` (validate params.yaml; --deps: what a change to each module reruns) and `dpe overlay` (merge a
partial params file onto it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli.common import params_or_none
from pipeline.config.overlay import apply_overlay, bundled
from pipeline.config.params import ParamsError

CHECK_EXAMPLE = """example:
  dpe check                      # params.yaml: every section, without reading any model
  dpe check --deep               # also model.base and clip.* (reads their configs; a hub id may download them)
  dpe check --deps               # which stages a change to each module of the project reruns
  dpe check my_params.yaml && dvc repro

exit status: 0 valid; 2 invalid (the message names each bad key, its value and what is allowed)."""
OVERLAY_EXAMPLE = """example:
  dpe overlay own_pool                          # a bundled overlay onto params.yaml
  dpe overlay my_gpu.yaml --out params.gpu.yaml # your own, written elsewhere

exit status: 0 merged; 2 the overlay or the result is invalid (nothing written)."""


def _check(args: argparse.Namespace) -> int:
    if args.deps:
        return _deps(args)
    params = params_or_none(args)
    if params is None:
        return 2
    if args.deep:
        from pipeline.models.bases import BaseModelError, deep_check

        try:
            deep_check(params)
        except BaseModelError as err:
            print(f"invalid {args.params}:\n  {err}", file=sys.stderr)
            return 2
    chain = ", ".join(f"{name} (from {r.prev})" for name, r in params.rounds.items())
    print(f"{args.params} is valid: seed {params.seed}, mixture {params.mixture.strategy} "
          f"(budget {params.mixture.budget}), rounds {chain}")
    return 0


def _deps(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipeline.run.deps import reruns

    table = Table(title="what a change reruns (dvc.yaml deps; foreach stages as name@*)")
    table.add_column("module")
    table.add_column("stages")
    for module, names in reruns(Path(args.repo)).items():
        table.add_row(module, ", ".join(names) or "none (not a stage's code: dpe, tests, benchmarks)")
    Console(width=args.width).print(table)
    return 0


def _overlay(args: argparse.Namespace) -> int:
    try:
        apply_overlay(args.params, args.overlay, args.out)
    except ParamsError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{args.overlay} merged onto {args.params} -> {args.out or args.params}; `git diff` shows the change")
    return 0


def _add_check(sub) -> None:
    check = sub.add_parser("check", help="validate params.yaml without running anything", epilog=CHECK_EXAMPLE,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("params", nargs="?", default="params.yaml")
    check.add_argument("--deep", action="store_true", help="also check the models params name (model.base, clip)")
    check.add_argument("--deps", action="store_true", help="print which stages each module reruns")
    check.add_argument("--repo", default=".", help="--deps: the repository whose dvc.yaml to read")
    check.add_argument("--width", type=int, default=None, help="table width (default: the terminal's)")
    check.set_defaults(func=_check)


def _add_overlay(sub) -> None:
    overlay = sub.add_parser("overlay", help="merge a partial params file onto params.yaml (validated first); "
                             f"bundled: {', '.join(bundled())}", epilog=OVERLAY_EXAMPLE,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    overlay.add_argument("overlay", help="a file, or the name of a bundled overlay")
    overlay.add_argument("--params", default="params.yaml")
    overlay.add_argument("--out", default=None, help="where to write the result (default: --params itself)")
    overlay.set_defaults(func=_overlay)


COMMANDS = {"check": _add_check, "overlay": _add_overlay}  # name -> what adds its parser
