"""Pool sources: read image bytes from folders, parquet/Arrow tables, Lance datasets and object storage.

Every URI goes through fsspec, so ``s3://``, ``gs://``, ``az://``, ``memory://`` and plain paths work
the same (object stores need their fsspec package, e.g. ``s3fs``). A reader yields batches of
``Record``s; a file that cannot be read becomes a record with an ``error`` (quarantined by ingest as
``unreadable``), never an exception that stops the stage.
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass
from typing import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.pool.params import SourceConfig

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
TABLE_KINDS = {".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
               ".lance": "lance"}


@dataclass(frozen=True)
class Record:
    source: str              # where the image came from: a file URI, or <table URI>#<row>, or the uri column
    data: bytes | None
    error: str = ""          # why ``data`` is missing (a path that could not be read)


class SourceError(ValueError):
    """A source that cannot be read at all; the message names it and the fix."""


def _fs(uri: str):
    return fsspec.core.url_to_fs(uri)


def _unstrip(fs, path: str) -> str:
    """The path as a URI again, with the protocol the user gave (plain for local files)."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return path if "file" in protocols else fs.unstrip_protocol(path)


def detect_kind(src: SourceConfig) -> str:
    if src.kind != "auto":
        return src.kind
    fs, path = _fs(src.uri)
    suffix = posixpath.splitext(path.rstrip("/"))[1].lower()
    if suffix in TABLE_KINDS and fs.exists(path):
        return TABLE_KINDS[suffix]
    if fs.isdir(path):
        return "lance" if fs.exists(posixpath.join(path, "_versions")) else "folder"
    if not fs.exists(path):
        raise SourceError(f"pool.sources: {src.uri!r} does not exist; fix the path or remove the source")
    raise SourceError(f"pool.sources: cannot tell what {src.uri!r} is (suffix {suffix or 'none'}); "
                      "set its kind to folder, parquet, arrow or lance")


def _is_local(fs) -> bool:
    return "file" in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol)


def inside(fs, path: str, root: str) -> bool:
    """Whether ``path`` is within the folder ``root`` once ``..`` and (locally) symlinks are resolved: a source
    reads its own files, never what a hostile name or link points at.

    >>> import fsspec
    >>> memory = fsspec.filesystem("memory")
    >>> inside(memory, "/pool/a/b.png", "/pool"), inside(memory, "/pool/../etc/passwd", "/pool")
    (True, False)
    """
    if _is_local(fs):
        path, root = os.path.realpath(path), os.path.realpath(root)
        return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
    path, root = posixpath.normpath(path), posixpath.normpath(root)
    return path.startswith(root.rstrip("/") + "/")


def _refused(fs, path: str, name: str | None, root: str) -> Record:
    return Record(name or _unstrip(fs, path), None,
                  f"refused: resolves outside {root} (a '..' or a symbolic link out of the source)")


def _file_record(fs, path: str, name: str | None = None) -> Record:
    """The file's bytes, or why they could not be read (missing, permission denied, a folder, I/O error)."""
    name = name or _unstrip(fs, path)
    try:
        return Record(name, fs.cat_file(path))
    except (OSError, ValueError) as err:
        return Record(name, None, f"{type(err).__name__}: {err}"[:200])


@dataclass(frozen=True)
class Unit:
    """A piece of a source that one worker reads on its own: a list of files, or one row group, Lance
    fragment or Arrow batch of a table. ``first_row`` numbers rows for sources without a uri column."""

    kind: str
    part: int = 0
    first_row: int = 0
    version: int | None = None  # Lance: the dataset version planned, so parts cannot shift under a writer
    paths: tuple[str, ...] = ()
    value: str = ""
    columns: tuple[str, ...] = ()


def _folder_units(src: SourceConfig, files_per_unit: int) -> list[Unit]:
    fs, root = _fs(src.uri)
    root = root.rstrip("/")
    if src.glob:
        files = sorted(fs.glob(posixpath.join(root, src.glob)))
    else:
        files = sorted(p for p in fs.find(root) if posixpath.splitext(p)[1].lower() in IMAGE_EXTENSIONS)
    log.info("source %s: %d image files", src.uri, len(files))
    return [Unit("folder", paths=tuple(files[i:i + files_per_unit])) for i in range(0, len(files), files_per_unit)]


def _open_ipc(fh):
    try:
        return pa.ipc.open_file(fh)
    except pa.ArrowInvalid:
        fh.seek(0)
        return None


