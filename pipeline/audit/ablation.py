"""Causal attribution by ablation: one DVC experiment per cell a round trained on, retraining that round
without the cell's samples (train.ablate; everything else identical), and the cell × category matrix of
accuracy changes attributable to each cell's data (the full-data runs' mean minus the ablated round, paired
over the evaluation items).

Retraining alone moves accuracy too (other batches, other rollouts), so `audit.noise_runs` more experiments
retrain the full round with other GRPO seeds (train.reseed). The reference is the mean of the full-data runs
(the round and those), not the one round, whose own luck would otherwise shift every row alike; an effect counts
(``significant``) only when its interval over the items excludes zero and it is larger than any full-data run
strayed from that mean.

The experiments run one after another in the workspace (`dvc exp run -n ablate-<round>-<cell> -S
train.ablate=... train@<round> evaluate@<round>`), which is restored after each; an experiment that already
exists and started from the same inputs (dvc.lock's deps and params of the round's train and evaluate stages)
is read, not rerun, so an interrupted `dpe audit --ablate` resumes, and so does one after an unrelated commit.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pyarrow as pa

from pipeline.run.repository import (
    ExperimentError,
    exp_commit,
    exp_commits,
    head,
    read_parquet_at,
    read_text_at,
    run_in_workspace,
)
from pipeline.stats.compare import OVERALL, graded
from pipeline.stats.evidence import interval

log = logging.getLogger(__name__)
RESULTS = "data/rounds/{round}/evaluation.parquet"


def experiment_name(round_name: str, cell: str) -> str:
    """The experiment that retrains ``round_name`` without ``cell``.

    >>> experiment_name("r1", "text/document")
    'ablate-r1-text-document'
    """
    return f"ablate-{round_name}-{cell.replace('/', '-')}"


def ablation_cells(trainset: pa.Table, min_kept: int) -> dict[str, int]:
    """cell -> kept samples, for the cells with at least ``min_kept`` of them (the targeted data to ablate)."""
    counts: dict[str, int] = {}
    for cell in trainset.column("cell").to_pylist():
        counts[cell] = counts.get(cell, 0) + 1
    return {c: n for c, n in sorted(counts.items()) if n >= min_kept}


def ablation_sets(round_name: str, cell: str) -> list[str]:
    return [f"++train.ablate={{{round_name}: ['{cell}']}}"]


def noise_name(round_name: str, k: int) -> str:
    return f"reseed-{round_name}-{k}"


def run_command(name: str, sets: list[str], round_name: str) -> list[str]:
    return [sys.executable, "-m", "dvc", "exp", "run", "-n", name, *(a for s in sets for a in ("-S", s)),
            f"train@{round_name}", f"evaluate@{round_name}"]


IGNORED = ("ablate", "reseed")  # the train params an ablation or noise run sets: not inputs it must share


def stage_inputs(lock: dict, round_name: str) -> dict:
    """What an ablation's train and evaluate stages start from, per dvc.lock: their deps' hashes (the round's
    trainset, the previous model, the code) and params, less what the experiment itself sets."""
    out = {}
    for stage in (f"train@{round_name}", f"evaluate@{round_name}"):
        entry = lock.get("stages", {}).get(stage, {})
        params = dict(entry.get("params", {}).get("params.yaml", {}))
        if isinstance(params.get("train"), dict):
            params["train"] = {k: v for k, v in params["train"].items() if k not in IGNORED}
        out[stage] = {"deps": {d["path"]: d.get("md5") for d in entry.get("deps", [])
                               if d["path"] != f"data/rounds/{round_name}/model"}, "params": params}
    return out


def reusable(name: str, round_name: str, repo: str | Path = ".") -> str | None:
    """An experiment ``name`` (any baseline) whose round started from exactly the inputs the workspace's does."""
    import yaml

    here = stage_inputs(yaml.safe_load((Path(repo) / "dvc.lock").read_text()), round_name)
    for commit in exp_commits(name, repo):
        try:
            theirs = stage_inputs(yaml.safe_load(read_text_at(commit, "dvc.lock", repo)), round_name)
        except ExperimentError:
            continue
        if theirs == here:
            return commit
    return None


