"""`dpe advance` (append rounds, then `dvc repro`), `dpe status` (rounds, headline accuracy, the gate's decision,
stale stages) and `dpe samples` (a round's samples with their lineage)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from pipeline.cli.common import params_or_none, subcommand
from pipeline.config.overlay import append_rounds
from pipeline.config.params import ParamsError
from pipeline.storage import artifacts

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
    from pipeline.training.gate import decision

    return decision(json.loads(train_metrics.read_text())) if train_metrics.exists() else ""


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipeline.stats.compare import accuracy_of

    params = params_or_none(args)
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


def _add_advance(sub) -> None:
    advance = subcommand(sub, "advance", _advance, "append rounds to params.yaml and run dvc repro", ADVANCE_EXAMPLE)
    advance.add_argument("--rounds", type=int, default=1, help="how many rounds to add (default 1)")
    advance.add_argument("--no-repro", action="store_true", help="only write params.yaml")


def _add_samples(sub) -> None:
    samples = subcommand(sub, "samples", _samples, "a round's generated samples with their lineage", SAMPLES_EXAMPLE,
                          width=True)
    samples.add_argument("--round", required=True)
    samples.add_argument("--cell", help="a cell (category/image_type) or a whole category")
    samples.add_argument("--kept", action="store_true", help="only the samples the round trained on")
    samples.add_argument("--limit", type=int, default=20)
    samples.add_argument("--json", action="store_true", help="every lineage field, as JSON")
    samples.add_argument("--rounds-dir", default="data/rounds")
    samples.add_argument("--listed", default="data/manifests/listed.parquet", help="the ingest's listed ids "
                         "(their source URIs)")


def _add_status(sub) -> None:
    status = subcommand(sub, "status", _status, "rounds, headline metrics and stale stages", STATUS_EXAMPLE,
                         width=True)
    status.add_argument("--metrics", default="metrics/{round}/evaluate.json", help="{round} filled in")


COMMANDS = {"advance": _add_advance, "samples": _add_samples, "status": _add_status}  # name -> what adds its parser
