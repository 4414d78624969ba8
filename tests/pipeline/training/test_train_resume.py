"""A killed training (GRPO or the bootstrap warm-up) resumes from its last trainer checkpoint under `dvc repro`
(a real DVC repo, a real SIGKILL), only when the checkpoint belongs to the same run; and train.processes runs
GRPO in several processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.models import resume
from pipeline.models.checkpoint import load
from pipeline.run.runtime import KILL_AT
from tests import families


def test_a_checkpoint_is_resumed_only_by_its_own_run(tmp_path):
    state = tmp_path / "state"
    assert resume.last_checkpoint(state, "run-a") is None and (state / resume.RUN).exists()
    for step in (2, 10, 4):
        (state / f"checkpoint-{step}").mkdir()
        (state / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (state / "checkpoint-12").mkdir()  # killed while saving: no trainer state yet
    assert resume.last_checkpoint(state, "run-a") == str(state / "checkpoint-10")
    assert not (state / "checkpoint-12").exists()  # dropped, so the trainer rewrites that step cleanly
    assert resume.last_checkpoint(state, "run-b") is None  # another run's checkpoints are cleared
    assert not list(state.glob("checkpoint-*"))
    assert json.loads((state / resume.RUN).read_text()) == {"run": "run-b"}
    (state / "checkpoint-3").mkdir()
    (state / "README.md").write_text("the trainer's model card")
    resume.finish(state)
    assert [p.name for p in state.iterdir()] == [resume.RUN]


def assert_state_is_not_an_out(stage: str) -> None:
    """The project's ``stage`` does not declare its ``--state`` folder an out: a tracked but uncached state goes
    stale whenever another params set trains in the workspace."""
    body = yaml.safe_load((families.REPO / "dvc.yaml").read_text())["stages"][stage]
    body = body.get("do", body)
    state = body["cmd"].split("--state ", 1)[1].split()[0]
    outs = [o if isinstance(o, str) else next(iter(o)) for o in body["outs"]]
    assert state not in outs, f"{stage}: {state} is a DVC out"


def assert_scratch_state_leaves_status_clean(repo: Path, env: dict) -> None:
    """Another run rewriting the state folder (what every other params set does) leaves the stage up to date."""
    (repo / "state" / resume.RUN).write_text(json.dumps({"run": "another-run"}))
    status = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=repo, env=env, capture_output=True, text=True)
    assert "up to date" in status.stdout, status.stdout


def one_stage_repo(repo: Path, params: dict, name: str, stage: dict) -> dict:
    """``repo`` as a git + DVC repository whose one stage is ``stage``; returns the environment to run it in."""
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {name: stage}}))
    env = os.environ | {"PYTHONPATH": str(families.REPO), "DPE_THREADS": "1"}
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    return env


def dvc_repo(tmp_path: Path, train: dict) -> tuple[Path, dict]:
    """A repository whose one stage is the project's train stage, wired like dvc.yaml's."""
    repo = tmp_path / "repo"
    repo.mkdir()
    families.build("qwen2_5_vl", repo / "base")
    families.write_trainset(repo / "trainset.parquet", 8)
    families.write_items(repo / "dev.parquet", 16)
    raw = yaml.safe_load((families.REPO / "params.yaml").read_text())
    raw["train"]["gate"].update(source="dev.parquet", half="all")
    raw["train"].update(train)
    raw["answer"]["max_new_tokens"] = 3
    assert_state_is_not_an_out("train")
    stage = {
        "cmd": f"{sys.executable} -m stages.train --round r1 --trainset trainset.parquet --model base --out model "
               "--state state --curves curves.csv --metrics train.json --reference base",
        "deps": ["trainset.parquet", "base", "dev.parquet"], "params": ["train"],
        "outs": ["model"],  # the state is scratch, as in the project's
        "metrics": [{"train.json": {"cache": False}}],
    }
    return repo, one_stage_repo(repo, raw, "train", stage)


def killed_and_repeated(repo: Path, env: dict, step: int) -> subprocess.CompletedProcess:
    """`dvc repro` with the stage SIGKILLed at the end of optimiser step ``step`` (a named point, not a timer),
    then `dvc repro` again to the end."""
    repro = [sys.executable, "-m", "dvc", "repro"]
    killed = subprocess.run(repro, cwd=repo, env=env | {KILL_AT: f"train.step:{step}"}, capture_output=True, text=True)
    assert killed.returncode != 0 and f"train.step, pass {step}" in killed.stderr, killed.stderr[-3000:]
    done = subprocess.run(repro, cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_dvc_repro_after_a_sigkill_resumes_grpo_from_the_last_checkpoint(tmp_path):
    repo, env = dvc_repo(tmp_path, {"max_steps": 24, "epochs": 20.0, "save_steps": 3, "num_generations": 8,
                                      "prompts_per_step": 4})
    killed_and_repeated(repo, env, 7)  # checkpoint-6 is on disk, step 7's work is lost
    metrics = json.loads((repo / "train.json").read_text())
    assert metrics["steps"] == 24 and metrics["resumed_from_step"] == 6
    assert not list((repo / "state").glob("checkpoint-*"))  # a finished run keeps only its fingerprint
    model, _ = load(repo / "model")
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    status = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=repo, env=env, capture_output=True, text=True)
    assert "up to date" in status.stdout  # the resumed run is recorded like any other
    assert_scratch_state_leaves_status_clean(repo, env)


@pytest.mark.slow
def test_a_kill_during_the_round_gate_reruns_to_the_same_decision_without_retraining(tmp_path):
    repo, env = dvc_repo(tmp_path, {"max_steps": 6, "epochs": 20.0, "save_steps": 3, "num_generations": 8,
                                      "prompts_per_step": 4})
    repro = [sys.executable, "-m", "dvc", "repro"]
    killed = subprocess.run(repro, cwd=repo, env=env | {KILL_AT: "train.gate:2"}, capture_output=True, text=True)
    assert killed.returncode != 0 and "train.gate, pass 2" in killed.stderr, killed.stderr[-3000:]
    done = subprocess.run(repro, cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((repo / "train.json").read_text())
    assert metrics["resumed_from_step"] == 6  # the trained update was kept: only the gate ran again
    assert metrics["gate.items"] == 16 and "gate.candidates.0.5.gain" in metrics
    forced = subprocess.run(repro + ["-f"], cwd=repo, env=env, capture_output=True, text=True)
    assert forced.returncode == 0, forced.stderr[-3000:]
    again = json.loads((repo / "train.json").read_text())
    assert {k: v for k, v in again.items() if k.startswith("gate.") and k != "gate.seconds"} == {
        k: v for k, v in metrics.items() if k.startswith("gate.") and k != "gate.seconds"}


@pytest.mark.slow
def test_dvc_repro_after_a_sigkill_resumes_the_bootstrap_warm_up(tiny_world, tmp_path):
    world, _, _ = tiny_world
    repo = tmp_path / "repo"
    shutil.copytree(world, repo / "world")
    raw = yaml.safe_load((families.REPO / "params.yaml").read_text())
    raw["bootstrap"]["vlm"].update(vocab_size=400, text_hidden=32, vision_hidden=32, steps=400, batch_size=8,
                                   examples=60, save_steps=20, weak={}, top_up_chunks=0,
                                   skew={c: 1 for c in raw["bootstrap"]["vlm"]["skew"]})
    raw["world"]["image_size"] = 56
    files = {"--corpus": "sft", "--captions": "clip", "--probe": "probe", "--dev": "dev"}
    assert_state_is_not_an_out("bootstrap_vlm")
    stage = {
        "cmd": f"{sys.executable} -m stages.bootstrap_vlm --out r0 --state state "
               + " ".join(f"{flag} world/{name}.parquet" for flag, name in files.items()),
        "deps": [f"world/{name}.parquet" for name in files.values()], "params": ["bootstrap.vlm"],
        "outs": ["r0"],
    }
    env = one_stage_repo(repo, raw, "bootstrap_vlm", stage)
    killed_and_repeated(repo, env, 41)
    facts = json.loads((repo / "r0" / "card.json").read_text())["facts"]
    assert facts["warm-up resumed from step"] == 40 and facts["training steps"] == 400
    assert not list((repo / "state").glob("checkpoint-*"))
    assert_scratch_state_leaves_status_clean(repo, env)


@pytest.mark.slow
@pytest.mark.parametrize("lora", [{}, {"rank": 2}], ids=["full", "lora"])
def test_train_processes_runs_grpo_in_two_cpu_processes_over_gloo(tmp_path, lora):
    base = families.build("qwen2_5_vl", tmp_path / "base")
    families.write_trainset(tmp_path / "trainset.parquet", 8)
    raw = yaml.safe_load((families.REPO / "params.yaml").read_text())
    raw["train"].update(max_steps=3, save_steps=2, num_generations=4, prompts_per_step=2, processes=2, lora=lora,
                        reference="previous" if lora else "base")
    raw["train"]["gate"].update(source=str(families.write_items(tmp_path / "dev.parquet", 8)), half="all")
    raw["answer"]["max_new_tokens"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = families.run_stage("train", tmp_path / "params.yaml", "--round", "r1", "--trainset",
                              tmp_path / "trainset.parquet", "--model", base, "--out", tmp_path / "r1", "--state",
                              tmp_path / "state", "--curves", tmp_path / "curves.csv", "--metrics",
                              tmp_path / "train.json", "--reference", base, env=os.environ | {"DPE_THREADS": "1"},
                              timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for index in (0, 1):
        assert f"GRPO in 2 process(es) (MULTI_CPU), this is process {index}" in proc.stderr
    assert json.loads((tmp_path / "train.json").read_text())["steps"] == 3
    assert (tmp_path / "r1" / ("adapter_model.safetensors" if lora else "model.safetensors")).exists()
    model, _ = load(tmp_path / "r1")
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
