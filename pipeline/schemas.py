"""The shape of every artifact the pipeline writes, named once.

Arrow schemas for the tables (pool, quarantine, vectors, items, results, samples, attempts, rollouts,
trainset, and the embedded world's files) and pydantic models for the JSON files (manifests, diagnosis,
mixture, model cards, agent and judge calls). Writers build rows in these schemas; readers go through
``pipeline/artifacts.py``, which validates and fails with a message naming the file and the field, so a stage
never reads another stage's module to learn a shape. A leaf: no I/O, no project import.
"""

from __future__ import annotations

import json

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
# The embedded world's files (pipeline/world/build.py): labelled items with their scene records, the
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

SAMPLES = pa.schema([
    ("sample_id", pa.string()), ("round", pa.string()), ("cell", pa.string()), ("category", pa.string()),
    ("image_type", pa.string()), ("diagnosis_hash", pa.string()), ("source_image_id", pa.string()),
    ("pool_version", pa.int64()), ("vectors_version", pa.int64()), ("retrieval_query", pa.string()),
    ("retrieval_score", pa.float32()),
    ("edits", pa.string()), ("question", pa.string()), ("answer", pa.string()), ("answer_type", pa.string()),
    ("options", pa.list_(pa.string())), ("image", pa.binary()), ("image_hash", pa.string()),
    ("attempt_id", pa.string()),
    # who made it: the backend, each role's model (JSON role -> model), each role's prompt template hash
    # (JSON role -> hash), the selector's fit score (null when a rule chose) and the validator's own answer
    ("backend", pa.string()), ("role_models", pa.string()), ("prompt_hashes", pa.string()),
    ("selector_score", pa.float32()), ("validator_answer", pa.string()),
    ("created_at", pa.string()),  # UTC, ISO 8601
    # images generative edits returned (id generated:<sha256>, bytes): what replay reads them back from
    ("edit_outputs", pa.list_(pa.struct([("id", pa.string()), ("image", pa.binary())]))),
])
ATTEMPTS = pa.schema([
    ("attempt_id", pa.string()), ("round", pa.string()), ("cell", pa.string()), ("outcome", pa.string()),
    ("reason", pa.string()), ("source_image_id", pa.string()), ("calls", pa.string()),
    ("notes", pa.string()),  # JSON list of extra counters (e.g. retrieval.untagged)
    ("run_key", pa.string()),  # hash of the inputs the attempt was made from (resume only the same run)
    ("started_at", pa.string()), ("finished_at", pa.string()),  # UTC, ISO 8601
])
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
    pa.field("label", pa.string())).append(  # what `answer` is now: reference (the agent's) or majority (the model's)
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
