"""End to end: a micro round through the real stage entry points, in a temporary git + DVC repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.world.questions import CATEGORIES, CELLS

REPO = Path(__file__).resolve().parents[1]

MICRO = {
    "world": {"pool_size": 150, "probe_per_cell": 1, "eval_per_cell": 1, "dev_per_cell": 1, "sft_size": 60,
              "clip_size": 700},
    "bootstrap": {"clip": {"embed_dim": 32, "width": 64, "layers": 1, "steps": 120, "batch_size": 32, "lr": 0.002},
                  "vlm": {"text_hidden": 64, "vision_hidden": 32, "steps": 10, "batch_size": 4, "examples": 60,
                          "top_up_chunks": 1}},
    "mixture": {"budget": 8, "floor": 0},
    "filter": {"n_samples": 2, "min_keep": 4},
    "train": {"num_generations": 2, "prompts_per_step": 2, "max_steps": 2},
    "rounds": {"r1": {"prev": "r0"}},
}


def merge(base: dict, update: dict) -> dict:
    return {k: merge(base[k], v) if isinstance(v, dict) and k in base and k != "rounds" else v
            for k, v in (base | update).items()}


def run(cmd: list[str], cwd: Path) -> str:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DPE_THREADS": "1",
                        "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def stages_to_run(cwd: Path) -> set[str]:
    out = run(["dvc", "status", "--json"], cwd)
    return set(json.loads(out[out.index("{"):]) if "{" in out else {})


@pytest.mark.slow
def test_micro_round_through_dvc(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("pipeline", "stages"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", repo)
    params = merge(yaml.safe_load((REPO / "params.yaml").read_text()), MICRO)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / ".gitignore").write_text("/data/\n__pycache__/\n")
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    shutil.copytree(REPO / ".dvc" / "plots", repo / ".dvc" / "plots")

    log = run(["dvc", "repro"], repo)
    for stage in ("world", "bootstrap_clip", "bootstrap_vlm", "bootstrap_report", "ingest", "embed", "diagnose@r1",
                  "mixture@r1", "generate@r1", "filter@r1", "train@r1", "evaluate@r1"):
        assert f"Running stage '{stage}'" in log

    bootstrap = json.loads((repo / "metrics/r0/bootstrap.json").read_text())
    for key in ("clip.recall_at_10", "clip.zeroshot_type_accuracy", "vlm.probe_accuracy.overall",
                "vlm.valid_answer_rate", "vlm.distinct_answers.counting", "vlm.probe_accuracy.table"):
        assert 0 <= bootstrap[key] <= (1 if "distinct" not in key else 15), key
    assert (repo / "data/rounds/r0/model/README.md").exists() and (repo / "data/models/clip/README.md").exists()

    evaluation = json.loads((repo / "metrics/r1/evaluate.json").read_text())
    assert 0.0 <= evaluation["accuracy.overall"] <= 1.0 and evaluation["items"] == len(CELLS)
    assert {f"accuracy.{c}" for c in CATEGORIES} <= set(evaluation)
    quotas = json.loads((repo / "data/rounds/r1/mixture.json").read_text())["quotas"]
    assert sum(quotas.values()) == 8
    generated = json.loads((repo / "metrics/r1/generate.json").read_text())
    assert generated["accepted"] == 8 and "unfilled" not in generated

    import lancedb

    samples = lancedb.connect(repo / "data/rounds/r1/generate").open_table("samples").to_arrow().to_pylist()
    assert len(samples) == generated["accepted"]
    assert all(s["round"] == "r1" and s["cell"] in quotas and len(s["source_image_id"]) == 64 for s in samples)
    assert all(json.loads(s["edits"]) for s in samples)  # every sample went through the editor
    assert (repo / "data/rounds/r1/model/config.json").exists()

    history = (repo / "metrics/r1/accuracy.csv").read_text().splitlines()
    assert history[0] == "round,category,accuracy"
    assert {line.split(",")[0] for line in history[1:]} == {"r0", "r1"}
    assert f"r1,overall,{round(evaluation['accuracy.overall'], 6)}" in history
    plots = run(["dvc", "plots", "show", "--json", "metrics/r1/accuracy.csv"], repo)
    assert "accuracy_by_category" in plots or '"category"' in plots

    assert stages_to_run(repo) == set()  # nothing changed: nothing to run
    assert "Running stage" not in run(["dvc", "repro"], repo)

    params["mixture"]["budget"] = 6
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert stages_to_run(repo) == {"mixture@r1"}  # downstream reruns follow from mixture's new outs

    params["mixture"]["budget"] = 8
    params["rounds"]["r2"] = {"prev": "r1"}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert stages_to_run(repo) == {f"{s}@r2" for s in ("diagnose", "mixture", "generate", "filter", "train",
                                                        "evaluate")}
