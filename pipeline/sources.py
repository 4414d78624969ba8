"""Pool sources: read image bytes from folders, parquet/Arrow tables, Lance datasets and object storage.

Every URI goes through fsspec, so ``s3://``, ``gs://``, ``az://``, ``memory://`` and plain paths work
the same (object stores need their fsspec package, e.g. ``s3fs``). A reader yields batches of
``Record``s; a file that cannot be read becomes a record with an ``error`` (quarantined by ingest as
``unreadable``), never an exception that stops the stage.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass
from typing import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import SourceConfig

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


def _read_file(fs, path: str) -> tuple[bytes | None, str]:
    try:
        return fs.cat_file(path), ""
    except (OSError, ValueError) as err:  # missing, permission denied, a folder, I/O error
        return None, f"{type(err).__name__}: {err}"[:200]


def _folder(src: SourceConfig, batch_size: int) -> Iterator[list[Record]]:
    fs, root = _fs(src.uri)
    root = root.rstrip("/")
    if src.glob:
        files = sorted(fs.glob(posixpath.join(root, src.glob)))
    else:
        files = sorted(p for p in fs.find(root) if posixpath.splitext(p)[1].lower() in IMAGE_EXTENSIONS)
    log.info("source %s: %d image files", src.uri, len(files))
    for start in range(0, len(files), batch_size):
        records = []
        for path in files[start:start + batch_size]:
            data, error = _read_file(fs, path)
            records.append(Record(_unstrip(fs, path), data, error))
        yield records


def _table_batches(src: SourceConfig, kind: str, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    if kind == "lance":
        import lance

        yield from lance.dataset(src.uri).to_batches(columns=columns, batch_size=batch_size)
        return
    fs, path = _fs(src.uri)
    with fs.open(path, "rb") as fh:
        if kind == "parquet":
            yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_size, columns=columns)
            return
        try:
            reader = pa.ipc.open_file(fh)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:
            fh.seek(0)
            batches = iter(pa.ipc.open_stream(fh))
        for batch in batches:
            yield from pa.Table.from_batches([batch.select(columns)]).to_batches(max_chunksize=batch_size)


def _schema_names(src: SourceConfig, kind: str) -> list[str]:
    if kind == "lance":
        import lance

        return lance.dataset(src.uri).schema.names
    fs, path = _fs(src.uri)
    with fs.open(path, "rb") as fh:
        if kind == "parquet":
            return pq.ParquetFile(fh).schema_arrow.names
        try:
            return pa.ipc.open_file(fh).schema.names
        except pa.ArrowInvalid:
            fh.seek(0)
            return pa.ipc.open_stream(fh).schema.names


def _value_column(src: SourceConfig, kind: str) -> tuple[str, list[str]]:
    """The column holding the images (bytes, else paths) and the columns to read."""
    names = _schema_names(src, kind)
    if src.image_column in names:
        value = src.image_column
    elif src.path_column in names:
        value = src.path_column
    else:
        raise SourceError(f"pool.sources: {src.uri!r} has neither an image-bytes column {src.image_column!r} nor a "
                          f"path column {src.path_column!r} (columns: {names}); set image_column or path_column")
    return value, [value] + ([src.uri_column] if src.uri_column in names else [])


def _table(src: SourceConfig, kind: str, value: str, columns: list[str], batch_size: int) -> Iterator[list[Record]]:
    fs, table_path = _fs(src.uri)
    base = posixpath.dirname(table_path.rstrip("/"))
    row = 0
    for batch in _table_batches(src, kind, columns, batch_size):
        values = batch.column(value).to_pylist()
        uris = batch.column(src.uri_column).to_pylist() if src.uri_column in columns else [None] * len(values)
        records = []
        for i, (v, uri) in enumerate(zip(values, uris)):
            name = uri or f"{src.uri}#{row + i}"
            if value == src.image_column:
                records.append(Record(name, v))
            elif not v:
                records.append(Record(name, None, f"empty path in column {value!r}"))
            else:
                pfs, ppath = _fs(v) if "://" in v else (fs, v if posixpath.isabs(v) else posixpath.join(base, v))
                data, error = _read_file(pfs, ppath)
                records.append(Record(uri or _unstrip(pfs, ppath), data, error))
        row += len(values)
        yield records


def read_source(src: SourceConfig, batch_size: int = 1024) -> Iterator[list[Record]]:
    """Batches of records from one source; raises ``SourceError`` before yielding if it cannot be read."""
    kind = detect_kind(src)
    if kind == "folder":
        return _folder(src, batch_size)
    value, columns = _value_column(src, kind)
    return _table(src, kind, value, columns, batch_size)
