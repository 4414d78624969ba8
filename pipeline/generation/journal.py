"""The generate stage's journal: attempts and samples appended as they finish, so a killed run resumes, and
the lock that keeps one process writing a round.

Samples are appended before the attempts that made them, and on resume only samples whose accepted
attempt is recorded are kept, so a kill between the two writes loses nothing and duplicates nothing.
Attempts carry the ``run_key`` of the inputs they were made from (mixture, diagnosis, brief, pinned
tables, generate params, seed) and of the code that made them (``code_key``): a journal from other inputs or
other code is not resumed but replaced. Attempt ids
and their randomness are deterministic, so skipping the recorded attempts and going on gives the run an
uninterrupted stage would have given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path

from pipeline.run.runtime import reached
from pipeline.storage import artifacts, lake, schemas
from pipeline.storage.schemas import Attempt, Sample

log = logging.getLogger(__name__)


class RoundBusy(RuntimeError):
    """Another process is generating this round."""


_HELD: list = []  # the round locks this process holds: released when it exits


def hold(attempts: str | Path):
    """Hold the round's writer lock (``<attempts>.lock``) until this process exits, or raise ``RoundBusy``.
    A kernel lock (filelock's flock on Unix): the kernel drops it when its holder dies, even by SIGKILL, so a
    rerun after a crash is never blocked and never needs a stale lock removed by hand. The holder's pid is kept
    beside it (``<attempts>.lock.pid``) for the message a second writer gets."""
    from filelock import FileLock, Timeout

    path = Path(f"{attempts}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = Path(f"{path}.pid")
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = pid.read_text().strip() if pid.exists() else "?"
        raise RoundBusy(f"another generate (pid {holder}) is writing this round's attempts ({attempts}); a round "
                        f"has one writer. Wait for it to finish or stop it, then rerun: its lock ({path}) goes "
                        "when it exits, even if it is killed") from None
    pid.write_text(str(os.getpid()))
    _HELD.append(lock)
    return lock


def code_key(stage_file: str, backend) -> str:
    """The hash of the code that makes the attempts: the stage's modules and the agent backend's (a user's
    backend outside the project too). Part of the run key, so changed code never resumes an old journal."""
    import inspect

    from pipeline.run.deps import code_hash

    return code_hash(stage_file, inspect.getsourcefile(type(backend)))


def run_key(*parts: str) -> str:
    """A short hash of everything the attempts depend on."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class Journal:
    """In memory when no paths are given (tests, library use); otherwise two Lance tables."""

    def __init__(self, samples: str | Path | None = None, attempts: str | Path | None = None, key: str = "",
                 every: int = 16):
        self.samples_path, self.attempts_path, self.key, self.every = samples, attempts, key, every
        self.attempts: list[Attempt] = []  # every attempt of the run, read back or new, in order
        self.samples: list[Sample] = []
        self.pending: tuple[list[Attempt], list[Sample]] = ([], [])
        self.written = False  # whether this run has written its tables yet (the first write replaces)
        if samples is not None:
            self._resume()

    def _resume(self) -> None:
        if not (Path(self.attempts_path).exists() and Path(self.samples_path).exists()):
            return
        try:
            attempts = [schemas.from_row(Attempt, r) for r in
                        artifacts.read_table(self.attempts_path, schemas.ATTEMPTS).to_pylist()]
        except schemas.SchemaError as err:  # written by an older version of the pipeline: nothing to resume
            log.info("journal not resumable (%s): starting afresh", err)
            return
        if not attempts or any(a.run_key != self.key for a in attempts):
            log.info("journal %s is from other inputs: starting afresh", self.attempts_path)
            return
        accepted = {a.attempt_id for a in attempts if a.outcome == "accepted"}
        samples = [schemas.from_row(Sample, s) for s in
                   artifacts.read_table(self.samples_path, schemas.SAMPLES).to_pylist() if s["attempt_id"] in accepted]
        if len(samples) != len(accepted):
            log.warning("journal %s lost accepted samples: starting afresh", self.samples_path)
            return
        self.attempts, self.samples = attempts, samples
        lake.write_path(self.samples_path, schemas.to_table(samples, Sample))  # drop strays
        self.written = True
        log.info("resuming: %d attempts and %d samples already done", len(attempts), len(samples))

    def done(self) -> dict[str, list[tuple[Attempt, Sample | None]]]:
        """The recorded attempts per cell, in order, each with its sample (None when rejected)."""
        by_attempt = {s.attempt_id: s for s in self.samples}
        out: dict[str, list[tuple[Attempt, Sample | None]]] = {}
        for a in self.attempts:
            out.setdefault(a.cell, []).append((a, by_attempt.get(a.attempt_id)))
        return out

    def record(self, attempt: Attempt, sample: Sample | None) -> None:
        row = dataclasses.replace(attempt, run_key=self.key)
        self.attempts.append(row)
        self.pending[0].append(row)
        if sample is not None:
            self.samples.append(sample)
            self.pending[1].append(sample)
        if len(self.pending[0]) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.samples_path is None:
            return
        attempts, samples = self.pending
        write = lake.append_path if self.written else lake.write_path
        write(self.samples_path, schemas.to_table(samples, Sample))  # samples first: see above
        write(self.attempts_path, schemas.to_table(attempts, Attempt))
        self.written = True
        self.pending = ([], [])
        reached("journal.flush")
