"""Trainer checkpoints that survive a killed stage, and only for the run they belong to.

A stage's state folder holds the trainer's ``checkpoint-<step>`` folders and ``run.json``, a fingerprint of
what the run trains on (the inputs' hashes, the params, the seed). A rerun with the same fingerprint resumes
from the last checkpoint; a different one clears the folder first, so a changed trainset or learning rate never
continues someone else's run. A run that finishes empties it but for the fingerprint.

The folder is scratch that DVC does not know of (not an out of the stage): DVC deletes a stage's outs before it
runs it, and an out it tracks but does not cache (a ``persist`` out) goes stale as soon as another params set
trains in the workspace (every ``dvc exp run``), since ``dvc checkout`` cannot bring it back. The stage's result
is its model; nothing downstream reads this folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

RUN = "run.json"


def fingerprint(**parts) -> str:
    """A stable hash of JSON-able parts (paths are hashed by their contents)."""
    digest = hashlib.sha256()
    for key in sorted(parts):
        value = parts[key]
        if isinstance(value, Path):
            value = tree_hash(value)
        digest.update(f"{key}={json.dumps(value, sort_keys=True, default=str)};".encode())
    return digest.hexdigest()[:16]


def tree_hash(path: Path) -> str:
    """The bytes of a file, or of every file under a folder (names included)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def step(checkpoint: str | Path) -> int:
    """The step of a trainer checkpoint folder (``checkpoint-<step>``)."""
    return int(Path(checkpoint).name.rsplit("-", 1)[1])


def last_checkpoint(state_dir: str | Path, run: str) -> str | None:
    """The checkpoint to resume ``run`` from, or None (after clearing a folder left by another run)."""
    state_dir = Path(state_dir)
    marker = state_dir / RUN
    if marker.exists() and json.loads(marker.read_text()).get("run") == run:
        from transformers.trainer_utils import get_last_checkpoint

        while (latest := get_last_checkpoint(str(state_dir))) and not Path(latest, "trainer_state.json").exists():
            log.warning("dropping %s: the trainer was stopped while writing it", latest)
            shutil.rmtree(latest)  # the trainer state comes last: without it the checkpoint is incomplete
        if latest:
            log.info("found checkpoint %s of this run", latest)
        return latest
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    marker.write_text(json.dumps({"run": run}) + "\n")
    return None


def finish(state_dir: str | Path) -> None:
    """Drop what a completed run left (checkpoints, the trainer's model card): the result is the stage's out."""
    for path in Path(state_dir).iterdir():
        if path.name != RUN:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
