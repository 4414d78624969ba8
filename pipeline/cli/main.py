"""`dpe`: the spiral from the command line. `advance` appends rounds and runs `dvc repro`; `status`, `compare`
and `samples` read what the rounds wrote; `audit` runs the audit stages (and their control and noise reruns) and
`report` writes one HTML file of a run; `review` has a person check a round's labels; `check` and `overlay`
help with params.yaml. The pipeline itself is DVC's: nothing here writes a stage's outs behind its back."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.config.overlay import append_rounds, apply_overlay, bundled
from pipeline.config.params import ParamsError, load_params
from pipeline.storage import artifacts

RESULTS = "data/rounds/{round}/evaluation.parquet"  # the evaluate stages' graded results (dvc.yaml round_dir)
COMPARE_EXAMPLE = """example:
  dvc exp run -n uniform -S mixture.strategy=uniform
  dpe compare HEAD uniform            # the committed rounds against the uniform arm, last round
  dpe compare uniform de-dro --round r1

exit status: 0 printed; 2 an experiment, commit or round that is not there (the message says which)."""


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


def _params(args: argparse.Namespace):
    """The validated params file, or None after printing what is wrong with it (the caller exits 2)."""
    try:
        return load_params(args.params)
    except ParamsError as err:
        print(err, file=sys.stderr)
        return None


def _check(args: argparse.Namespace) -> int:
    if args.deps:
        return _deps(args)
    params = _params(args)
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


def last_round(rev: str) -> str:
    """The last round params.yaml names in commit ``rev`` (experiments may append rounds)."""
    shown = subprocess.run(["git", "show", f"{rev}:params.yaml"], capture_output=True, text=True)
    rounds = list((yaml.safe_load(shown.stdout) or {}).get("rounds") or {}) if not shown.returncode else []
    return rounds[-1] if rounds else "r0"


SAMPLES_EXAMPLE = """example:
  dpe samples --round r1 --cell text/document     # that cell's samples with their lineage
  dpe samples --round r2 --kept --limit 50        # what round r2 trained on
  dpe samples --round r1 --json | jq .            # every field, for scripts

exit status: 0 printed (1 when no sample matches); 2 the round's artifacts are not there (run dvc repro)."""


def _samples(args: argparse.Namespace) -> int:
    import polars as pl
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.table import Table

    from pipeline.audit.lineage import lineage
    from pipeline.storage import schemas

    folder = Path(args.rounds_dir) / args.round
    listed = Path(args.listed)
    try:
        frame = lineage(artifacts.read_table(folder / "samples.lance", schemas.SAMPLES),
                        artifacts.read_table(folder / "rollouts.parquet", schemas.ROLLOUTS),
                        artifacts.read_table(folder / "trainset.parquet", schemas.TRAINSET), args.round,
                        artifacts.read_table(folder / "attempts.lance", schemas.ATTEMPTS)
                        if (folder / "attempts.lance").exists() else None,
                        pq.read_table(listed, columns=["image_id", "source"]) if listed.exists() else None)
    except schemas.SchemaError as err:
        print(f"dpe samples: {err}", file=sys.stderr)
        return 2
    if args.cell:
        frame = frame.filter((pl.col("cell") == args.cell) | (pl.col("cell").str.split("/").list.first() == args.cell))
    if args.kept:
        frame = frame.filter(pl.col("kept"))
    shown = frame.head(args.limit)
    if args.json:
        print(shown.write_json())
        return 0 if frame.height else 1
    table = Table(title=f"{args.round}: {frame.height} sample(s)" + (f" of {args.cell}" if args.cell else "")
                  + (f", first {shown.height}" if shown.height < frame.height else ""))
    for column in ("sample", "cell", "question → answer", "source → pool image @ version", "edits", "made by",
                   "pass rate", "trained in"):
        table.add_column(column)
    for row in shown.iter_rows(named=True):
        made_by = ", ".join(sorted(set(json.loads(row["role_models"] or "{}").values()))) or row["backend"]
        table.add_row(row["sample_id"][:12], row["cell"], f"{row['question']} → {row['answer']}",
                      f"{row['source_uri'] or '?'} → {(row['source_image_id'] or '')[:12]} @ v{row['pool_version']}",
                      row["edit_ops"] or "none",
                      made_by, "—" if row["pass_rate"] is None else f"{row['pass_rate']:.2f}",
                      (row["trained_in"] or "not kept") + (" (filled)" if row["filled"] else ""))
    Console(width=args.width).print(table)
    return 0 if frame.height else 1


