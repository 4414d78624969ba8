"""What every `dpe` subcommand shares: its parser (an example and the exit statuses under --help) and the
validated params file."""

from __future__ import annotations

import argparse
import sys

from pipeline.config.params import ParamsError, load_params


def params_or_none(args: argparse.Namespace):
    """The validated params file, or None after printing what is wrong with it (the caller exits 2)."""
    try:
        return load_params(args.params)
    except ParamsError as err:
        print(err, file=sys.stderr)
        return None


def subcommand(sub, name: str, func, summary: str, example: str, width: bool = False) -> argparse.ArgumentParser:
    """A subcommand with its example and exit statuses under --help, reading --params."""
    parser = sub.add_parser(name, help=summary, epilog=example, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    parser.add_argument("--params", default="params.yaml")
    if width:
        parser.add_argument("--width", type=int, default=None, help="table width (default: the terminal's)")
    return parser
