"""Causal attribution by ablation: one DVC experiment per cell a round trained on, retraining that round
without the cell's samples (train.ablate; everything else identical), and the cell × category matrix of
accuracy changes attributable to each cell's data (full round minus ablated round, paired over the
evaluation items).

The experiments run one after another in the workspace (`dvc exp run -n ablate-<round>-<cell> -S
train.ablate=... train@<round> evaluate@<round>`), which is restored after each; an experiment that already
exists for this baseline is read, not rerun, so an interrupted `dpe audit --ablate` resumes.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from pipeline.compare import graded, paired_difference
from pipeline.experiments import ExperimentError, exp_commit, read_parquet_at, restore_workspace

log = logging.getLogger(__name__)
RESULTS = "data/rounds/{round}/evaluation.parquet"


def experiment_name(round_name: str, cell: str) -> str:
    """>>> experiment_name("r1", "text/document")
    'ablate-r1-text-document'
    """
    return f"ablate-{round_name}-{cell.replace('/', '-')}"


def ablation_cells(trainset: pa.Table, min_kept: int) -> dict[str, int]:
    """cell -> kept samples, for the cells with at least ``min_kept`` of them (the targeted data to ablate)."""
    counts: dict[str, int] = {}
    for cell in trainset.column("cell").to_pylist():
        counts[cell] = counts.get(cell, 0) + 1
    return {c: n for c, n in sorted(counts.items()) if n >= min_kept}


def run_command(round_name: str, cell: str) -> list[str]:
    return [sys.executable, "-m", "dvc", "exp", "run", "-n", experiment_name(round_name, cell),
            "-S", f"++train.ablate={{{round_name}: ['{cell}']}}", f"train@{round_name}", f"evaluate@{round_name}"]


def head(repo: str | Path = ".") -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def run_ablation(round_name: str, cell: str, log_dir: Path, force: bool = False, repo: str | Path = ".") -> str:
    """The commit of the round retrained without ``cell``: an existing experiment of this baseline, or a new run."""
    name = experiment_name(round_name, cell)
    if not force:
        try:
            return exp_commit(name, head(repo), repo=repo)
        except ExperimentError:
            pass
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.log").open("w") as out:
        done = subprocess.run(run_command(round_name, cell), cwd=repo, stdout=out, stderr=subprocess.STDOUT)
    restore_workspace(repo)
    if done.returncode:
        raise RuntimeError(f"{name} failed (exit {done.returncode}); its log: {log_dir / (name + '.log')}")
    return exp_commit(name, head(repo), repo=repo)


def attribution(full: dict, ablated: dict) -> dict[str, dict]:
    """category (and overall) -> the full round's accuracy minus the ablated round's, paired over items: what
    the left-out cell's data did to each category (positive: it helped)."""
    out = {}
    for category in sorted({c for c, _ in full.values()}) + ["overall"]:
        diff = paired_difference(full, ablated, category)
        if diff is not None:
            out[category] = {"effect": diff.mean, "low": diff.low, "high": diff.high, "items": diff.n,
                             "excludes_zero": diff.excludes_zero()}
    return out


def ablation_matrix(round_name: str, cells: dict[str, int], commits: dict[str, str], full: pa.Table,
                    repo: str | Path = ".") -> dict:
    """The artifact `dpe audit --ablate` writes (metrics/<round>/ablation.json)."""
    reference = graded(full)
    rows = {}
    for cell, commit in commits.items():
        ablated = graded(read_parquet_at(commit, RESULTS.format(round=round_name), repo))
        rows[cell] = {"experiment": experiment_name(round_name, cell), "commit": commit, "samples": cells[cell],
                      "categories": attribution(reference, ablated)}
    return {"round": round_name, "baseline": head(repo), "cells": rows}
