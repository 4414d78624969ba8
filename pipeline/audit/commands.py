"""What `dpe audit` and `dpe report` do, step by step: run the control arm and the ablations as DVC experiments,
bring the audit stages up to date with the control's current commit, and write the matrix and the report."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pipeline.audit import ablation, control
from pipeline.run.repository import (
    ExperimentError,
    run_in_workspace,
    workspace_is_committed,
)
from pipeline.storage import artifacts, schemas

log = logging.getLogger(__name__)
DVC = [sys.executable, "-m", "dvc"]


def _fail(message: str, code: int = 2) -> int:
    print(f"dpe audit: {message}", file=sys.stderr)
    return code


def params_dict(path: str = "params.yaml") -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def run_control(params, logs: Path, force: bool) -> int:
    """Run the control arm's experiment unless this baseline (or, without --force, any) already has it."""
    name = params.audit.control
    if not force:
        try:
            commit = control.resolve(name)
            if not control.differences(control.params_at(commit, "."), params_dict(), params.audit.control_set):
                return 0
            log.info("control arm %s at %s ran other params: running it again", name, commit[:8])
        except ExperimentError:
            pass
    cmd = control.run_command(name, params.audit.control_set)
    log.info("control arm: %s (log %s)", " ".join(cmd), logs / f"{name}.log")
    code = run_in_workspace([sys.executable, "-m"] + cmd, logs / f"{name}.log")
    return 0 if code == 0 else _fail(f"the control arm failed; its log: {logs / (name + '.log')}", 1)


def refresh(rounds: list[str], name: str | None, noise_runs: int, metrics_dir: str = "metrics") -> int:
    """`dvc repro` the audit stages; force those whose recorded control commit or reseeded reruns (the
    experiments the stage reads besides its deps) are not those there are now."""
    try:
        current = control.resolve(name) if name else ""
    except ExperimentError:
        current = ""
    for round_name in rounds:
        recorded = Path(metrics_dir) / round_name / "audit.json"
        before = json.loads(recorded.read_text()) if recorded.exists() else None
        now = {"control.commit": current, "noise.commits": " ".join(ablation.reseeded_commits(round_name, noise_runs))}
        forced = ["-f", "-s"] if before is not None and any(before.get(k, "") != v for k, v in now.items()) else []
        if subprocess.run(DVC + ["repro"] + forced + [f"audit@{round_name}"]).returncode:
            return _fail(f"dvc repro audit@{round_name} failed", 1)
    return 0


def print_summary(console: Console, rounds: list[str], rounds_dir: str = "data/rounds") -> None:
    from pipeline.audit.cells import CELLS
    from pipeline.audit.summary import interval_text

    for round_name in rounds:
        cells = artifacts.read_table(Path(rounds_dir) / round_name / "audit" / "cells.parquet", CELLS).to_pylist()
        table = Table(title=f"audit of {round_name} (data/rounds/{round_name}/audit/summary.md)")
        for column in ("category", "quota", "kept", "trained", "before → after", "change", "vs control", "verdict"):
            table.add_column(column)
        for r in (r for r in cells if r["level"] == "category"):
            table.add_row(r["key"], str(r["quota"]), str(r["kept"]), str(r["trained"]),
                          f"{r['before']:.3f} → {r['after']:.3f}", interval_text(r, "change"),
                          interval_text(r, "vs_control"), r["verdict"])
        console.print(table)


def print_matrix(console: Console, matrix: dict) -> None:
    categories = sorted({k for row in matrix["cells"].values() for k in row["categories"]} - {"overall"}) + ["overall"]
    table = Table(title=f"{matrix['round']}: accuracy attributable to each cell's data (full-data mean − without it; "
                  "* its interval excludes zero and it beats retraining noise)")
    table.add_column("cell (kept)")
    for category in categories:
        table.add_column(category, justify="right")
    for cell, row in matrix["cells"].items():
        values = [row["categories"].get(c) for c in categories]
        table.add_row(f"{cell} ({row['samples']})", *("—" if v is None else f"{v['effect']:+.3f}"
                                                      + ("*" if v["significant"] else "") for v in values))
    noise = matrix["noise"]["largest_change"]
    table.add_row(f"retraining noise ({len(matrix['noise']['runs'])} runs)",
                  *("—" if c not in noise else f"±{noise[c]:.3f}" for c in categories))
    console.print(table)