def _table_parts(src: SourceConfig, kind: str) -> tuple[list[str], list[int], int | None]:
    """Column names, the row count of each part (row group, fragment, batch) and the Lance version."""
    if kind == "lance":
        import lance

        ds = lance.dataset(src.uri)
        return ds.schema.names, [f.count_rows() for f in ds.get_fragments()], ds.version
    fs, path = _fs(src.uri)
    with fs.open(path, "rb") as fh:
        if kind == "parquet":
            meta = pq.ParquetFile(fh).metadata
            sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            return meta.schema.to_arrow_schema().names, sizes, None
        reader = _open_ipc(fh)
        if reader is None:  # a stream has no index: one part
            return pa.ipc.open_stream(fh).schema.names, [-1], None
        return reader.schema.names, [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)], None


def _table_units(src: SourceConfig, kind: str) -> list[Unit]:
    names, sizes, version = _table_parts(src, kind)
    if src.image_column in names:
        value = src.image_column
    elif src.path_column in names:
        value = src.path_column
    else:
        raise SourceError(f"pool.sources: {src.uri!r} has neither an image-bytes column {src.image_column!r} nor a "
                          f"path column {src.path_column!r} (columns: {names}); set image_column or path_column")
    columns = (value,) + ((src.uri_column,) if src.uri_column in names else ())
    units, first = [], 0
    for part, size in enumerate(sizes):
        units.append(Unit(kind, part, first, version, value=value, columns=columns))
        first += max(size, 0)
    return units


def plan(src: SourceConfig, files_per_unit: int = 1024) -> list[Unit]:
    """The units of a source; raises ``SourceError`` (naming the source and the fix) if it cannot be read."""
    kind = detect_kind(src)
    return _folder_units(src, files_per_unit) if kind == "folder" else _table_units(src, kind)


def _part_batches(src: SourceConfig, unit: Unit, batch_size: int) -> Iterator[pa.RecordBatch]:
    columns = list(unit.columns)
    if unit.kind == "lance":
        import lance

        fragment = lance.dataset(src.uri, version=unit.version).get_fragments()[unit.part]
        yield from fragment.to_batches(columns=columns, batch_size=batch_size)
        return
    fs, path = _fs(src.uri)
    with fs.open(path, "rb") as fh:
        if unit.kind == "parquet":
            yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_size, columns=columns,
                                                       row_groups=[unit.part])
            return
        reader = _open_ipc(fh)
        batches = [reader.get_batch(unit.part)] if reader is not None else list(pa.ipc.open_stream(fh))
        for batch in batches:
            yield from pa.Table.from_batches([batch.select(columns)]).to_batches(max_chunksize=batch_size)


def _table_records(src: SourceConfig, unit: Unit, batch_size: int) -> Iterator[list[Record]]:
    fs, table_path = _fs(src.uri)
    base = posixpath.dirname(table_path.rstrip("/"))
    row, has_uri = unit.first_row, src.uri_column in unit.columns
    for batch in _part_batches(src, unit, batch_size):
        values = batch.column(unit.value).to_pylist()
        uris = batch.column(src.uri_column).to_pylist() if has_uri else [None] * len(values)
        records = []
        for i, (v, uri) in enumerate(zip(values, uris)):
            name = uri or f"{src.uri}#{row + i}"
            if unit.value == src.image_column:
                records.append(Record(name, v))
            elif not v:
                records.append(Record(name, None, f"empty path in column {unit.value!r}"))
            else:
                pfs, ppath = _fs(v) if "://" in v else (fs, v if posixpath.isabs(v) else posixpath.join(base, v))
                local = "://" not in v
                records.append(_file_record(pfs, ppath, uri) if not local or inside(pfs, ppath, base)
                               else _refused(pfs, ppath, uri, base))
        row += len(values)
        yield records


def read_unit(src: SourceConfig, unit: Unit, batch_size: int = 1024) -> Iterator[list[Record]]:
    """Batches of records of one unit; unreadable files become records with an ``error``."""
    if unit.kind != "folder":
        yield from _table_records(src, unit, batch_size)
        return
    fs, root = _fs(src.uri)
    for start in range(0, len(unit.paths), batch_size):
        yield [_file_record(fs, path) if inside(fs, path, root) else _refused(fs, path, None, root)
               for path in unit.paths[start:start + batch_size]]


def read_source(src: SourceConfig, batch_size: int = 1024) -> Iterator[list[Record]]:
    """Batches of records from one source; raises ``SourceError`` before yielding if it cannot be read."""
    units = plan(src, batch_size)
    return (records for unit in units for records in read_unit(src, unit, batch_size))
