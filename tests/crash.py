"""The crash-safety harness: SIGKILL a stage at a named point in its work (``runtime.reached``: a lake commit, a
pin, a batch of answers, a journal append, an optimiser step; the n-th pass), `dvc repro` again, and compare what the
repository then holds with an uninterrupted run. A named point, not a timer: the kill lands at the same place in the
work on a loaded 2-core machine and on a fast one.

``fingerprint`` reduces every out in dvc.lock (and the lake tables the manifests pin) to what must not depend on
when a run was killed: each table's row count and ids, each JSON out's hash (a manifest's table, tag-independent
rows and ids instead: a rerun may pin another version number holding the same rows), each other file's hash,
and for a model folder whether it loads. ``trial`` runs one kill and recovery.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.run.runtime import KILL_AT

ID_COLUMNS = ("sample_id", "attempt_id", "item_id", "image_id")


def _table_print(table) -> dict:
    names = table.schema.names
    key = next((c for c in ID_COLUMNS if c in names), names[0])
    ids = sorted(str(v) for v in table.column(key).to_pylist())
    return {"rows": table.num_rows, "ids": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]}


def _out_print(repo: Path, path: str):
    from pipeline.storage import artifacts, lake

    full = repo / path
    if not full.exists():
        return "missing"
    if full.suffix == ".lance":
        return _table_print(lake.open_path(full).to_arrow())
    if full.suffix == ".parquet":
        import pyarrow.parquet as pq

        return _table_print(pq.read_table(full))
    if full.suffix == ".json" and "manifests" in full.parts:
        manifest = artifacts.read_manifest(full)
        cwd = os.getcwd()
        os.chdir(repo)  # manifests name the lake relative to the repository
        try:
            return {"table": manifest.table, **_table_print(lake.open_pinned(manifest).to_arrow())}
        finally:
            os.chdir(cwd)
    if full.is_dir():
        from pipeline.models.checkpoint import load

        try:
            load(full, "float32", device="cpu")
            return "loads"
        except Exception as err:  # noqa: BLE001 - any failure to load is the finding
            return f"does not load: {type(err).__name__}"
    return hashlib.sha256(full.read_bytes()).hexdigest()[:16]


def as_a_reader_finds_it(repo: Path) -> None:
    """The lake as the next stage that reads it sees it: a pin the lake lost (a table dropped before a trial, and
    ingest killed before it wrote: its out is unchanged, so `dvc repro` does not rerun it) is rebuilt from the
    sources and checked against the pinned ids, as embed and generate do (pipeline/pool/restore.py)."""
    from pipeline.config.params import load_params
    from pipeline.pool.ingest import listed_ids
    from pipeline.pool.restore import ensure_pinned
    from pipeline.storage import artifacts

    cwd = os.getcwd()
    os.chdir(repo)
    try:
        manifests = Path("data/manifests")
        ensure_pinned(load_params("params.yaml"), artifacts.read_manifest(manifests / "ingest.json"),
                      listed_ids(manifests / "listed.parquet"), artifacts.read_manifest(manifests / "embed.json"),
                      "data/models/clip")
    finally:
        os.chdir(cwd)


def fingerprint(repo: Path) -> dict[str, object]:
    as_a_reader_finds_it(repo)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    paths = sorted({o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])})
    return {p: _out_print(repo, p) for p in paths if not p.startswith("metrics/")}


def run(cmd: list[str], repo: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=1800)


# stage -> the named points its work passes (pipeline/run/runtime.py reached)
POINTS = {"ingest": ("lake.merge", "lake.pin"), "embed": ("lake.merge", "lake.pin"), "diagnose@r1": ("answer.batch",),
          "generate@r1": ("journal.flush",), "filter@r1": ("answer.batch",), "train@r1": ("train.step", "train.gate"),
          "evaluate@r1": ("answer.batch",)}


def force(stage: str, repo: Path, env: dict) -> None:
    """An uninterrupted forced run of ``stage`` (the state it leaves is the reference's)."""
    done = run([sys.executable, "-m", "dvc", "repro", "-f", "-s", stage], repo, env)
    assert done.returncode == 0, done.stderr[-3000:]


def kill_point(stage: str, index: int) -> tuple[str, int]:
    """The ``index``-th trial's point and pass: the stage's points in turn, the first to third pass."""
    points = POINTS[stage]
    return points[index % len(points)], 1 + index // len(points) % 3


def trial(stage: str, repo: Path, env: dict, index: int, before=None) -> dict:
    """Force ``stage`` (after ``before(repo)``, e.g. removing a lake table), SIGKILLed at its ``index``-th trial's
    point, then `dvc repro` to the end; returns what happened (a stage that passes the point fewer times than
    asked finishes: not killed)."""
    if before:
        before(repo)
    point, n = kill_point(stage, index)
    forced = run([sys.executable, "-m", "dvc", "repro", "-f", "-s", stage], repo, env | {KILL_AT: f"{point}:{n}"})
    killed = f"killing this process at {point}, pass {n}" in forced.stdout + forced.stderr
    again = run([sys.executable, "-m", "dvc", "repro"], repo, env)
    status = run([sys.executable, "-m", "dvc", "status"], repo, env)
    return {"stage": stage, "point": f"{point}:{n}", "killed": killed, "recovered": again.returncode == 0,
            "error": again.stderr[-2000:] if again.returncode else "", "clean": "up to date" in status.stdout}


def drop_lake_tables(*patterns: str):
    """A ``before`` for trials that must write tables afresh (ingest, embed): remove them from the lake."""
    def before(repo: Path) -> None:
        for pattern in patterns:
            for table in (repo / "data/lake").glob(pattern):
                shutil.rmtree(table)
    return before


def differences(reference: dict, now: dict) -> dict:
    return {k: (reference.get(k), now.get(k)) for k in sorted(set(reference) | set(now))
            if reference.get(k) != now.get(k)}


def summary(results: list[dict]) -> dict:
    """Per stage: trials, how many were killed while running (the rest had finished), recovered, clean, same."""
    out: dict[str, dict] = {}
    for r in results:
        row = out.setdefault(r["stage"], {"trials": 0, "killed": 0, "recovered": 0, "clean": 0, "same": 0})
        row["trials"] += 1
        for key in ("killed", "recovered", "clean"):
            row[key] += bool(r[key])
        row["same"] += not r["differences"]
    return out


def write_report(path: str | None, results: list[dict]) -> None:
    if path:
        Path(path).write_text(json.dumps({"summary": summary(results), "trials": results}, indent=1, default=str))
