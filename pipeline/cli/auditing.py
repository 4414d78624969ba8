"""`dpe audit` (the audit stages, the control arm, the ablations), `dpe report` (one HTML file of a run) and
`dpe review` (a person checks a round's labels)."""

from __future__ import annotations

import argparse

from pipeline.cli.common import params_or_none, subcommand

AUDIT_EXAMPLE = """example:
  dpe audit                          # every round's audit stage, against the control arm params name
  dpe audit --run-control            # first run the control arm (audit.control: dvc exp run -n uniform ...)
  dpe audit --ablate --round r1      # one experiment per cell r1 trained on, retrained without it
  dpe audit --ablate --round r1 --cells text/document grid/table

Experiments run in the workspace, which is restored to HEAD after each: commit params.yaml, dvc.lock and
metrics first. Writes data/rounds/<round>/audit/ (cells.parquet, lineage.parquet, summary.md),
metrics/<round>/audit.json and, with --ablate, metrics/<round>/ablation.json.

exit status: 0 done; 1 dvc repro or an experiment failed (its log is named); 2 bad input (invalid params, an
unknown round, no control arm named, uncommitted workspace)."""


def _audit(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.audit import commands

    params = params_or_none(args)
    if params is None:
        return 2
    return commands.audit(params, args, Console(width=args.width))


REPORT_EXAMPLE = """example:
  dpe report --out report.html                   # the run in the workspace, against audit.control
  dpe report --out report.html --arms uniform softmax   # more arms in the accuracy plots

One self-contained HTML file (plots inline as SVG, images as data URIs): it opens offline.

exit status: 0 written; 2 bad input (invalid params, no evaluated round)."""


def _report(args: argparse.Namespace) -> int:
    from pipeline.audit import commands

    params = params_or_none(args)
    if params is None:
        return 2
    return commands.report(params, args)


REVIEW_EXAMPLE = """example:
  dpe review --round r1 --n 50                    # review-r1.html: 50 samples, stratified by cell
  dpe review --import review-r1.json --round r1   # the saved marks -> data/reviews/r1.json (commit it)

The page needs no server: mark each label correct, wrong or unclear, press "Save marks" (a JSON download, also
shown to copy). Imported marks are kept in git; the audit stage reads them and reports label precision per
cell with Wilson intervals, as does dpe report.

exit status: 0 written or imported; 2 bad input (an unknown round, a round without samples, a marks file of
another round or with unknown samples or marks)."""


def _review(args: argparse.Namespace) -> int:
    from pipeline.audit import commands

    params = params_or_none(args)
    if params is None:
        return 2
    return commands.review(params, args)


def _add_review(sub) -> None:
    review = subcommand(sub, "review", _review, "check a round's labels by hand: a page to mark, then import the "
                        "marks", REVIEW_EXAMPLE)
    review.add_argument("--round", required=True)
    review.add_argument("--n", type=int, default=50, help="samples on the page (stratified by cell)")
    review.add_argument("--out", help="the page (default review-<round>.html)")
    review.add_argument("--import", dest="import_file", metavar="FILE", help="store the marks a page saved")
    review.add_argument("--rounds-dir", default="data/rounds")
    review.add_argument("--reviews", default="data/reviews", help="where imported marks are kept (in git)")


def _add_audit(sub) -> None:
    audit = subcommand(sub, "audit", _audit, "which data fixed which weakness: audit stages, control arm, "
                       "ablations", AUDIT_EXAMPLE, width=True)
    audit.add_argument("--round", action="append", help="a round (repeatable; default every round)")
    audit.add_argument("--run-control", action="store_true", help="run the control arm's experiment if missing")
    audit.add_argument("--ablate", action="store_true", help="run the ablation experiments of --round")
    audit.add_argument("--cells", nargs="+", help="only these cells' ablations (default: every cell trained on)")
    audit.add_argument("--force", action="store_true", help="rerun experiments that already exist")
    audit.add_argument("--logs", default="data/audit/logs", help="where the experiments' logs go")


def _add_report(sub) -> None:
    report = subcommand(sub, "report", _report, "one static HTML file of the run: accuracy, mixture, samples, "
                        "ablation", REPORT_EXAMPLE)
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.add_argument("--arms", nargs="*", default=None, help="experiments drawn beside the run "
                        "(default: audit.control)")
    report.add_argument("--gallery", type=int, default=24, help="generated samples shown per round")
    report.add_argument("--rounds-dir", default="data/rounds")
    report.add_argument("--metrics-dir", default="metrics")


COMMANDS = {"review": _add_review, "audit": _add_audit, "report": _add_report}  # name -> what adds its parser
