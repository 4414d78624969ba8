"""Dedup: a new sample must not repeat one accepted before, in this round or any earlier one.

Three checks, each with its own param and rejection reason (``generate.dedup``):

- ``duplicate_image``: the final image's perceptual hash (``imagehash.phash``, 256 bits: the 64-bit hash
  cannot tell the embedded world's simple drawings apart) is within ``image_distance`` bits of an
  accepted sample's (catches re-encodes, small edits, the same photo ingested twice);
- ``duplicate_question``: the same normalised question was already asked about the same source image;
- ``similar_image``: the final image's CLIP embedding has cosine similarity at least ``clip_similarity``
  with an accepted sample's (catches near-identical shots that hash differently). Off by default: the
  embedded world's tiny CLIP puts distinct drawings above 0.99; a real CLIP on photos separates them
  well below 0.95.

What was accepted so far travels between rounds as an artifact, the round's ``seen.parquet``
(``schemas.SEEN``): each round's generate reads its previous round's and writes its own, with its accepted
samples added, so round N checks against every round before it without reading their tables.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import imagehash
import numpy as np
import pyarrow as pa
from PIL import Image

from pipeline.generation.params import DedupConfig
from pipeline.storage.schemas import SEEN, Sample


def question_key(question: str) -> str:
    """The question lowercased, punctuation dropped, whitespace collapsed: "How many dots?" and
    "how many  dots" are the same question.

    >>> question_key("  How many DOTS are there? ")
    'how many dots are there'
    """
    return " ".join(re.sub(r"[^\w\s]", " ", question.lower()).split())


def phash(data: bytes) -> str:
    """The 256-bit perceptual hash of encoded image bytes, as 64 hex digits."""
    return str(imagehash.phash(Image.open(io.BytesIO(data)), hash_size=16))


def hash_distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass
class Seen:
    """The accepted samples so far: rows in ``SEEN``, checked in order of cost (hash, text, vectors)."""

    cfg: DedupConfig = field(default_factory=DedupConfig)
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.hashes = [int(r["phash"], 16) for r in self.rows]
        self.questions = {(r["source_image_id"], r["question_key"]) for r in self.rows}
        self.vectors = [np.asarray(r["vector"], np.float32) for r in self.rows if r["vector"]]

    @classmethod
    def from_table(cls, table: pa.Table, cfg: DedupConfig) -> "Seen":
        return cls(cfg, table.to_pylist())

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, SEEN)

    def entry(self, sample: Sample, vector: np.ndarray | None) -> dict:
        """The row ``sample`` adds once accepted (``vector``: its image's unit CLIP embedding, if checked)."""
        return {"sample_id": sample.sample_id, "round": sample.round, "source_image_id": sample.source_image_id,
                "question_key": question_key(sample.question), "phash": phash(sample.image),
                "vector": None if vector is None else vector.tolist()}

    def reason(self, entry: dict) -> str:
        """Why ``entry`` repeats an accepted sample, or ""."""
        if self.cfg.image_distance >= 0 and self.hashes:
            own = int(entry["phash"], 16)
            if min(hash_distance(own, h) for h in self.hashes) <= self.cfg.image_distance:
                return "duplicate_image"
        if self.cfg.question and (entry["source_image_id"], entry["question_key"]) in self.questions:
            return "duplicate_question"
        if self.cfg.clip_similarity > 0 and self.vectors and entry["vector"] is not None:
            sims = np.stack(self.vectors) @ np.asarray(entry["vector"], np.float32)
            if float(sims.max()) >= self.cfg.clip_similarity:
                return "similar_image"
        return ""

    def add(self, entry: dict) -> None:
        self.rows.append(entry)
        self.hashes.append(int(entry["phash"], 16))
        self.questions.add((entry["source_image_id"], entry["question_key"]))
        if entry["vector"] is not None:
            self.vectors.append(np.asarray(entry["vector"], np.float32))
