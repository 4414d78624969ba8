"""A small disk to fill: a tmpfs mounted for one test (root only, as CI runs; skipped otherwise unless
DPE_REQUIRE_MOUNT is set, which .ci/run does, so CI fails rather than skips)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(path: Path, mib: int):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(path)], capture_output=True,
                          text=True) if os.geteuid() == 0 else None
    if done is None or done.returncode:
        why = "not root" if done is None else done.stderr.strip()
        if os.environ.get("DPE_REQUIRE_MOUNT"):
            pytest.fail(f"cannot mount a small tmpfs for the full-disk test: {why}")
        pytest.skip(f"cannot mount a small tmpfs ({why}); CI runs this as root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path, leave: int = 0) -> Path:
    """A filler file that leaves about ``leave`` bytes free on ``path``'s device; delete it to make room."""
    filler, chunk = path / "filler", b"\xff" * 2**16
    room = shutil.disk_usage(path).free - leave
    with open(filler, "wb") as f:
        try:
            while room > 0:
                room -= f.write(chunk[:room])
                f.flush()
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
    return filler
