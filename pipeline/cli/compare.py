"""`dpe compare`: DVC experiments' evaluation results side by side, per category, with paired intervals."""

from __future__ import annotations

import argparse
import sys

import yaml

from pipeline.cli.common import subcommand

RESULTS = "data/rounds/{round}/evaluation.parquet"  # the evaluate stages' graded results (dvc.yaml round_dir)
COMPARE_EXAMPLE = """example:
  dvc exp run -n uniform -S mixture.strategy=uniform
  dpe compare HEAD uniform            # the committed rounds against the uniform arm, last round
  dpe compare uniform de-dro --round r1

exit status: 0 printed; 2 an experiment, commit or round that is not there (the message says which)."""


def last_round(rev: str) -> str:
    """The last round params.yaml names in commit ``rev`` (experiments may append rounds); r0 without one."""
    from pipeline.run.repository import ExperimentError, read_text_at

    try:
        rounds = list((yaml.safe_load(read_text_at(rev, "params.yaml")) or {}).get("rounds") or {})
    except ExperimentError:
        rounds = []
    return rounds[-1] if rounds else "r0"


def _compare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipeline.run.repository import ExperimentError, exp_commit, read_parquet_at
    from pipeline.stats.compare import compare, graded

    try:
        revs = [exp_commit(name) for name in args.experiments]
        round_name = args.round or last_round(revs[0])
        runs = [graded(read_parquet_at(rev, args.results.format(round=round_name))) for rev in revs]
    except ExperimentError as err:
        print(f"dpe compare: {err}", file=sys.stderr)
        return 2
    table = Table(title=f"evaluation accuracy, round {round_name} (95% intervals; Δ paired over items against "
                  f"{args.experiments[0]})")
    table.add_column("category")
    for i, name in enumerate(args.experiments):
        table.add_column(name, justify="right")
        if i:
            table.add_column(f"Δ {name}", justify="right")
    for row in compare(runs):
        cells = [row.category]
        for i, score in enumerate(row.scores):
            cells.append("—" if score is None else
                         f"{score.accuracy:.3f} [{score.interval[0]:.3f}, {score.interval[1]:.3f}] n={score.n}")
            if i:
                diff = row.differences[i - 1]
                cells.append("—" if diff is None else
                             f"{diff.mean:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]" + (" *" if diff.excludes_zero()
                                                                                          else ""))
        table.add_row(*cells)
    console = Console(width=args.width)
    console.print(table)
    console.print("* the interval excludes zero")
    return 0


def _add_compare(sub) -> None:
    comp = subcommand(sub, "compare", _compare, "per-category results of DVC experiments side by side, with "
                      "intervals", COMPARE_EXAMPLE, width=True)
    comp.add_argument("experiments", nargs="+", help="experiment names or git revisions; the first is the reference")
    comp.add_argument("--round", help="default: the last round in the first one's params.yaml")
    comp.add_argument("--results", default=RESULTS, help="path of the graded results, {round} filled in")


COMMANDS = {"compare": _add_compare}  # name -> what adds its parser
