"""A generate stage killed with SIGKILL mid-run and run again ends with exactly the samples, attempts and
metrics of an uninterrupted run: nothing lost, nothing duplicated (the journal, pipeline/generation/journal.py)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.run.runtime import KILL_AT
from pipeline.storage import artifacts, schemas
from pipeline.storage.artifacts import write_json
from pipeline.storage.schemas import Cell, Diagnosis, Mixture

pytestmark = pytest.mark.slow  # runs the stage (and a trained CLIP) in subprocesses

REPO = Path(__file__).resolve().parents[3]
QUOTAS = {"colour/objects": 8, "series/line_chart": 8, "variety/objects": 8, "counting/document": 8, "text/document": 8,
          "grid/table": 8, "chart/bar_chart": 8}


def inputs(world_pool, tmp: Path) -> dict:
    out, clip_dir, pool_manifest, vectors = world_pool
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["generate"]["world"]["scenes"] = str(out / "scenes.parquet")
    params["generate"]["checkpoint_every"] = 4
    params["generate"]["concurrency"] = 3  # waves of attempts in threads: resuming must not depend on timing
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    cells = [Cell(key=k, category=k.split("/")[0], image_type=k.split("/")[1], n=4, correct=1, accuracy=0.25,
                  shrunk_accuracy=0.25, interval=(0.0, 1.0), reliable=True, error_types={}, examples=[])
             for k in QUOTAS]
    write_json(tmp / "diagnosis.json", Diagnosis(items=28, graded=28, judge_failures=0, accuracy=0.25,
                                                 categories={}, cells=cells))
    write_json(tmp / "mixture.json", Mixture(strategy="static", budget=sum(QUOTAS.values()), quotas=QUOTAS,
                                             shares={}))
    (tmp / "brief.md").write_text("weak everywhere\n")
    artifacts.write_parquet(tmp / "seen.parquet", [], schemas.SEEN)
    artifacts.write_json(tmp / "ingest.json", pool_manifest)
    artifacts.write_json(tmp / "embed.json", vectors)
    return {"--params": tmp / "params.yaml", "--round": "r1", "--mixture": tmp / "mixture.json",
            "--diagnosis": tmp / "diagnosis.json", "--brief": tmp / "brief.md", "--pool": tmp / "ingest.json",
            "--vectors": tmp / "embed.json", "--clip": clip_dir, "--probe": out / "probe.parquet",
            "--seen-before": tmp / "seen.parquet"}


def command(args: dict, out: Path) -> list[str]:
    paths = {"--samples": out / "samples.lance", "--attempts": out / "attempts.lance", "--seen": out / "seen.parquet",
             "--metrics": out / "m.json"}
    return [sys.executable, "-m", "stages.generate", *(str(x) for kv in (args | paths).items() for x in kv)]


def env() -> dict:
    return os.environ | {"TQDM_DISABLE": "1", "DPE_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def rows(out: Path, name: str, schema) -> list[dict]:
    return artifacts.read_table(out / f"{name}.lance", schema).to_pylist()


def result(out: Path) -> dict:
    return {"attempts": [r["attempt_id"] for r in rows(out, "attempts", schemas.ATTEMPTS)],
            "samples": [r["sample_id"] for r in rows(out, "samples", schemas.SAMPLES)],
            "metrics": json.loads((out / "m.json").read_text()),
            "seen": artifacts.read_table(out / "seen.parquet", schemas.SEEN)["sample_id"].to_pylist()}


def test_killed_generate_resumes_to_the_uninterrupted_result(world_pool, tmp_path):
    args = inputs(world_pool, tmp_path)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(args, whole), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)

    # killed as its journal's second append commits: a known point in the work, not a timer
    died = subprocess.run(command(args, killed), cwd=REPO, env=env() | {KILL_AT: "journal.flush:2"},
                          capture_output=True, timeout=300)
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    partial = len(rows(killed, "attempts", schemas.ATTEMPTS))
    assert partial == 8 < len(rows(whole, "attempts", schemas.ATTEMPTS))  # two appends of checkpoint_every

    subprocess.run(command(args, killed), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)
    for name, schema, key in (("samples", schemas.SAMPLES, "sample_id"), ("attempts", schemas.ATTEMPTS,
                                                                           "attempt_id")):
        a, b = rows(whole, name, schema), rows(killed, name, schema)
        assert [r[key] for r in b] == [r[key] for r in a]  # same rows, same order, no duplicates
        assert len({r[key] for r in b}) == len(b)
    assert json.loads((killed / "m.json").read_text()) == json.loads((whole / "m.json").read_text())
    seen = [artifacts.read_table(d / "seen.parquet", schemas.SEEN)["sample_id"].to_pylist() for d in (whole, killed)]
    assert seen[0] == seen[1] == [r["sample_id"] for r in rows(whole, "samples", schemas.SAMPLES)]

    # other inputs: the journal is not resumed but replaced
    args["--brief"].write_text("a different brief\n")
    subprocess.run(command(args, killed), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)
    replaced = rows(killed, "attempts", schemas.ATTEMPTS)
    assert len(replaced) == len(rows(whole, "attempts", schemas.ATTEMPTS))  # the world's agents ignore the brief
    assert {r["run_key"] for r in replaced} != {r["run_key"] for r in rows(whole, "attempts", schemas.ATTEMPTS)}


def test_a_second_generate_on_a_round_is_refused_and_a_killed_ones_rerun_is_not(world_pool, tmp_path):
    """While another process writes the round (it holds the round's lock, as a running stage does from its
    first line) a second generate stops at once with a message and writes nothing; once the holder is
    SIGKILLed nothing blocks the rerun. (The stage itself SIGKILLed and rerun: the test above.)"""
    args, out = inputs(world_pool, tmp_path), tmp_path / "round"
    attempts = out / "attempts.lance"
    holder = subprocess.Popen([sys.executable, "-c", "import time\nfrom pipeline.generation.journal import hold\n"
                               f"hold({str(attempts)!r}); print('held', flush=True); time.sleep(300)"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = subprocess.run(command(args, out), cwd=REPO, env=env(), capture_output=True, text=True,
                                 timeout=300)
        assert refused.returncode == 1 and f"pid {holder.pid}" in refused.stderr and "one writer" in refused.stderr
        assert "Traceback" not in refused.stderr and not attempts.exists()  # refused before any work
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    subprocess.run(command(args, out), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)
    assert len(rows(out, "attempts", schemas.ATTEMPTS)) > 0