ADVANCE_EXAMPLE = """example:
  dpe advance               # one more round (r3: {prev: r2}), then dvc repro
  dpe advance --rounds 2 --no-repro && git diff params.yaml

exit status: 0 done; 1 dvc repro failed (the rounds stay in params.yaml: rerun `dvc repro` to resume);
2 params.yaml is not valid (nothing written)."""


def _advance(args: argparse.Namespace) -> int:
    try:
        added = append_rounds(args.params, args.rounds)
    except ParamsError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{args.params}: added {', '.join(added)}")
    if args.no_repro:
        return 0
    return 0 if subprocess.run([sys.executable, "-m", "dvc", "repro"]).returncode == 0 else 1


STATUS_EXAMPLE = """example:
  dpe status             # rounds, their headline accuracy, and what `dvc repro` would run
  dpe status || dvc repro

exit status: 0 everything up to date; 1 some stage would rerun; 2 params.yaml or DVC could not be read."""


def gate_decision(train_metrics: Path) -> str:
    """What the round gate did with a round (train.gate), read from its train metrics; empty without one."""
    from pipeline.audit.report import gate_decision as decision

    return decision(json.loads(train_metrics.read_text())) if train_metrics.exists() else ""


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipeline.stats.compare import accuracy_of

    params = _params(args)
    if params is None:
        return 2
    done = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], capture_output=True, text=True)
    if done.returncode:
        print(f"dpe status: `dvc status` failed: {done.stderr.strip()[-500:]}", file=sys.stderr)
        return 2
    stale = sorted(json.loads(done.stdout or "{}"))
    table = Table(title=f"rounds (mixture {params.mixture.strategy}, budget {params.mixture.budget})")
    for column in ("round", "from", "overall", "change", "round gate", "weakest category", "stale stages"):
        table.add_column(column)
    overall: dict[str, float] = {}
    for name, prev in [("r0", "")] + [(n, r.prev) for n, r in params.rounds.items()]:
        metrics = Path(args.metrics.format(round=name))
        accuracy = accuracy_of(json.loads(metrics.read_text())) if metrics.exists() else {}
        categories = {k: v for k, v in accuracy.items() if k != "overall"}
        weakest = min(categories, key=categories.get) if categories else None
        if "overall" in accuracy:
            overall[name] = accuracy["overall"]
        change = f"{overall[name] - overall[prev]:+.3f}" if name in overall and prev in overall else ""
        table.add_row(name, prev, f"{accuracy['overall']:.3f}" if "overall" in accuracy else "not run", change,
                      gate_decision(metrics.parent / "train.json"),
                      f"{weakest} {categories[weakest]:.3f}" if weakest else "—",
                      ", ".join(s for s in stale if s.endswith(f"@{name}")) or "")
    console = Console(width=args.width)
    console.print(table)
    console.print(f"stale: {', '.join(stale)}; `dvc repro` runs them" if stale else "everything is up to date")
    return 1 if stale else 0


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

    params = _params(args)
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

    params = _params(args)
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

    params = _params(args)
    if params is None:
        return 2
    return commands.review(params, args)


