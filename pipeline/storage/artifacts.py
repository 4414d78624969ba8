"""Reading and writing the artifacts ``pipeline/storage/schemas.py`` describes: every reader validates, so a file of
another shape fails naming the file and the field, and every writer gives the same bytes for the same content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

from pipeline.storage.schemas import Manifest, SchemaError, conform

Model = TypeVar("Model", bound=BaseModel)


def read_table(path: str | Path, schema: pa.Schema) -> pa.Table:
    """A parquet file or a Lance table (a ``.lance`` folder, at its latest version), validated against ``schema``."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"{path}: not found; run the stage that writes it (dvc repro)")
    if path.suffix == ".lance":
        import lance

        table = lance.dataset(str(path)).to_table()
    else:
        table = pq.read_table(path)
    return conform(table, schema, str(path))


def write_parquet(path: str | Path, rows: list[dict] | pa.Table, schema: pa.Schema) -> None:
    """Rows (or a table, checked against ``schema``) written as the parquet file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = conform(rows, schema, str(path)) if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema)
    pq.write_table(table, path)


def write_json(path: str | Path, obj) -> None:
    """Sorted keys, fixed indent: a rerun with the same content writes the same bytes."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json", exclude_none=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path, model: type[Model]) -> Model:
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"{path}: not found; run the stage that writes it (dvc repro)")
    try:
        return model.model_validate_json(path.read_text())
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SchemaError(f"{path}: field {field!r}: {first['msg']} (expected a {model.__name__}; "
                          f"{err.error_count()} problem(s)); rerun the stage that writes it") from None


def read_manifest(path: str | Path) -> Manifest:
    """A pinned lake table version (ingest.json, embed.json)."""
    return read_json(path, Manifest)
