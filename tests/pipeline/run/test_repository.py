"""Experiments as data: a named experiment's commit, and `dpe compare` and `dpe status` on a real git + DVC
repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main as cli
from pipeline.run.repository import ExperimentError, commit_of, exp_commit, exp_commits, head, read_parquet_at

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def test_exp_commit_finds_the_experiment_of_its_baseline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(GIT + ["init", "-q"], check=True)
    assert head() == "" and commit_of("HEAD") is None  # no commit yet: nothing to name, no error
    for message in ("base", "exp"):
        subprocess.run(GIT + ["commit", "-q", "--allow-empty", "-m", message], check=True)
    exp = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    base = subprocess.run(["git", "rev-parse", "HEAD~1"], capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/de-run", exp], check=True)
    assert exp_commit("de-run", base[:7]) == exp == exp_commit("de-run")
    assert exp_commit("HEAD~1") == base  # a plain revision
    with pytest.raises(ExperimentError, match="de-other"):
        exp_commit("de-other", base[:7])
    assert head() == exp and head(short=True) == exp[:len(head(short=True))] and exp_commits("de-run") == [exp]
    assert commit_of("no-such-rev") is None


GRADE = """
import json, os, sys, yaml, pyarrow as pa, pyarrow.parquet as pq
name = sys.argv[1]
os.makedirs(f"data/rounds/{name}", exist_ok=True)
os.makedirs(f"metrics/{name}", exist_ok=True)
right = 10 + yaml.safe_load(open("params.yaml"))["seed"]
ids = [f"{c}-{i}" for c in ("size", "text") for i in range(20)]
correct = [int(i.split("-")[1]) < right and not (i.startswith("text") and right < 12) for i in ids]
pq.write_table(pa.table({"item_id": ids, "category": [i.split("-")[0] for i in ids], "correct": correct}),
               f"data/rounds/{name}/evaluation.parquet")
json.dump({"accuracy.overall": sum(correct) / 40, "accuracy.size": sum(correct[:20]) / 20,
           "accuracy.text": sum(correct[20:]) / 20}, open(f"metrics/{name}/evaluate.json", "w"))
"""


def graded_repo(repo: Path) -> tuple[Path, dict]:
    """A git + DVC repository with the project's params.yaml (rounds r1) whose one stage grades 40 items,
    10 + seed of every 20 right (text none below 12); committed at seed 0, with an experiment `more` at seed 4."""
    env = os.environ | {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"}
    raw = yaml.safe_load((Path(__file__).resolve().parents[3] / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump(raw | {"seed": 0, "rounds": {"r1": {"prev": "r0"}}}))
    (repo / "grade.py").write_text(GRADE)
    stage = {"cmd": f"{sys.executable} grade.py ${{key}}", "deps": ["grade.py"], "params": ["seed"],
             "outs": ["data/rounds/${key}/evaluation.parquet"],
             "metrics": [{"metrics/${key}/evaluate.json": {"cache": False}}]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": {"foreach": "${rounds}", "do": stage}}}))
    dvc = [sys.executable, "-m", "dvc"]
    for cmd in (["git", "init", "-q"], dvc + ["init", "-q"], dvc + ["repro", "-q"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "base"], dvc + ["exp", "run", "-q", "-n", "more", "-S", "seed=4"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env, capture_output=True)
    return repo, env


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, dict]:
    return graded_repo(tmp_path_factory.mktemp("compare"))


def test_read_parquet_at_reads_an_experiments_out_from_the_cache(repo):
    path, _ = repo
    table = read_parquet_at(exp_commit("more", repo=path), "data/rounds/r1/evaluation.parquet", repo=path)
    assert sum(table.column("correct").to_pylist()) == 28
    with pytest.raises(ExperimentError, match="not in commit"):
        read_parquet_at(exp_commit("HEAD", repo=path), "data/rounds/r9/evaluation.parquet", repo=path)


def test_dpe_compare_prints_both_runs_and_the_paired_difference(repo, monkeypatch, capsys):
    path, _ = repo
    monkeypatch.chdir(path)
    assert cli.main(["compare", "HEAD", "more", "--width", "200"]) == 0
    out = capsys.readouterr().out
    assert "round r1" in out
    size = next(line for line in out.splitlines() if "size" in line)
    assert "0.500" in size and "0.700" in size and "+0.200" in size and "*" in size
    overall = next(line for line in out.splitlines() if "overall" in line)
    assert "n=40" in overall


def test_dpe_compare_names_what_is_missing_and_exits_2(repo, monkeypatch, capsys):
    path, _ = repo
    monkeypatch.chdir(path)
    assert cli.main(["compare", "HEAD", "nonesuch"]) == 2
    assert "nonesuch" in capsys.readouterr().err
    assert cli.main(["compare", "HEAD", "--round", "r7"]) == 2
    assert "r7" in capsys.readouterr().err


def test_dpe_status_shows_rounds_and_says_by_exit_status_whether_anything_is_stale(tmp_path, monkeypatch, capsys):
    path, _ = graded_repo(tmp_path)
    monkeypatch.chdir(path)
    assert cli.main(["status", "--width", "200"]) == 0
    out = capsys.readouterr().out
    r1 = next(line for line in out.splitlines() if "r1" in line and "r0" in line)
    assert "0.700" in r1 and "size 0.700" in r1 and "up to date" in out  # `dvc exp run` left seed 4's results
    (path / "grade.py").write_text(GRADE + "\n# changed\n")
    assert cli.main(["status", "--width", "200"]) == 1
    out = capsys.readouterr().out
    assert "evaluate@r1" in next(line for line in out.splitlines() if "0.700" in line) and "dvc repro" in out
    (path / "params.yaml").write_text("seed: [not a number]\n")
    assert cli.main(["status"]) == 2
    assert "seed" in capsys.readouterr().err


def test_dpe_advance_appends_a_round_and_runs_it(tmp_path, monkeypatch, capsys):
    path, _ = graded_repo(tmp_path)
    monkeypatch.chdir(path)
    assert cli.main(["advance"]) == 0
    assert yaml.safe_load((path / "params.yaml").read_text())["rounds"]["r2"] == {"prev": "r1"}
    assert (path / "metrics/r2/evaluate.json").exists() and cli.main(["status"]) == 0
    assert cli.main(["advance", "--rounds", "2", "--no-repro"]) == 0
    assert list(yaml.safe_load((path / "params.yaml").read_text())["rounds"]) == ["r1", "r2", "r3", "r4"]
    assert cli.main(["status"]) == 1  # r3 and r4 not run yet
    (path / "params.yaml").write_text("seed: [not a number]\n")
    assert cli.main(["advance"]) == 2
    assert "seed" in capsys.readouterr().err