def _subcommand(sub, name: str, func, summary: str, example: str, width: bool = False) -> argparse.ArgumentParser:
    """A subcommand with its example and exit statuses under --help, reading --params."""
    parser = sub.add_parser(name, help=summary, epilog=example, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    parser.add_argument("--params", default="params.yaml")
    if width:
        parser.add_argument("--width", type=int, default=None, help="table width (default: the terminal's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dpe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate params.yaml without running anything", epilog=CHECK_EXAMPLE,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("params", nargs="?", default="params.yaml")
    check.add_argument("--deep", action="store_true", help="also check the models params name (model.base, clip)")
    check.add_argument("--deps", action="store_true", help="print which stages each module reruns")
    check.add_argument("--repo", default=".", help="--deps: the repository whose dvc.yaml to read")
    check.add_argument("--width", type=int, default=None, help="table width (default: the terminal's)")
    check.set_defaults(func=_check)
    overlay = sub.add_parser("overlay", help="merge a partial params file onto params.yaml (validated first); "
                             f"bundled: {', '.join(bundled())}", epilog=OVERLAY_EXAMPLE,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    overlay.add_argument("overlay", help="a file, or the name of a bundled overlay")
    overlay.add_argument("--params", default="params.yaml")
    overlay.add_argument("--out", default=None, help="where to write the result (default: --params itself)")
    overlay.set_defaults(func=_overlay)
    advance = _subcommand(sub, "advance", _advance, "append rounds to params.yaml and run dvc repro", ADVANCE_EXAMPLE)
    advance.add_argument("--rounds", type=int, default=1, help="how many rounds to add (default 1)")
    advance.add_argument("--no-repro", action="store_true", help="only write params.yaml")
    samples = _subcommand(sub, "samples", _samples, "a round's generated samples with their lineage", SAMPLES_EXAMPLE,
                          width=True)
    samples.add_argument("--round", required=True)
    samples.add_argument("--cell", help="a cell (category/image_type) or a whole category")
    samples.add_argument("--kept", action="store_true", help="only the samples the round trained on")
    samples.add_argument("--limit", type=int, default=20)
    samples.add_argument("--json", action="store_true", help="every lineage field, as JSON")
    samples.add_argument("--rounds-dir", default="data/rounds")
    samples.add_argument("--listed", default="data/manifests/listed.parquet", help="the ingest's listed ids "
                         "(their source URIs)")
    review = _subcommand(sub, "review", _review, "check a round's labels by hand: a page to mark, then import the "
                         "marks", REVIEW_EXAMPLE)
    review.add_argument("--round", required=True)
    review.add_argument("--n", type=int, default=50, help="samples on the page (stratified by cell)")
    review.add_argument("--out", help="the page (default review-<round>.html)")
    review.add_argument("--import", dest="import_file", metavar="FILE", help="store the marks a page saved")
    review.add_argument("--rounds-dir", default="data/rounds")
    review.add_argument("--reviews", default="data/reviews", help="where imported marks are kept (in git)")
    status = _subcommand(sub, "status", _status, "rounds, headline metrics and stale stages", STATUS_EXAMPLE,
                         width=True)
    status.add_argument("--metrics", default="metrics/{round}/evaluate.json", help="{round} filled in")
    comp = _subcommand(sub, "compare", _compare, "per-category results of DVC experiments side by side, with "
                       "intervals", COMPARE_EXAMPLE, width=True)
    comp.add_argument("experiments", nargs="+", help="experiment names or git revisions; the first is the reference")
    comp.add_argument("--round", help="default: the last round in the first one's params.yaml")
    comp.add_argument("--results", default=RESULTS, help="path of the graded results, {round} filled in")
    audit = _subcommand(sub, "audit", _audit, "which data fixed which weakness: audit stages, control arm, "
                        "ablations", AUDIT_EXAMPLE, width=True)
    audit.add_argument("--round", action="append", help="a round (repeatable; default every round)")
    audit.add_argument("--run-control", action="store_true", help="run the control arm's experiment if missing")
    audit.add_argument("--ablate", action="store_true", help="run the ablation experiments of --round")
    audit.add_argument("--cells", nargs="+", help="only these cells' ablations (default: every cell trained on)")
    audit.add_argument("--force", action="store_true", help="rerun experiments that already exist")
    audit.add_argument("--logs", default="data/audit/logs", help="where the experiments' logs go")
    report = _subcommand(sub, "report", _report, "one static HTML file of the run: accuracy, mixture, samples, "
                         "ablation", REPORT_EXAMPLE)
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.add_argument("--arms", nargs="*", default=None, help="experiments drawn beside the run "
                        "(default: audit.control)")
    report.add_argument("--gallery", type=int, default=24, help="generated samples shown per round")
    report.add_argument("--rounds-dir", default="data/rounds")
    report.add_argument("--metrics-dir", default="metrics")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
