"""The lake: plain functions over lancedb tables, and the manifests that pin a table version.

Each stage that changes a table writes a manifest (table URI, Lance version, tag, row count) as its
DVC out. Readers open the table *at that version* (by its tag), so a round reads the pool as it was even
after the pool grows, and the tag keeps that version safe from cleanup.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import pyarrow as pa

from pipeline.run.runtime import is_remote, reached
from pipeline.storage.schemas import Manifest

log = logging.getLogger(__name__)

# The lake's tables. Their Arrow schemas are in pipeline/storage/schemas.py.
POOL = "pool"
QUARANTINE = "quarantine"
VECTORS = "pool_vectors"


def vectors_table(dim: int) -> str:
    """The vectors table for ``dim``-wide embeddings: one per width, so switching to a CLIP of another width
    adds a table beside the other width's (rows stay keyed by model fingerprint within each)."""
    return f"{VECTORS}_{dim}"


def connect(lake: str | Path):
    import lancedb

    return lancedb.connect(lake)


def _db_and_name(path: str | Path) -> tuple[Path, str]:
    path = Path(path)
    if path.suffix != ".lance":
        raise ValueError(f"{path}: a Lance table path ends in .lance")
    return path.parent, path.name.removesuffix(".lance")


def open_path(path: str | Path):
    """A single Lance table given by its folder (``<db>/<name>.lance``), as round artifacts are passed."""
    db, name = _db_and_name(path)
    return connect(db).open_table(name)


def append_path(path: str | Path, table: pa.Table) -> None:
    """Append ``table``'s rows to the Lance table at ``path``."""
    if table.num_rows:
        open_path(path).add(table)


def write_path(path: str | Path, table: pa.Table) -> None:
    """Write ``table`` as the Lance table at ``path`` (a ``.lance`` folder), replacing what was there."""
    db, name = _db_and_name(path)
    connect(db).create_table(name, table, mode="overwrite")


PRIMARY_KEY = b"lance-schema:unenforced-primary-key"


def keyed(schema: pa.Schema, key: str | list[str]) -> pa.Schema:
    """``schema`` with ``key`` declared the table's primary key (its columns not null). Lance then records the
    keys each merge inserts and retries a commit that races another inserting the same new keys, instead of
    committing both as duplicate rows: what makes concurrent writers safe on an object store, where no lock
    file can serve."""
    names = {key} if isinstance(key, str) else set(key)
    return pa.schema([f.with_nullable(False).with_metadata({**(f.metadata or {}), PRIMARY_KEY: b"true"})
                      if f.name in names else f for f in schema], metadata=schema.metadata)


def declares_key(table, key: str | list[str]) -> bool:
    names = {key} if isinstance(key, str) else set(key)
    return all(PRIMARY_KEY in (table.schema.field(n).metadata or {}) for n in names)


def open_or_create(lake: str, name: str, schema: pa.Schema, key: str | list[str] | None = None, wait: float = 30.0):
    """The lake table ``name``, created empty with ``schema`` (and ``key`` declared its primary key) if missing.
    Another writer may be creating it meanwhile: a table listed but not yet readable is waited for (``wait`` s)."""
    db, deadline = connect(lake), time.monotonic() + wait
    while True:
        if name in db.list_tables().tables:
            try:
                return _checked(db.open_table(name), lake, name, schema, key)
            except ValueError as err:  # listed before its first version is committed
                if "not found" not in str(err):
                    raise
        else:
            try:
                return db.create_table(name, schema=keyed(schema, key) if key is not None else schema)
            except (ValueError, RuntimeError) as err:  # another writer created it between the listing and here
                if "already exists" not in str(err) and "commit conflict" not in str(err):
                    raise
        if time.monotonic() > deadline:
            raise RuntimeError(f"lake table {lake}/{name}.lance is listed but has no readable version after "
                               f"{wait:.0f} s (a writer that died while creating it?); move it away and rerun")
        time.sleep(0.05)


def _checked(table, lake: str, name: str, schema: pa.Schema, key):
    table.checkout_latest()
    missing = [f.name for f in schema if f.name not in table.schema.names]
    if missing:
        raise ValueError(f"lake table {lake}/{name}.lance lacks columns {missing} (written by an older "
                         f"version of this project); move it away and rerun `dvc repro` to rebuild it")
    if key is not None and not declares_key(table, key) and _remote(table):
        log.warning("lake table %s/%s.lance predates declared keys: two writers at once may duplicate rows "
                    "there; run one writer at a time, or move it away and rerun to rebuild it", lake, name)
    return table


def _remote(table) -> bool:
    return is_remote(table.to_lance().uri)


