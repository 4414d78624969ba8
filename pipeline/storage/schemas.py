"""The shape of every artifact the pipeline writes, named once.

Arrow schemas for the tables (pool, quarantine, vectors, items, results, samples, attempts, rollouts,
trainset, and the embedded world's files) and pydantic models for the JSON files (manifests, diagnosis,
mixture, model cards, agent and judge calls). Writers build rows in these schemas; readers go through
``pipeline/storage/artifacts.py``, which validates and fails with a message naming the file and the field, so a stage
never reads another stage's module to learn a shape. A leaf: no I/O, no project import.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Union

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

# --- the lake -------------------------------------------------------------------------------------

POOL = pa.schema([
    ("image_id", pa.string()), ("sources", pa.list_(pa.string())), ("image", pa.binary()),
    ("width", pa.int32()), ("height", pa.int32()), ("format", pa.string()),
])
QUARANTINE = pa.schema([  # image_id is the sha256 of the bytes, empty when nothing could be read
    ("source", pa.string()), ("image_id", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
])


def vectors(dim: int) -> pa.Schema:
    """CLIP vectors of pool images, one row per (image, model fingerprint)."""
    return pa.schema([
        ("image_id", pa.string()), ("model", pa.string()), ("image_type", pa.string()),
        ("width", pa.int32()), ("height", pa.int32()), ("vector", pa.list_(pa.float32(), dim)),
    ])


# --- item sets and their grading ------------------------------------------------------------------

ITEMS = pa.schema([  # a probe or evaluation item (pipeline/diagnosis/itemsets.py reads any source into it)
    ("item_id", pa.string()), ("image", pa.binary()), ("question", pa.string()), ("answer", pa.string()),
    ("answer_type", pa.string()), ("options", pa.list_(pa.string())), ("category", pa.string()),
    ("image_type", pa.string()),
])
# The embedded world's files (pipeline/world/world.py): labelled items with their scene records, the
# unlabeled pool source, the scene records kept apart from it, and the CLIP caption corpus.
WORLD_ITEMS = pa.schema([
    ("item_id", pa.string()), ("image_id", pa.string()), ("image", pa.binary()),
    ("category", pa.string()), ("image_type", pa.string()), ("question", pa.string()),
    ("answer", pa.string()), ("answer_type", pa.string()), ("options", pa.list_(pa.string())),
    ("scene", pa.string()),
])
WORLD_POOL = pa.schema([("uri", pa.string()), ("image", pa.binary())])
WORLD_SCENES = pa.schema([("image_id", pa.string()), ("image_type", pa.string()), ("scene", pa.string())])
CAPTIONS = pa.schema([("image", pa.binary()), ("caption", pa.string()), ("image_type", pa.string())])

JUDGE_STATUSES = ("ok", "failed", "skipped")  # skipped: no judge was asked (evaluation); failed: excluded
RESULTS = pa.schema([  # one graded answer per item (diagnose and evaluate)
    ("item_id", pa.string()), ("round", pa.string()), ("category", pa.string()), ("image_type", pa.string()),
    ("question", pa.string()), ("answer_type", pa.string()), ("options", pa.list_(pa.string())),
    ("reference", pa.string()), ("answer_text", pa.string()), ("parsed", pa.string()), ("correct", pa.bool_()),
    ("error_type", pa.string()), ("judge_status", pa.string()), ("judge_detail", pa.string()),
    ("judge_calls", pa.string()),
])

# --- generation and training ----------------------------------------------------------------------

@dataclass(frozen=True)
class EditOutput:
    """An image a generative edit returned: its id (``generated:<sha256>``) and bytes, what replay reads back."""

    id: str
    image: bytes


@dataclass(frozen=True)
class Sample:
    """One generated sample and its lineage: a row of samples.lance. Typed once, here: the Lance schema is
    derived from it (``SAMPLES``), so a field misspelt anywhere fails when the sample is made."""

    sample_id: str
    round: str
    cell: str
    category: str
    image_type: str
    diagnosis_hash: str
    source_image_id: str
    pool_version: int
    vectors_version: int
    retrieval_query: str
    retrieval_score: Annotated[float, pa.float32()]
    edits: str  # JSON list of the edit specs, in the order applied
    question: str
    answer: str
    answer_type: str
    options: list[str]
    image: bytes
    image_hash: str
    attempt_id: str
    backend: str
    role_models: str  # JSON role -> model
    prompt_hashes: str  # JSON role -> prompt template hash
    selector_score: Annotated[float, pa.float32()] | None  # None when a rule chose
    validator_answer: str
    created_at: str  # UTC, ISO 8601
    edit_outputs: list[EditOutput]
    # what a backend that knows the truth (the embedded world) says of the label, None from any other: whether
    # it is right for the sample as filed (its answer, within its cell) and the right answer ("" when the question
    # is off its cell: no answer is right as filed); quality measures that no training stage reads
    label_correct: bool | None = None
    true_answer: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One try at a sample, accepted or rejected with its reason: a row of attempts.lance."""

    attempt_id: str
    round: str
    cell: str
    outcome: str  # accepted or rejected
    reason: str
    source_image_id: str
    calls: str  # JSON list of Call
    notes: str  # JSON list of extra counters (e.g. retrieval.untagged)
    run_key: str  # hash of the inputs the attempt was made from (resume only the same run)
    started_at: str  # UTC, ISO 8601
    finished_at: str


