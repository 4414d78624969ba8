"""The full-disk report names the device with the least room first."""

from pipeline import runtime
from tests.disks import fill, small_disk


def test_free_space_puts_the_device_with_least_room_first_whatever_its_size(tmp_path):
    with small_disk(tmp_path / "big", 64) as big, small_disk(tmp_path / "small", 4) as small:
        fill(big, leave=8 * 2**20)  # 8 MiB free, 12% of it: a big disk nearly full still has more room
        report = runtime.free_space([str(big / "lake"), str(small / "cache"), "s3://bucket/lake"])
    assert [place for place, _, _ in report] == [str(small), str(big)]
    assert report[0][1] < report[1][1] and report[0][2] < report[1][2]