def writer_lock(table):
    """One writer at a time per local table, on a lock file beside it: tables of older lakes have no declared
    key (``keyed``), and Lance commits two concurrent merge_inserts of the same new key there as two rows
    (measured: two ingests of overlapping sources duplicated every shared image). Object stores have no lock
    file; their tables rely on the declared key."""
    from contextlib import nullcontext

    from filelock import FileLock

    if _remote(table):
        return nullcontext()
    return FileLock(table.to_lance().uri.removeprefix("file://").rstrip("/") + ".lock")


def merge(table, rows: pa.Table, key: str | list[str], update: bool = False) -> int:
    """Insert rows whose ``key`` (a column or several) is new (and replace existing ones if ``update``); returns rows written."""
    if rows.num_rows == 0:
        return 0
    with writer_lock(table):
        table.checkout_latest()  # a stale handle would duplicate rows
        builder = table.merge_insert(key).when_not_matched_insert_all()
        if update:
            builder = builder.when_matched_update_all()
        result = builder.execute(rows.cast(table.schema) if declares_key(table, key) else rows)
    reached("lake.merge")
    return result.num_inserted_rows + result.num_updated_rows


def index_key(table, column: str = "image_id", changed: bool = True) -> None:
    """A BTREE scalar index on ``column``, so ``fetch_rows`` looks rows up by id instead of scanning the
    column (measured at 100k rows: benchmarks/fetch_rows.py); rows added later are folded in by
    ``optimize()`` when ``changed`` (until then they are scanned, still found)."""
    from lancedb.index import BTree

    with writer_lock(table):
        table.checkout_latest()
        if any(ix.columns == [column] for ix in table.list_indices()):
            if changed:
                table.optimize()
        elif table.count_rows():
            table.create_index(column, config=BTree())


def has_vector_index(table) -> bool:
    return any("vector" in ix.columns for ix in table.list_indices())


FILTERED = ("model", "image_type")  # the columns every vector search filters on (pipeline/pool/search.py)


def maintain_index(table, threshold: int, partitions: int = 0, changed: bool = True) -> str:
    """Exact search below ``threshold`` rows; at or above it an IVF_FLAT index (cosine), built once after
    the bulk write, with BITMAP indexes on the filtered columns (so a prefiltered query looks its rows up
    instead of scanning them: at 1M vectors the type filter's cost, benchmarks/search_latency.py); later
    ``optimize()`` folds new rows into all of them."""
    from lancedb.index import Bitmap, IvfFlat

    if has_vector_index(table):
        indexed = {c for ix in table.list_indices() for c in ix.columns}
        for column in FILTERED:
            if column not in indexed:  # a lake indexed before the filters were
                table.create_index(column, config=Bitmap())
        if changed:
            table.optimize()
        return "ivf_flat"
    rows = table.count_rows()
    if rows < threshold:
        return "flat"
    parts = partitions or max(1, round(math.sqrt(rows)))
    log.info("building IVF_FLAT index over %d vectors (%d partitions)", rows, parts)
    table.create_index("vector", config=IvfFlat(distance_type="cosine", num_partitions=parts))
    for column in FILTERED:
        table.create_index(column, config=Bitmap())
    return "ivf_flat"


def pin(table, lake: str, stage: str) -> Manifest:
    """Tag the table's current version for ``stage`` and describe it in a manifest."""
    table.checkout_latest()
    version = table.version
    tag = f"{stage}-v{version}"
    if tag not in table.tags.list():
        table.tags.create(tag, version)
    reached("lake.pin")
    return Manifest(lake=lake, table=table.name, version=version, tag=tag, rows=table.count_rows())


class LakeMissing(LookupError):
    """The lake does not hold a pinned version (a fresh clone: the lake is not a DVC out)."""


def open_pinned(manifest: Manifest):
    """The table exactly as the manifest saw it, opened by the pin's tag: the tag is the pin, so a lake rebuilt
    from the same sources (pipeline/pool/restore.py) is read at the version that holds the same rows."""
    try:
        table = connect(manifest.lake).open_table(manifest.table)
        table.checkout(manifest.tag)
    except (ValueError, FileNotFoundError, OSError) as err:
        raise LakeMissing(f"{manifest.lake}/{manifest.table} does not hold the pinned version {manifest.tag} "
                          f"({err}); a stage that reads it rebuilds it from pool.sources when it can") from None
    return table


def fetch_rows(table, ids: list[str], columns: list[str]) -> pa.Table:
    """Rows of ``table`` whose image_id is in ``ids``, in the order of ``ids``: one read for all of them
    (through the scalar index on image_id when the table has one, ``index_key``)."""
    if not ids:
        return pa.table({c: [] for c in columns})
    import pyarrow.compute as pc

    wanted = pc.field("image_id").isin(pa.array(ids, pa.string()))
    rows = table.to_lance().to_table(columns=columns, filter=wanted)
    order = {iid: k for k, iid in enumerate(rows["image_id"].to_pylist())}
    return rows.take([order[i] for i in ids if i in order])