_ARROW = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(), bytes: pa.binary()}


def arrow_type(hint) -> pa.DataType:
    """The Arrow type of a field's annotation: scalars, ``Annotated[x, <arrow type>]``, ``x | None``,
    ``list[x]`` and nested dataclasses (structs)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return args[1]
    if origin in (Union, types.UnionType):
        return arrow_type(next(a for a in args if a is not type(None)))
    if origin is list:
        return pa.list_(arrow_type(args[0]))
    if dataclasses.is_dataclass(hint):
        return pa.struct(list(arrow_schema(hint)))
    return _ARROW[hint]


def arrow_schema(cls) -> pa.Schema:
    """The Lance/Arrow schema of a row dataclass, field by field in its order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return pa.schema([(f.name, arrow_type(hints[f.name])) for f in dataclasses.fields(cls)])


def to_table(rows: list, cls) -> pa.Table:
    """Typed rows as a table of their schema."""
    return pa.Table.from_pylist([dataclasses.asdict(r) for r in rows], arrow_schema(cls))


def from_row(cls, row: dict):
    """A row read back (a dict) as its dataclass; nested dataclasses too."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in dataclasses.fields(cls):
        value, hint = row[f.name], hints[f.name]
        inner = typing.get_args(hint)[0] if typing.get_origin(hint) is list else None
        if inner is not None and dataclasses.is_dataclass(inner) and value is not None:
            value = [v if isinstance(v, inner) else inner(**v) for v in value]
        out[f.name] = value
    return cls(**out)


SAMPLES = arrow_schema(Sample)
ATTEMPTS = arrow_schema(Attempt)
SEEN = pa.schema([  # the dedup index: every accepted sample up to a round (pipeline/generation/dedup.py)
    ("sample_id", pa.string()), ("round", pa.string()), ("source_image_id", pa.string()),
    ("question_key", pa.string()), ("phash", pa.string()), ("vector", pa.list_(pa.float32())),
])
ROLLOUTS = pa.schema([
    ("sample_id", pa.string()), ("k", pa.int32()), ("model", pa.string()), ("completion", pa.string()),
    ("correct", pa.bool_()),
])
TRAINSET = SAMPLES.append(pa.field("pass_rate", pa.float64())).append(
    pa.field("in_band", pa.bool_())).append(pa.field("filled", pa.bool_())).append(
    pa.field("label", pa.string())).append(  # which label `answer` holds: reference (the agent's) or majority (the model's)
    pa.field("agent_answer", pa.string()))


class SchemaError(ValueError):
    """An artifact does not have the shape its schema says; the message names the file and the field."""


def conform(table: pa.Table, schema: pa.Schema, name: str) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in its order and types; extra columns are dropped."""
    missing = [f.name for f in schema if f.name not in table.schema.names]
    if missing:
        raise SchemaError(f"{name}: no column {missing[0]!r} (missing {missing}; has {table.schema.names}); "
                          "it was written by another version of the pipeline: rerun the stage that writes it")
    columns = []
    for field in schema:
        try:
            columns.append(table.column(field.name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise SchemaError(f"{name}: column {field.name!r} is {table.schema.field(field.name).type}, expected "
                              f"{field.type} ({err})") from None
    return pa.Table.from_arrays(columns, schema=schema)


# --- JSON artifacts -------------------------------------------------------------------------------


class Artifact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Manifest(Artifact):
    """A pinned lake table version: readers open exactly this version; the tag keeps it from cleanup."""

    lake: str
    table: str
    version: int
    tag: str
    rows: int


class Example(Artifact):
    item_id: str = ""  # the probe item, so generation can search the pool for images like it
    question: str
    reference: str
    answer: str


class ShuffleGap(Artifact):
    """A cell's image-shuffle gap (``pipeline/diagnosis/shuffle.py``): accuracy with the true image minus with
    another image of the same cell, paired per item, with a 95% t interval over the items and its one-sided 95%
    lower bound (what r0's world checks hold a weak cell to)."""

    n: int
    accuracy: float
    shuffled_accuracy: float
    gap: float
    interval: tuple[float, float]
    low_one_sided: float | None = None  # None for a single item


class Cell(Artifact):
    key: str  # category/image_type
    category: str
    image_type: str
    n: int
    correct: int
    accuracy: float
    shrunk_accuracy: float  # towards the global mean (Beta prior); the global mean when not reliable
    interval: tuple[float, float]  # Wilson 95%
    reliable: bool
    error_types: dict[str, int]
    examples: list[Example]
    shuffle: ShuffleGap | None = None  # None when diagnose.shuffle is off or the cell has one distinct image


class ErrorCell(Artifact):
    key: str  # category/image_type/error_type
    category: str
    image_type: str
    error_type: str
    n: int
    failures: int
    rate: float
    interval: tuple[float, float]


class Diagnosis(Artifact):
    round: str = ""
    model: str = ""
    items: int
    graded: int
    judge_failures: int  # kept apart: not counted as wrong answers
    accuracy: float
    categories: dict[str, float]
    cells: list[Cell]
    error_cells: list[ErrorCell] | None = None
    shuffle: ShuffleGap | None = None  # over every item


class Mixture(Artifact):
    strategy: str
    budget: int
    quotas: dict[str, int]  # cell -> samples, summing to the budget
    shares: dict[str, float]  # cell -> share before rounding (the next round's dro starts here)


class ModelCard(Artifact):
    """card.json next to a checkpoint: facts for people, metrics for the metrics contract."""

    facts: dict
    metrics: dict


class BaseReference(Artifact):
    """base.json: round r0 as a pin to the user's checkpoint (``model.base``), never a copy of its weights."""

    source: str  # a checkpoint directory or a hub id
    revision: str | None = None  # the hub commit (None: a plain folder)
    model_type: str
    config_hash: str  # of config.json
    index_hash: str  # of the weight index (or the safetensors headers)


class Lineage(Artifact):
    """lineage.json next to a round's LoRA adapter: what the adapter applies to."""

    root: str  # the round folder the adapter applies to (full weights, a base pin, or another adapter)
    chain: str  # stack: it holds every LoRA round since a full folder (root); merge: its own round only


class ClipReference(Artifact):
    """clip.json: the pool's CLIP as a pin to an open_clip model (``clip.model`` / ``clip.pretrained``)."""

    model: str
    pretrained: str | None = None
    fingerprint: str


class Call(Artifact):
    """One agent or judge call, for cost accounting: who answered and how many tokens it took."""

    role: str
    backend: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def calls_json(calls: list[Call]) -> str:
    return json.dumps([c.model_dump() for c in calls])
