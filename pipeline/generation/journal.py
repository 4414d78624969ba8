"""The generate stage's journal: attempts and samples appended as they finish, so a killed run resumes.

Samples are appended before the attempts that made them, and on resume only samples whose accepted
attempt is recorded are kept, so a kill between the two writes loses nothing and duplicates nothing.
Attempts carry the ``run_key`` of the inputs they were made from (mixture, diagnosis, brief, pinned
tables, generate params, seed): a journal from other inputs is not resumed but replaced. Attempt ids
and their randomness are deterministic, so skipping the recorded attempts and going on gives the run an
uninterrupted stage would have given.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pyarrow as pa

from pipeline import artifacts, lake, schemas
from pipeline.runtime import reached

log = logging.getLogger(__name__)


def run_key(*parts: str) -> str:
    """A short hash of everything the attempts depend on."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class Journal:
    """In memory when no paths are given (tests, library use); otherwise two Lance tables, which a
    ``follow``ing worker (one helping the round's leader, ``claims.py``) reads but never writes."""

    def __init__(self, samples: str | Path | None = None, attempts: str | Path | None = None, key: str = "",
                 every: int = 16, follow: bool = False):
        self.samples_path, self.attempts_path, self.key, self.every = samples, attempts, key, every
        self.follow = follow
        self.attempts: list[dict] = []  # every attempt of the run, read back or new, in order
        self.samples: list[dict] = []
        self.pending: tuple[list[dict], list[dict]] = ([], [])
        self.written = False  # whether this run has written its tables yet (the first write replaces)
        if samples is not None:
            self._resume()

    def _resume(self) -> None:
        if not (Path(self.attempts_path).exists() and Path(self.samples_path).exists()):
            return
        try:
            attempts = artifacts.read_table(self.attempts_path, schemas.ATTEMPTS).to_pylist()
        except schemas.SchemaError as err:  # written by an older version of the pipeline: nothing to resume
            log.info("journal not resumable (%s): starting afresh", err)
            return
        if not attempts or any(a["run_key"] != self.key for a in attempts):
            log.info("journal %s is from other inputs: starting afresh", self.attempts_path)
            return
        accepted = {a["attempt_id"] for a in attempts if a["outcome"] == "accepted"}
        samples = [s for s in artifacts.read_table(self.samples_path, schemas.SAMPLES).to_pylist()
                   if s["attempt_id"] in accepted]
        if len(samples) != len(accepted):
            log.warning("journal %s lost accepted samples: starting afresh", self.samples_path)
            return
        self.attempts, self.samples = attempts, samples
        if self.follow:
            return
        lake.write_path(self.samples_path, pa.Table.from_pylist(samples, schemas.SAMPLES))  # drop strays
        self.written = True
        log.info("resuming: %d attempts and %d samples already done", len(attempts), len(samples))

    def done(self) -> dict[str, list[dict]]:
        """The recorded attempts per cell, in order, with their samples attached (``sample``)."""
        by_attempt = {s["attempt_id"]: s for s in self.samples}
        out: dict[str, list[dict]] = {}
        for a in self.attempts:
            out.setdefault(a["cell"], []).append(a | {"sample": by_attempt.get(a["attempt_id"])})
        return out

    def record(self, attempt: dict, sample: dict | None) -> None:
        row = attempt | {"run_key": self.key}
        self.attempts.append(row)
        self.pending[0].append(row)
        if sample is not None:
            self.samples.append(sample)
            self.pending[1].append(sample)
        if len(self.pending[0]) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.samples_path is None or self.follow:
            return
        attempts, samples = self.pending
        write = lake.append_path if self.written else lake.write_path
        write(self.samples_path, pa.Table.from_pylist(samples, schemas.SAMPLES))  # samples first: see above
        write(self.attempts_path, pa.Table.from_pylist(attempts, schemas.ATTEMPTS))
        self.written = True
        self.pending = ([], [])
        reached("journal.flush")