def ablate(round_name: str, params, cells_wanted: list[str] | None, logs: Path, force: bool, console: Console,
           rounds_dir: str = "data/rounds") -> dict | int:
    """The round's ablation matrix, or an exit status when something failed."""
    trainset = artifacts.read_table(Path(rounds_dir) / round_name / "trainset.parquet", schemas.TRAINSET)
    cells = ablation.ablation_cells(trainset, params.audit.ablate_min_kept)
    if cells_wanted:
        unknown = sorted(set(cells_wanted) - set(cells))
        if unknown:
            return _fail(f"{round_name} trained on no sample of {unknown} (it did: {sorted(cells)})")
        cells = {c: n for c, n in cells.items() if c in cells_wanted}
    runs = {cell: (ablation.experiment_name(round_name, cell), ablation.ablation_sets(round_name, cell))
            for cell in cells}
    runs |= {f"noise {k}": (ablation.noise_name(round_name, k), [f"train.reseed={k}"])
             for k in range(1, params.audit.noise_runs + 1)}
    commits = {}
    with Progress(console=console) as progress:
        task = progress.add_task(f"ablations of {round_name}", total=len(runs))
        for key, (name, sets) in runs.items():
            try:
                commits[key] = ablation.run_experiment(name, sets, round_name, logs, force)
            except RuntimeError as err:
                return _fail(str(err), 1)
            progress.advance(task)
    full = artifacts.read_table(Path(rounds_dir) / round_name / "evaluation.parquet", schemas.RESULTS)
    return ablation.ablation_matrix(round_name, cells, {c: commits[c] for c in cells},
                                    [commits[k] for k in runs if k.startswith("noise ")], full)


def audit(params, args, console: Console) -> int:
    rounds = args.round or list(params.rounds)
    unknown = [r for r in rounds if r not in params.rounds]
    if unknown:
        return _fail(f"no round {unknown} in {args.params} (rounds: {list(params.rounds)})")
    if args.ablate and not args.round:
        return _fail("--ablate needs --round (each cell of a round costs one retraining)")
    if (args.run_control or args.ablate) and not workspace_is_committed():
        return _fail("params.yaml, dvc.yaml, dvc.lock or metrics differ from HEAD: commit them first (experiments "
                     "run in the workspace, which is restored to HEAD after each; after an interrupted run, "
                     "`git checkout HEAD -- params.yaml dvc.lock metrics && dvc checkout` restores it)")
    if args.run_control:
        if not params.audit.control:
            return _fail("audit.control is null: name the control experiment in params.yaml")
        code = run_control(params, Path(args.logs), args.force)
        if code:
            return code
    matrices = []
    for round_name in rounds if args.ablate else []:  # before refresh: each experiment restores the workspace
        matrix = ablate(round_name, params, args.cells, Path(args.logs), args.force, console)
        if isinstance(matrix, int):
            return matrix
        matrices.append(matrix)
    code = refresh(rounds, params.audit.control, params.audit.noise_runs)
    if code:
        return code
    print_summary(console, rounds)
    for matrix in matrices:
        artifacts.write_json(Path("metrics") / matrix["round"] / "ablation.json", matrix)
        print_matrix(console, matrix)
    return 0


def report(params, args) -> int:
    from pipeline.audit.report import write_report

    try:
        path = write_report(params, Path(args.out), args.arms if args.arms is not None else
                            [a for a in [params.audit.control] if a], args.gallery, Path(args.rounds_dir),
                            Path(args.metrics_dir))
    except FileNotFoundError as err:
        print(f"dpe report: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB); it opens offline in any browser")
    return 0


def review(params, args) -> int:
    """``dpe review``: write the review page of a round, or import its marks into data/reviews/<round>.json."""
    from pipeline.audit.review import ReviewError, page, pick, precision, read_marks

    if args.round not in params.rounds:
        return _fail(f"no round {args.round!r} in {args.params} (rounds: {list(params.rounds)})")
    folder = Path(args.rounds_dir) / args.round
    try:
        samples = artifacts.read_table(folder / "samples.lance", schemas.SAMPLES).to_pylist()
    except (schemas.SchemaError, FileNotFoundError, OSError) as err:
        return _fail(f"round {args.round} has no samples to review ({err}): run dvc repro first")
    if args.import_file is None:
        out = Path(args.out or f"review-{args.round}.html")
        out.write_text(page(pick(samples, args.n, params.seed), args.round))
        print(f"wrote {out}: {min(args.n, len(samples))} samples of round {args.round}; mark them in a browser, save, "
              f"then `dpe review --import review-{args.round}.json --round {args.round}`")
        return 0
    try:
        marks = read_marks(args.import_file, args.round, {s["sample_id"] for s in samples})
    except ReviewError as err:
        return _fail(str(err))
    stored = Path(args.reviews) / f"{args.round}.json"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps({"round": args.round, "marks": marks}, indent=1) + "\n")
    whole = precision(marks, {s["sample_id"]: s["cell"] for s in samples})[""]
    shown = "no label judged" if whole["precision"] is None else (
        f"label precision {whole['precision']:.3f} [{whole['low']:.3f}, {whole['high']:.3f}]")
    print(f"stored {len(marks)} marks in {stored} ({shown}; {whole['unclear']} unclear). Commit it and run "
          "dvc repro: the audits read it")
    return 0
