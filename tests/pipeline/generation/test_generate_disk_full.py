"""A disk that fills while generate runs: the stage fails with what to do, the journal keeps every attempt
it recorded, and once there is room the rerun resumes to the uninterrupted result."""

import subprocess

import pytest

from tests.disks import fill, small_disk
from tests.pipeline.generation.test_resume import REPO, command, env, inputs, once_recorded, recorded
from tests.pipeline.generation.test_workers import result

pytestmark = pytest.mark.slow  # mounts a tmpfs and runs the stage in subprocesses


def test_generate_on_a_disk_that_fills_fails_clearly_and_resumes(world_pool, tmp_path):
    args = inputs(world_pool, tmp_path)
    whole = tmp_path / "whole"
    subprocess.run(command(args, whole), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)

    with small_disk(tmp_path / "small", 32) as small:
        out = small / "round"
        proc = subprocess.Popen(command(args, out), cwd=REPO, env=env(), text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        once_recorded(proc, out)
        filler = fill(small)
        log = proc.communicate(timeout=300)[0]
        assert proc.returncode == 1, f"the stage did not meet the full disk:\n{log[-2000:]}"
        assert "disk full" in log and "Traceback" not in log and "rerun" in log, log[-3000:]
        assert 8 <= recorded(out) < len(result(whole)["attempts"])  # what was recorded is still readable

        filler.unlink()
        subprocess.run(command(args, out), cwd=REPO, env=env(), check=True, capture_output=True, timeout=300)
        assert result(out) == result(whole)
