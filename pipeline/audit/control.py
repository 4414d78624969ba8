"""The control arm of an audit: the rounds of the DVC experiment `audit.control` names (by default the
`uniform` mixture: untargeted data of the same size), read from the DVC cache at the experiment's commit.

An audit without its control still says what changed; it cannot say the targeting did it (no verdict
`fixed`), and its status says how to get one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import yaml

from pipeline.run.repository import (
    ExperimentError,
    exp_commit,
    exp_commits,
    head,
    newest,
    read_parquet_at,
    read_text_at,
)
from pipeline.run.runtime import flatten

FOUND, NONE, MISSING, SELF, INCOMPLETE, STALE = "found", "none", "missing", "self", "incomplete", "stale"


@dataclass(frozen=True)
class ControlArm:
    name: str | None
    status: str  # found | none (audit.control is null) | missing | self (this run is the arm) | incomplete
    message: str
    commit: str | None = None
    before: pa.Table | None = None
    after: pa.Table | None = None


def run_command(name: str, overrides: dict) -> list[str]:
    """The `dvc exp run` that makes the control arm."""
    return ["dvc", "exp", "run", "-n", name] + [a for k, v in overrides.items() for a in ("-S", f"{k}={v}")]


def params_at(commit: str, repo: str | Path) -> dict:
    try:
        return yaml.safe_load(read_text_at(commit, "params.yaml", repo)) or {}
    except ExperimentError:
        return {}


def resolve(name: str | None, repo: str | Path = ".") -> str:
    """The control's commit: the experiment of the current baseline (HEAD), else the newest of that name on
    older baselines (a control that ran other params is then reported stale, see ``differences``)."""
    try:
        return exp_commit(name, head(repo), repo=repo)
    except ExperimentError:
        commits = exp_commits(name, repo)
        if len(commits) < 2:
            return exp_commit(name, repo=repo)
        return newest(commits, repo)


def differences(theirs: dict, params: dict, overrides: dict) -> list[str]:
    """The params keys (dotted) where the control arm ran otherwise than this run with the arm's overrides
    applied: a control from an older recipe is no control (audit settings aside).

    >>> differences({"mixture": {"strategy": "uniform", "budget": 64}}, {"mixture": {"strategy": "dro"}},
    ...             {"mixture.strategy": "uniform"})
    ['mixture.budget']
    """
    from pipeline.config.params import ParamsError, parse_params, with_overrides

    try:
        theirs = parse_params(theirs).model_dump(mode="json")
    except ParamsError:
        return ["params.yaml (not valid under this code)"]
    ours = flatten(parse_params(with_overrides(params, overrides)).model_dump(mode="json"))
    mine = {k: v for k, v in ours.items() if not k.startswith("audit.")}
    other = {k: v for k, v in flatten(theirs).items() if not k.startswith("audit.")}
    return sorted(k for k in set(mine) | set(other) if mine.get(k) != other.get(k))


def find_control(name: str | None, overrides: dict, before: str, after: str, params: dict,
                 repo: str | Path = ".") -> ControlArm:
    """The arm's graded results at ``before`` and ``after`` (repository paths), or why there are none.
    ``params`` is this run's params.yaml as loaded: an experiment with the same params is this run itself."""
    if not name:
        return ControlArm(None, NONE, "no control arm (audit.control is null)")
    hint = f"run `dpe audit --run-control` ({' '.join(run_command(name, overrides))})"
    try:
        commit = resolve(name, repo)
    except ExperimentError as err:
        return ControlArm(name, MISSING, f"no control arm: {err}; {hint}")
    theirs = {k: v for k, v in params_at(commit, repo).items() if k != "audit"}
    if theirs == {k: v for k, v in params.items() if k != "audit"}:
        return ControlArm(name, SELF, f"this run is the control arm {name!r} itself", commit)
    stale = differences(theirs, params, overrides)
    if stale:
        return ControlArm(name, STALE, f"control arm {name!r} at {commit[:8]} ran other params ({', '.join(stale[:6])}"
                          f"{', ...' if len(stale) > 6 else ''}); {hint}", commit)
    try:
        tables = [read_parquet_at(commit, path, repo) for path in (before, after)]
    except ExperimentError as err:
        return ControlArm(name, INCOMPLETE, f"control arm {name!r} lacks this round: {err}; {hint}", commit)
    return ControlArm(name, FOUND, f"control arm {name!r} at {commit[:8]}", commit, *tables)
