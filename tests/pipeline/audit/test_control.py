"""The control arm: the audit finds a named DVC experiment's rounds at its commit, or says why it cannot."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from pipeline.audit.control import FOUND, INCOMPLETE, MISSING, NONE, SELF, find_control, run_command
from pipeline.storage import schemas

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
SETS = {"mixture.strategy": "uniform"}


def commit(repo, params: dict, right: int, message: str) -> str:
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    for name in ("r0", "r1"):
        (repo / "data/rounds" / name).mkdir(parents=True, exist_ok=True)
        rows = [{"item_id": f"i{i}", "category": "text", "image_type": "document",
                 "correct": i < (10 if name == "r0" else right)} for i in range(40)]
        pq.write_table(pa.Table.from_pylist(rows, schemas.RESULTS), repo / "data/rounds" / name / "evaluation.parquet")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(GIT + ["commit", "-qm", message], cwd=repo, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


def test_the_control_arm_is_found_at_its_experiment_commit_or_its_absence_is_explained(tmp_path):
    repo = tmp_path
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    ours = {"mixture": {"strategy": "dro"}, "audit": {"control": "uniform"}}
    theirs = {"mixture": {"strategy": "uniform"}, "audit": {"control": "uniform"}}
    exp = commit(repo, theirs, 14, "the uniform arm")
    base = commit(repo, ours, 20, "baseline")
    subprocess.run(["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/uniform", exp], cwd=repo, check=True)
    paths = ("data/rounds/r0/evaluation.parquet", "data/rounds/r1/evaluation.parquet")

    arm = find_control("uniform", SETS, *paths, ours, repo)
    assert arm.status == FOUND and arm.commit == exp
    assert sum(arm.after.column("correct").to_pylist()) == 14 and sum(arm.before.column("correct").to_pylist()) == 10

    assert find_control(None, SETS, *paths, ours, repo).status == NONE
    missing = find_control("softmax", SETS, *paths, ours, repo)
    assert missing.status == MISSING and "dpe audit --run-control" in missing.message
    assert "dvc exp run -n softmax -S mixture.strategy=uniform" in missing.message
    assert find_control("uniform", SETS, *paths, theirs, repo).status == SELF  # run inside the arm itself
    later = find_control("uniform", SETS, paths[0], "data/rounds/r2/evaluation.parquet", ours, repo)
    assert later.status == INCOMPLETE and "r2" in later.message


def test_the_control_command_applies_its_overrides():
    assert run_command("uniform", {"mixture.strategy": "uniform", "mixture.budget": 32}) == [
        "dvc", "exp", "run", "-n", "uniform", "-S", "mixture.strategy=uniform", "-S", "mixture.budget=32"]


def test_a_control_arm_from_another_recipe_is_stale_but_yaml_quirks_are_not_differences():
    import yaml

    from pipeline.audit.control import differences
    from tests import families

    ours = yaml.safe_load((families.REPO / "params.yaml").read_text())
    theirs = yaml.safe_load((families.REPO / "params.yaml").read_text())
    theirs["mixture"]["strategy"] = "uniform"
    theirs["train"]["vllm"] = False  # how `dvc exp run -S` rewrites "off"
    theirs["audit"]["noise_runs"] = 5  # audit settings do not make another arm
    assert differences(theirs, ours, {"mixture.strategy": "uniform"}) == []
    theirs["mixture"]["budget"] = 64
    theirs["train"]["beta"] = ours["train"]["beta"] + 0.4
    assert differences(theirs, ours, {"mixture.strategy": "uniform"}) == ["mixture.budget", "train.beta"]
    assert differences({"mixture": {"budget": -1}}, ours, {}) == ["params.yaml (not valid under this code)"]
