"""A benchmark measured over several sessions: one JSON file per unit (an arm and a seed) in a folder named by
the key of what its numbers depend on (code, params, the machine's instruction set), so the next session adds
the units this one lacks, and a report pools only units of one key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def instruction_set() -> str:
    """The kernels the rounds' floats come from: the pin's AVX2 (``pipeline/run/cpu.py``) or, unpinned, the
    machine's."""
    from pipeline.run.cpu import MODE

    if os.environ.get(MODE, "pinned") != "native":
        return "avx2"
    import torch

    return torch.backends.cpu.get_cpu_capability()


def write_atomic(path: Path, data: dict, indent: int = 0) -> None:
    """``data`` as JSON at ``path``, whole or not at all: a run killed while writing leaves no half unit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(json.dumps(data, indent=indent, sort_keys=True) + "\n")
    os.replace(tmp.name, path)


def run_unit(args: list[str], env: dict, cwd: Path, what: str, log: Path | None = None) -> dict:
    """The result of one unit measured in its own process (``python -m <args>``, so each unit gets the floats its
    environment pins): the JSON it printed on its last ``RESULT`` line. Its stderr goes to ``log`` first, failed or
    not; exits naming ``what`` when the process failed or printed no result."""
    done = subprocess.run([sys.executable, "-m", *args], env=os.environ | env, capture_output=True, text=True, cwd=cwd)
    if log is not None:
        log.write_text(done.stderr)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.exit(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def load_units(folder: Path) -> dict:
    """One key's unit files as a store (the layout ``report`` reads)."""
    meta = json.loads((folder / "meta.json").read_text())
    store = {"runs": {}, "grades": {}, "items": meta["items"], "r0": meta["r0"], "rounds": meta["rounds"]}
    for path in sorted(folder.glob("*-s*.json")):
        unit = json.loads(path.read_text())
        store["runs"][path.stem] = {k: unit[k] for k in ("arm", "seed", "sets", "commit", "rounds")}
        for which, by_model in unit["grades"].items():
            store["grades"].setdefault(which, {}).update(by_model)
    return store


def known_grade(folder: Path, which: str, md5: str) -> str | None:
    """A grade of the model ``md5`` on ``which`` that some unit of this key already holds."""
    for path in folder.glob("*-s*.json"):
        grade = json.loads(path.read_text())["grades"].get(which, {}).get(md5)
        if grade is not None:
            return grade
    return None
