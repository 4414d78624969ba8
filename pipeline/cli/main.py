"""`dpe`: the spiral from the command line. `advance` appends rounds and runs `dvc repro`; `status`, `compare`
and `samples` read what the rounds wrote; `audit` runs the audit stages (and their control and noise reruns) and
`report` writes one HTML file of a run; `review` has a person check a round's labels; `check` and `overlay`
help with params.yaml. The pipeline itself is DVC's: nothing here writes a stage's outs behind its back."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli import auditing, compare, config, rounds

ORDER = ("check", "overlay", "advance", "samples", "review", "status", "compare", "audit", "report")  # as --help lists


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dpe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands = config.COMMANDS | rounds.COMMANDS | compare.COMMANDS | auditing.COMMANDS
    for name in ORDER:
        commands[name](sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
