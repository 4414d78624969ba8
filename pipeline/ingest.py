"""Ingest image sources into the pool table: content-hash ids, checks, quarantine, incremental merge.

A source is a parquet file (``image`` bytes column, optional ``uri``) or a folder of image files.
Rows already in the pool (same bytes) are skipped, so re-ingesting grown sources only adds the new
images. Bad inputs never stop the stage: they go to the quarantine table with a reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline import lake
from pipeline.images import check_image, image_id

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
Batch = list[tuple[str, bytes | None]]


def _parquet_batches(path: Path, batch_size: int) -> Iterator[Batch]:
    pf = pq.ParquetFile(path)
    if "image" not in pf.schema_arrow.names:
        raise ValueError(f"pool source {path}: no 'image' column (found {pf.schema_arrow.names}); "
                         "write image bytes to a column named 'image'")
    columns = ["image"] + (["uri"] if "uri" in pf.schema_arrow.names else [])
    offset = 0
    for rb in pf.iter_batches(batch_size=batch_size, columns=columns):
        images = rb.column("image").to_pylist()
        uris = rb.column("uri").to_pylist() if "uri" in columns else [
            f"{path}#{offset + i}" for i in range(len(images))]
        offset += len(images)
        yield list(zip(uris, images))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _folder_batches(path: Path, batch_size: int) -> Iterator[Batch]:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    for start in range(0, len(files), batch_size):
        yield [(str(p), _read(p)) for p in files[start:start + batch_size]]


def source_batches(uri: str, batch_size: int = 1024) -> Iterator[Batch]:
    path = Path(uri)
    if path.is_dir():
        return _folder_batches(path, batch_size)
    if path.suffix == ".parquet" and path.exists():
        return _parquet_batches(path, batch_size)
    raise ValueError(f"pool.sources: {uri!r} is neither a folder nor an existing .parquet file")


def ingest(sources: list[str], lake_uri: str, max_pixels: int) -> tuple[lake.Manifest, dict[str, int]]:
    pool = lake.open_or_create(lake_uri, lake.POOL, lake.POOL_SCHEMA)
    quarantine = lake.open_or_create(lake_uri, lake.QUARANTINE, lake.QUARANTINE_SCHEMA)
    counts: Counter[str] = Counter()
    for uri in sources:
        for batch in tqdm(source_batches(uri), desc=f"ingest {uri}", unit="batch"):
            good: dict[str, dict] = {}
            bad = []
            for source, data in batch:
                counts["seen"] += 1
                checked = check_image(data, max_pixels)
                if checked.reason:
                    bad.append({"source": source, "reason": checked.reason, "detail": checked.detail})
                    counts[f"quarantined.{checked.reason}"] += 1
                    continue
                iid = image_id(data)
                if iid in good:
                    good[iid]["sources"].append(source)
                    continue
                good[iid] = {"image_id": iid, "sources": [source], "image": data, "width": checked.width,
                             "height": checked.height, "format": checked.format}
            counts["added"] += lake.merge(pool, pa.Table.from_pylist(list(good.values()), lake.POOL_SCHEMA),
                                          "image_id")
            lake.merge(quarantine, pa.Table.from_pylist(bad, lake.QUARANTINE_SCHEMA), "source")
    manifest = lake.pin(pool, lake_uri, "ingest")
    counts["quarantined.total"] = sum(v for k, v in counts.items() if k.startswith("quarantined."))
    counts["rows"] = manifest.rows
    log.info("ingest: %s", dict(counts))
    return manifest, dict(counts)
