"""The lake: plain functions over lancedb tables, and the manifests that pin a table version.

Each stage that changes a table writes a manifest (table URI, Lance version, tag, row count) as its
DVC out. Readers open the table *at that version*, so a round reads the pool as it was even after
the pool grows, and the tag keeps that version safe from cleanup.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa

log = logging.getLogger(__name__)

POOL = "pool"
QUARANTINE = "quarantine"
VECTORS = "pool_vectors"

POOL_SCHEMA = pa.schema([
    ("image_id", pa.string()), ("sources", pa.list_(pa.string())), ("image", pa.binary()),
    ("width", pa.int32()), ("height", pa.int32()), ("format", pa.string()),
])
QUARANTINE_SCHEMA = pa.schema([  # image_id is the sha256 of the bytes, empty when nothing could be read
    ("source", pa.string()), ("image_id", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
])


def vectors_schema(dim: int) -> pa.Schema:
    return pa.schema([
        ("image_id", pa.string()), ("model", pa.string()), ("image_type", pa.string()),
        ("width", pa.int32()), ("height", pa.int32()), ("vector", pa.list_(pa.float32(), dim)),
    ])


@dataclass(frozen=True)
class Manifest:
    lake: str
    table: str
    version: int
    tag: str
    rows: int

    def write(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> "Manifest":
        return cls(**json.loads(Path(path).read_text()))


def connect(lake: str):
    import lancedb

    return lancedb.connect(lake)


def open_or_create(lake: str, name: str, schema: pa.Schema):
    db = connect(lake)
    if name in db.list_tables().tables:
        table = db.open_table(name)
        table.checkout_latest()
        missing = [f.name for f in schema if f.name not in table.schema.names]
        if missing:
            raise ValueError(f"lake table {lake}/{name}.lance lacks columns {missing} (written by an older "
                             f"version of this project); move it away and rerun `dvc repro` to rebuild it")
        return table
    return db.create_table(name, schema=schema)


def merge(table, rows: pa.Table, key: str, update: bool = False) -> int:
    """Insert rows whose ``key`` is new (and replace existing ones if ``update``); returns rows written."""
    if rows.num_rows == 0:
        return 0
    table.checkout_latest()  # a stale handle would duplicate rows
    builder = table.merge_insert(key).when_not_matched_insert_all()
    if update:
        builder = builder.when_matched_update_all()
    result = builder.execute(rows)
    return result.num_inserted_rows + result.num_updated_rows


def has_vector_index(table) -> bool:
    return any("vector" in ix.columns for ix in table.list_indices())


def maintain_index(table, threshold: int, partitions: int = 0, changed: bool = True) -> str:
    """Exact search below ``threshold`` rows; at or above it an IVF_FLAT index (cosine), built once after
    the bulk write and afterwards refreshed by ``optimize()``, which folds new rows into it."""
    rows = table.count_rows()
    if has_vector_index(table):
        if changed:
            table.optimize()
        return "ivf_flat"
    if rows < threshold:
        return "flat"
    parts = partitions or max(1, round(math.sqrt(rows)))
    log.info("building IVF_FLAT index over %d vectors (%d partitions)", rows, parts)
    from lancedb.index import IvfFlat

    table.create_index("vector", config=IvfFlat(distance_type="cosine", num_partitions=parts))
    return "ivf_flat"


def pin(table, lake: str, stage: str) -> Manifest:
    """Tag the table's current version for ``stage`` and describe it in a manifest."""
    table.checkout_latest()
    version = table.version
    tag = f"{stage}-v{version}"
    if tag not in table.tags.list():
        table.tags.create(tag, version)
    return Manifest(lake=lake, table=table.name, version=version, tag=tag, rows=table.count_rows())


def open_pinned(manifest: Manifest):
    """The table exactly as the manifest saw it."""
    table = connect(manifest.lake).open_table(manifest.table)
    table.checkout(manifest.version)
    return table


def fetch_rows(table, ids: list[str], columns: list[str]) -> pa.Table:
    """Rows of ``table`` whose image_id is in ``ids``, in the order of ``ids``."""
    if not ids:
        return pa.table({c: [] for c in columns})
    quoted = ", ".join(f"'{i}'" for i in ids)
    rows = table.search().where(f"image_id IN ({quoted})").select(columns).limit(len(ids)).to_arrow()
    order = {iid: k for k, iid in enumerate(rows["image_id"].to_pylist())}
    return rows.take([order[i] for i in ids if i in order])
