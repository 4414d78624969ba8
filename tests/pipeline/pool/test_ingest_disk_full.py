"""A full disk during ingest: the stage fails with what to do, the previous pin still reads, nothing is
duplicated, and once there is room the rerun finishes."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.storage import artifacts, lake
from pipeline.storage.images import encode_png
from tests.disks import fill, small_disk

pytestmark = pytest.mark.slow  # mounts a tmpfs and runs the stage in subprocesses

REPO = Path(__file__).resolve().parents[3]


def noise_source(path: Path, seed: int, n: int = 150) -> Path:
    """Images that do not compress (about 12 KiB each as PNG), so a few hundred fill a small disk."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = [encode_png(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))) for _ in range(n)]
    pq.write_table(pa.table({"image": images}), path)
    return path


def ingest(tmp: Path, sources: list[Path], lake_uri: Path) -> subprocess.CompletedProcess:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["pool"] |= {"sources": [str(s) for s in sources], "lake": str(lake_uri), "batch_size": 50}
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", "stages.ingest", "--params", str(tmp / "params.yaml"),
                           "--manifest", str(tmp / "ingest.json"), "--metrics", str(tmp / "m.json"),
                           "--listed", str(tmp / "listed.parquet")], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"})


def ids(table) -> list[str]:
    return table.to_arrow().column("image_id").to_pylist()


def test_ingest_on_a_full_disk_fails_clearly_and_keeps_the_previous_pin(tmp_path):
    a, b = noise_source(tmp_path / "a.parquet", 0), noise_source(tmp_path / "b.parquet", 1)
    with small_disk(tmp_path / "small", 16) as small:
        first = ingest(tmp_path, [a], small / "lake")
        assert first.returncode == 0, first.stderr[-2000:]
        pinned = (tmp_path / "ingest.json").read_bytes()
        before = sorted(ids(lake.open_pinned(artifacts.read_manifest(tmp_path / "ingest.json"))))
        assert len(before) == 150

        filler = fill(small, leave=600 * 1024)  # room for a batch or two of b's 150 images, not all of them
        full = ingest(tmp_path, [a, b], small / "lake")
        assert full.returncode == 1
        assert "disk full" in full.stderr and "Traceback" not in full.stderr, full.stderr[-3000:]
        fullest = re.search(r"where this stage reads and writes: ([^;]+): ([\d.]+) MiB free of 16.0 MiB", full.stderr)
        assert fullest and fullest.group(1).startswith(str(small)), full.stderr  # the full device comes first
        assert float(fullest.group(2)) < 1 and "rerun" in full.stderr
        assert (tmp_path / "ingest.json").read_bytes() == pinned  # the pin was not moved
        manifest = artifacts.read_manifest(tmp_path / "ingest.json")
        assert sorted(ids(lake.open_pinned(manifest))) == before  # and still reads what it read
        latest = ids(lake.connect(str(small / "lake")).open_table(lake.POOL))
        assert len(latest) == len(set(latest)) and set(before) <= set(latest) and len(latest) < 300

        filler.unlink()
        again = ingest(tmp_path, [a, b], small / "lake")
        assert again.returncode == 0, again.stderr[-2000:]
        after = ids(lake.open_pinned(artifacts.read_manifest(tmp_path / "ingest.json")))
        assert len(after) == len(set(after)) == 300 and set(before) <= set(after)