def reseeded_commits(round_name: str, runs: int, repo: str | Path = ".") -> list[str]:
    """The commits of the round's reseeded reruns (``noise_name``, 1..``runs``) that retrained exactly this
    round (those not run yet are left out): the retraining noise an audit verdict `fixed` must beat."""
    found = (reusable(noise_name(round_name, k), round_name, repo) for k in range(1, runs + 1))
    return [commit for commit in found if commit]


def reseeded(round_name: str, runs: int, repo: str | Path = ".") -> dict[str, pa.Table]:
    """commit -> graded evaluation of each of ``reseeded_commits``."""
    return {c: read_parquet_at(c, RESULTS.format(round=round_name), repo)
            for c in reseeded_commits(round_name, runs, repo)}


def run_experiment(name: str, sets: list[str], round_name: str, log_dir: Path, force: bool = False,
                   repo: str | Path = ".") -> str:
    """The commit of experiment ``name`` (the round retrained with ``sets``): one that started from the same
    inputs (resuming an interrupted audit, or after a commit that changed nothing the round reads), or a new run."""
    found = None if force else reusable(name, round_name, repo)
    if found:
        return found
    code = run_in_workspace(run_command(name, sets, round_name), log_dir / f"{name}.log", repo)
    if code:
        raise RuntimeError(f"{name} failed (exit {code}); its log: {log_dir / (name + '.log')}")
    return exp_commit(name, head(repo), repo=repo)


def mean_run(runs: list[dict]) -> dict[str, tuple[str, float]]:
    """item -> (category, share of ``runs`` that got it right), over the items every run graded.

    >>> mean_run([{"a": ("x", True)}, {"a": ("x", False)}])
    {'a': ('x', 0.5)}
    """
    common = set(runs[0]).intersection(*runs[1:])
    return {i: (runs[0][i][0], sum(r[i][1] for r in runs) / len(runs)) for i in sorted(common)}


def attribution(reference: dict, ablated: dict, noise: dict[str, float] | None = None) -> dict[str, dict]:
    """category (and overall) -> the full-data runs' mean accuracy minus the ablated round's, paired over items:
    what the left-out cell's data did to each category (positive: it helped). ``significant``: the items'
    interval excludes zero and the effect is larger than any full-data run strayed from that mean (``noise``)."""
    out = {}
    for category in sorted({c for c, _ in reference.values()}) + ["overall"]:
        common = [i for i in reference if i in ablated and category in (OVERALL, reference[i][0])]
        if len(common) < 2:
            continue
        diff = interval([reference[i][1] - ablated[i][1] for i in common])
        beyond = abs(diff.mean) > (noise or {}).get(category, 0.0)
        out[category] = {"effect": diff.mean, "low": diff.low, "high": diff.high, "items": diff.n,
                         "excludes_zero": diff.excludes_zero(), "significant": diff.excludes_zero() and beyond}
    return out


def retraining_noise(runs: list[dict]) -> dict[str, float]:
    """category -> the largest distance of one full-data run's accuracy from the runs' mean: how far one
    retraining strays by its seed alone (0 with a single run: no noise measured).

    >>> runs = [{"a": ("x", True), "b": ("x", False)}, {"a": ("x", True), "b": ("x", True)}]
    >>> retraining_noise(runs)
    {'x': 0.25, 'overall': 0.25}
    """
    reference = mean_run(runs)
    out: dict[str, float] = {}
    for run in runs if len(runs) > 1 else []:
        for category, row in attribution(reference, run).items():
            out[category] = round(max(out.get(category, 0.0), abs(row["effect"])), 6)
    return out


def ablation_matrix(round_name: str, cells: dict[str, int], commits: dict[str, str], noise_commits: list[str],
                    full: pa.Table, repo: str | Path = ".") -> dict:
    """The artifact `dpe audit --ablate` writes (metrics/<round>/ablation.json)."""
    results = RESULTS.format(round=round_name)
    runs = [graded(full)] + [graded(read_parquet_at(c, results, repo)) for c in noise_commits]
    reference, noise = mean_run(runs), retraining_noise(runs)
    rows = {}
    for cell, commit in commits.items():
        ablated = graded(read_parquet_at(commit, results, repo))
        rows[cell] = {"experiment": experiment_name(round_name, cell), "commit": commit, "samples": cells[cell],
                      "categories": attribution(reference, ablated, noise)}
    return {"round": round_name, "baseline": head(repo), "cells": rows,
            "noise": {"runs": noise_commits, "largest_change": noise}}
