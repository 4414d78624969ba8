"""Stage edges: the full-disk report names the device with the least room first; a named point kills the process
on the pass DPE_KILL_AT asks for."""

from pipeline.run import runtime
from tests.disks import fill, small_disk


def test_free_space_puts_the_device_with_least_room_first_whatever_its_size(tmp_path):
    with small_disk(tmp_path / "big", 64) as big, small_disk(tmp_path / "small", 4) as small:
        fill(big, leave=8 * 2**20)  # 8 MiB free, 12% of it: a big disk nearly full still has more room
        report = runtime.free_space([str(big / "lake"), str(small / "cache"), "s3://bucket/lake"])
    assert [place for place, _, _ in report] == [str(small), str(big)]
    assert report[0][1] < report[1][1] and report[0][2] < report[1][2]


def test_a_named_point_kills_the_process_on_the_pass_asked_for_and_only_then():
    import os
    import signal
    import subprocess
    import sys

    from pipeline.run.runtime import KILL_AT

    code = "from pipeline.run.runtime import reached\nfor i in range(3):\n    reached('a')\n    print(i, flush=True)"
    runs = {spec: subprocess.run([sys.executable, "-c", code], env=os.environ | {KILL_AT: spec}, capture_output=True,
                                 text=True, timeout=60) for spec in ("a:2", "b:1,a:3", "a:4", "")}
    assert runs["a:2"].returncode == -signal.SIGKILL and runs["a:2"].stdout.split() == ["0"]
    assert runs["b:1,a:3"].returncode == -signal.SIGKILL and runs["b:1,a:3"].stdout.split() == ["0", "1"]
    assert "killing this process at a, pass 2" in runs["a:2"].stderr
    for spec in ("a:4", ""):  # never reached that often, or unset: nothing happens
        assert runs[spec].returncode == 0 and runs[spec].stdout.split() == ["0", "1", "2"]
