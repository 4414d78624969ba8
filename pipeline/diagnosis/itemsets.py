"""Probe and evaluation sets from any source, in the one item schema every stage reads.

Item schema (``schemas.ITEMS``): ``item_id``, ``image`` (encoded bytes), ``question``, ``answer``, ``answer_type``
(``choice`` = a letter, ``integer`` or ``word``), ``options`` (list of option texts, empty unless
choice), ``category``, ``image_type``. Kinds of source:

* ``world``: the embedded world's parquet files, already in this schema;
* ``parquet``: a Hugging Face-style table with question, image (bytes, or an ``{bytes, path}`` struct),
  answer, options (a list, a JSON list or empty), category, image type;
* ``tsv``: a VLMEvalKit-style TSV with index, base64 image, question, option columns A, B, C, ...,
  answer, category.

Column names are mapped by params (``columns: {field: source column}``); a missing one fails with a
message naming it. Categories come from the source, whatever they are called.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline.answers.prompts import OPTION_LETTERS as LETTERS
from pipeline.answers.prompts import option_letter
from pipeline.diagnosis.params import ITEM_FIELDS as FIELDS
from pipeline.storage import artifacts, schemas

REQUIRED = ("image", "question", "answer")


class ItemSourceError(ValueError):
    pass


def detect_kind(source: str, kind: str = "auto") -> str:
    if kind != "auto":
        return kind
    path = Path(source)
    if not path.exists():
        raise ItemSourceError(f"{source}: not found; point the source at a .parquet or .tsv file")
    if path.suffix.lower() in (".tsv", ".csv"):
        return "tsv"
    if path.suffix.lower() == ".parquet":
        names = pq.read_schema(path).names
        return "world" if {"answer_type", "item_id"} <= set(names) else "parquet"
    raise ItemSourceError(f"{source}: cannot tell the kind from the suffix; set kind to world, parquet or tsv")


def answer_type(answer: str, options: list[str]) -> str:
    if options:
        return "choice"
    return "integer" if re.fullmatch(r"-?\d+", answer.strip().replace(",", "")) else "word"


def _column(frame_columns: list[str], field: str, columns: dict[str, str], name: str, required: bool) -> str | None:
    col = columns.get(field, field)
    if col in frame_columns:
        return col
    if required:
        raise ItemSourceError(f"{name}: no column {col!r} for the {field} (columns: {frame_columns}); "
                              f"map it with columns: {{{field}: <column name>}}")
    return None


def _image_bytes(value) -> bytes:
    if isinstance(value, dict):  # Hugging Face Image feature
        if value.get("bytes"):
            return value["bytes"]
        return Path(value["path"]).read_bytes()
    if isinstance(value, str):
        return base64.b64decode(value)
    return value


def _options(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ItemSourceError(f"options {value!r}: expected a list or a JSON list") from None
    return [str(v) for v in value]


def _rows(frame: pl.DataFrame, name: str, columns: dict[str, str], option_columns: list[str]) -> list[dict]:
    cols = frame.columns
    found = {f: _column(cols, f, columns, name, f in REQUIRED) for f in FIELDS}
    items = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        if option_columns:
            options = [row[c] for c in option_columns if row[c]]  # TSV cells are read as strings
        else:
            options = _options(row[found["options"]]) if found["options"] else []
        answer = str(row[found["answer"]])
        if options:
            letter = option_letter(answer, options)
            if letter is None:
                raise ItemSourceError(f"answer {answer!r} is neither an option letter nor an option text of {options}")
            answer = letter
        items.append({
            "item_id": str(row[found["index"]]) if found["index"] else f"{Path(name).stem}-{i:06d}",
            "image": _image_bytes(row[found["image"]]), "question": str(row[found["question"]]),
            "answer": answer, "answer_type": answer_type(answer, options), "options": options,
            "category": str(row[found["category"]]) if found["category"] else "all",
            "image_type": str(row[found["image_type"]]) if found["image_type"] else "image",
        })
    return items


def load_items(source: str, kind: str = "auto", columns: dict[str, str] | None = None) -> list[dict]:
    """Items of a probe or evaluation source, in the item schema (see the module docstring)."""
    columns = dict(columns or {})
    kind = detect_kind(source, kind)
    if kind == "world":
        return artifacts.read_table(source, schemas.ITEMS).to_pylist()
    if kind == "parquet":
        return _rows(pl.read_parquet(source), source, columns, [])
    frame = pl.read_csv(source, separator="\t" if source.endswith(".tsv") else ",", infer_schema_length=0)
    letters = [c for c in LETTERS if c in frame.columns and columns.get("options") is None]
    return _rows(frame, source, columns, letters)


def resample(items: list[dict], share: float, seed: int | str) -> list[dict]:
    """A fresh stratified subset: ``ceil(share · n)`` items of every (category, image type) cell, drawn
    with ``seed`` (one per round), in the source order, so rounds are not steered by the same few items."""
    frame = pl.DataFrame({"category": [it["category"] for it in items],
                          "image_type": [it["image_type"] for it in items]}).with_row_index("i")
    cells = frame.group_by(["category", "image_type"]).agg(pl.col("i")).sort(["category", "image_type"])
    rng = random.Random(f"{seed}:probe")
    keep = set()
    for idx in cells["i"].to_list():
        keep.update(rng.sample(idx, max(1, math.ceil(share * len(idx)))))
    return [items[i] for i in sorted(keep)]


HALVES = ("gate", "choose")


def half(items: list[dict], which: str) -> list[dict]:
    """One of two fixed, disjoint halves of every (category, image type) cell of a dev set, in source order:
    ``gate`` is what a round's gate checks against, ``choose`` what defaults are chosen on (benchmarks), so
    no default is picked on numbers a round already steered by. The split hashes the item id, so it does not
    move when the set grows or is reordered.

    >>> items = [{"item_id": str(i), "category": "c", "image_type": "t"} for i in range(6)]
    >>> g, c = half(items, "gate"), half(items, "choose")
    >>> len(g), len(c), sorted(it["item_id"] for it in g + c) == sorted(it["item_id"] for it in items)
    (3, 3, True)
    """
    if which not in HALVES:
        raise ValueError(f"half {which!r}: expected one of {HALVES}")
    cells: dict[tuple[str, str], list[int]] = {}
    for i, it in enumerate(items):
        cells.setdefault((it["category"], it["image_type"]), []).append(i)
    keep = set()
    for idx in cells.values():
        ranked = sorted(idx, key=lambda i: hashlib.sha256(f"dev-half:{items[i]['item_id']}".encode()).hexdigest())
        cut = len(ranked) // 2 if len(ranked) > 1 else 1
        keep.update(ranked[:cut] if which == "gate" else ranked[cut:])
    return [items[i] for i in sorted(keep)]


def overlap(a: list[dict], b: list[dict]) -> int:
    """How many items of ``a`` also appear in ``b`` (same image bytes and question)."""
    from pipeline.storage.images import image_id

    seen = {(image_id(it["image"]), it["question"]) for it in b}
    return sum((image_id(it["image"]), it["question"]) in seen for it in a)
