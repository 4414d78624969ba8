"""A disk that fills while generate runs: the stage fails with what to do, the journal keeps every attempt
it recorded, and once there is room the rerun resumes to the uninterrupted result. The run is first stopped at a
known point (its second journal append), then resumed on the full disk, so the disk fills at the same place in
the work on every machine."""

import signal
import subprocess

import pytest

from pipeline.run.runtime import KILL_AT
from pipeline.storage import schemas
from tests.disks import fill, small_disk
from tests.pipeline.generation.test_resume import REPO, command, env, inputs, result, rows

pytestmark = pytest.mark.slow  # mounts a tmpfs and runs the stage in subprocesses


def test_generate_on_a_disk_that_fills_fails_clearly_and_resumes(world_pool, tmp_path):
    args = inputs(world_pool, tmp_path)
    whole = tmp_path / "whole"
    subprocess.run(command(args, whole), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)

    with small_disk(tmp_path / "small", 32) as small:
        out = small / "round"
        stopped = subprocess.run(command(args, out), cwd=REPO, env=env() | {KILL_AT: "journal.flush:2"},
                                 capture_output=True, timeout=300)
        assert stopped.returncode == -signal.SIGKILL
        filler = fill(small)
        proc = subprocess.run(command(args, out), cwd=REPO, env=env(), text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=300)
        log = proc.stdout
        assert proc.returncode == 1, f"the stage did not meet the full disk:\n{log[-2000:]}"
        assert "disk full" in log and "Traceback" not in log and "rerun" in log, log[-3000:]
        recorded = len(rows(out, "attempts", schemas.ATTEMPTS))  # what was recorded is still readable
        assert 8 <= recorded < len(result(whole)["attempts"])

        filler.unlink()
        subprocess.run(command(args, out), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)
        assert result(out) == result(whole)
