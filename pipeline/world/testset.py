"""The test set: fresh world items, drawn once per world version with their own seed, that no stage reads and
no choice is made on, so the claims of a result (``benchmarks/``) come from items nothing was tuned on.

Its images exclude every image of the pool and of the sft, clip, probe, evaluation and dev sets, by id (the
bytes' hash) and by perceptual hash (a re-render of the same drawing at other bytes is the same picture). The
manifest beside it names the draw: the seed, the world version (the world's params and the code that renders
it) and the file's hash; a result on the test set is keyed by that draw.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import imagehash
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipeline.storage import schemas
from pipeline.storage.images import image_id
from pipeline.world.params import TestSetConfig, WorldConfig
from pipeline.world.questions import CELLS
from pipeline.world.world import labelled_items

log = logging.getLogger(__name__)


def picture(data: bytes) -> int:
    """A 64-bit perceptual hash of an image (``imagehash.phash``)."""
    return int(str(imagehash.phash(Image.open(io.BytesIO(data)))), 16)


def world_version(world: WorldConfig, seed: int) -> str:
    """The world's params, seed and rendering code: what the test set must be redrawn for."""
    from pipeline.run.deps import code_hash

    return hashlib.sha256(f"{world.model_dump_json()}:{seed}:{code_hash(__file__)}".encode()).hexdigest()[:16]


def excluded(paths: list[str | Path]) -> tuple[set[str], set[int]]:
    """(image ids, perceptual hashes) of every image in the world's parquet files at ``paths``."""
    ids, pictures = set(), set()
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(columns=["image"], batch_size=1024):
            for data in batch.column("image").to_pylist():
                ids.add(image_id(data))
                pictures.add(picture(data))
    return ids, pictures


def draw_test_set(world: WorldConfig, cfg: TestSetConfig, ids: set[str], pictures: set[int]) -> tuple[list, dict]:
    """``cfg.per_cell`` items of every cell whose image is in neither exclusion set (nor drawn twice); (rows,
    counts of the draws skipped by id and by picture)."""
    counts = {"by_id": 0, "by_picture": 0}

    def new(item: dict) -> bool:
        if item["image_id"] in ids:
            counts["by_id"] += 1
            return False
        seen = picture(item["image"])
        if seen in pictures:
            counts["by_picture"] += 1
            return False
        ids.add(item["image_id"])
        pictures.add(seen)
        return True

    rows = labelled_items("test", cfg.seed, [c for c in CELLS for _ in range(cfg.per_cell)], world.image_size,
                          set(), keep=new)
    return rows, counts


def write_test_set(world: WorldConfig, world_seed: int, cfg: TestSetConfig, sources: list[str], out: str,
                   manifest: str) -> dict:
    """Draw and write the test set and its manifest; returns the manifest."""
    ids, pictures = excluded(sources)
    rows, skipped = draw_test_set(world, cfg, ids, pictures)
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.WORLD_ITEMS), out)
    info = {"seed": cfg.seed, "per_cell": cfg.per_cell, "world_version": world_version(world, world_seed),
            "rows": len(rows), "sha256": hashlib.sha256(Path(out).read_bytes()).hexdigest()[:16],
            "excluded_images": len(ids) - len(rows), "skipped": skipped}
    Path(manifest).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    log.info("test set: %s", info)
    return info
