"""Attempts shared by several generate workers on one round, through a folder beside the attempt log.

Every worker walks the same deterministic waves (``generate._wave``): an attempt depends only on the state
before its wave, so any worker may make it. Before making one, a worker claims it by creating
``<attempt>.claim`` exclusively; the outcome is published as ``<attempt>.outcome`` by a hard link, so the
first outcome of an attempt is the only one anyone reads. A worker then settles every attempt of the wave
in order, as one worker would, so all of them reach the same state and the round's result does not depend
on how many workers made it. Claims of a dead worker (a dead process on this host, or a claim not touched
for ``lease`` seconds) are taken over. Only the leader (the worker holding the attempt log's lock, normally
the DVC stage) writes the journal and the stage's outs; it removes the folder when the round is done, which
tells the other workers to stop. Outcomes survive a killed leader, so its rerun remakes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import pyarrow as pa

from pipeline import schemas
from pipeline.runtime import reached
from pipeline.schemas import Call, calls_json

log = logging.getLogger(__name__)

LEASE_SECONDS = 300.0  # a claim not touched for this long is taken over (live workers touch theirs)


class RoundDone(Exception):
    """The leader finished the round (and removed the folder) while this worker waited."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str) -> bool:
    """False only when ``owner`` is a process of this host that no longer runs."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Claims:
    """The shared folder of one round's attempts (``folder``, from ``folder_for``), or nothing at all
    (``folder`` None: one worker in memory, as in tests and library use)."""

    def __init__(self, folder: str | Path | None = None, lease: float = LEASE_SECONDS, leader=None):
        self.folder = None if folder is None else Path(folder)
        self.lease, self.me = lease, worker_name()
        self.leader = leader  # the leader lock, held while this worker runs (None: a helper)
        self.leads = self.folder is None or leader is not None
        self.held: set[str] = set()
        self.made = 0  # attempts this worker made (the rest were read back from other workers)
        self._lock, self._stop = threading.Lock(), threading.Event()
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            threading.Thread(target=self._heartbeat, daemon=True).start()

    def _path(self, attempt_id: str, kind: str) -> Path:
        return self.folder / f"{attempt_id.replace('/', '__')}.{kind}"

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease / 5):
            with self._lock:
                held = list(self.held)
            for attempt_id in held:
                try:
                    os.utime(self._path(attempt_id, "claim"))
                except FileNotFoundError:
                    pass

    def _place(self, final: Path, write: Callable[[Path], None]) -> bool:
        """Write ``final`` under this worker's private name and hard-link it into place, so nobody ever sees it
        half written: True when this one landed, False when another was there first."""
        mine = final.with_name(f"{final.name}.{self.me}")
        try:
            write(mine)
            os.link(mine, final)
            return True
        except FileExistsError:
            return False
        except FileNotFoundError:  # the folder is gone: the leader finished the round
            raise RoundDone() from None
        finally:
            mine.unlink(missing_ok=True)

    def _take(self, attempt_id: str) -> bool:
        """Claim the attempt (a claim is never seen empty: a worker killed while writing it leaves none)."""
        if not self._place(self._path(attempt_id, "claim"), lambda path: path.write_text(self.me)):
            return False
        with self._lock:
            self.held.add(attempt_id)
        return True

    def _stale(self, attempt_id: str) -> bool:
        claim = self._path(attempt_id, "claim")
        try:
            owner, touched = claim.read_text(), claim.stat().st_mtime
        except FileNotFoundError:
            return True
        if not owner:  # not written by this version: give its writer a moment
            return time.time() - touched > 5
        return not _alive(owner) or time.time() - touched > self.lease

    def make(self, attempt_id: str, make: Callable):
        """The attempt's outcome: published by any worker, or made here (``make()``) once claimed; None
        when another worker holds the claim (``wait`` for it after the wave's own attempts)."""
        if self.folder is None:
            self.made += 1
            return make()
        if (out := self.read(attempt_id)) is not None:
            return out
        if not self._take(attempt_id):
            return None
        return self._publish(attempt_id, make())

    def wait(self, attempt_id: str, make: Callable):
        """The outcome another worker claimed: read once published, or made here if that worker died."""
        delay = 0.02
        while (out := self.read(attempt_id)) is None:
            if not self.folder.exists():
                raise RoundDone()
            if self._stale(attempt_id):
                if (out := self.read(attempt_id)) is not None:  # published just before its worker exited
                    return out
                self._path(attempt_id, "claim").unlink(missing_ok=True)
                log.info("attempt %s: its worker is gone, taking it over", attempt_id)
                if self._take(attempt_id):
                    return self._publish(attempt_id, make())
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        return out

    def _publish(self, attempt_id: str, out):
        """Publish the outcome: the first published is the one every worker reads."""
        try:
            if not self._place(self._path(attempt_id, "outcome"), lambda path: write_outcome(path, out)):
                log.info("attempt %s was published by another worker first: using theirs", attempt_id)
        finally:
            with self._lock:
                self.held.discard(attempt_id)
                self.made += 1
        reached("claims.publish")
        return self.read(attempt_id)

    def read(self, attempt_id: str):
        try:
            return read_outcome(self._path(attempt_id, "outcome"))
        except FileNotFoundError:  # not published yet, or the round is done (the caller checks the folder)
            return None

    def close(self, counts: dict | None) -> None:
        """Stop touching claims. The leader, done (``counts``: the round's), removes the folder; a helper
        removes it only when it holds nothing (it found the round done). The folder is made before the
        journal is read, so a helper that read an unfinished journal finds the folder gone later."""
        self._stop.set()
        log.info("this worker made %d of the round's %s attempts%s", self.made,
                 "?" if counts is None else counts.get("attempts", 0), "" if self.leads else "; the leader writes")
        if self.folder is None:
            return
        if self.leads and counts is not None:  # renamed first: helpers see it gone at once, never half-deleted
            done = self.folder.parent.with_name(f"{self.folder.parent.name}.done.{os.getpid()}")
            os.replace(self.folder.parent, done)
            shutil.rmtree(done, ignore_errors=True)
            return
        for folder in (self.folder, self.folder.parent):
            try:
                folder.rmdir()
            except OSError:  # not empty, or gone
                return


def join(attempts: str | Path, key: str, follow: bool = False) -> Claims:
    """This process's part in the round: the leader unless ``follow`` or another process holds the lock (it
    then drops shared attempts made from other inputs), else a helper."""
    leader = None if follow else lead(attempts)
    if leader is None:
        log.info("following: another worker leads %s and writes the outs; this one helps make its attempts",
                 attempts)
    else:
        drop_other_runs(attempts, key)
    return Claims(folder_for(attempts, key), leader=leader)


def lead(attempts: str | Path):
    """The round's leader lock (held until the process ends), or None when another worker holds it."""
    from filelock import FileLock, Timeout

    lock = FileLock(f"{attempts}.leader.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


def folder_for(attempts: str | Path, key: str) -> Path:
    """Where the workers of a round share its attempts: ``<attempts>.work/<run key>``; folders of other
    run keys there are from other inputs."""
    return Path(f"{attempts}.work") / key


def drop_other_runs(attempts: str | Path, key: str) -> None:
    """Remove shared attempts made from other inputs (the leader, before it starts)."""
    root = Path(f"{attempts}.work")
    for folder in [*(root.glob("*") if root.exists() else ()), *root.parent.glob(f"{root.name}.done.*")]:
        if folder.name != key:
            shutil.rmtree(folder, ignore_errors=True)


def write_outcome(path: Path, out) -> None:
    """An Outcome as an Arrow file: the sample (if any) as one SAMPLES row, the rest in the metadata."""
    meta = {"reason": out.reason, "image_id": out.image_id, "calls": calls_json(out.calls), "notes": out.notes,
            "started": out.started}
    table = pa.Table.from_pylist([out.sample] if out.sample is not None else [], schemas.SAMPLES)
    table = table.replace_schema_metadata({"outcome": json.dumps(meta)})
    with open(path, "wb") as sink:
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        sink.flush()
        os.fsync(sink.fileno())  # complete on disk before it is linked into place


def read_outcome(path: Path):
    from pipeline.generation.generate import Outcome

    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    meta = json.loads(table.schema.metadata[b"outcome"])
    rows = table.to_pylist()
    return Outcome(rows[0] if rows else None, meta["reason"], meta["image_id"],
                   [Call(**c) for c in json.loads(meta["calls"])], meta["notes"], meta["started"])
