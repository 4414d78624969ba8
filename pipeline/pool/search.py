"""Pool search, the retriever agent's tool: text→image and image→image nearest neighbours over the
CLIP vectors, read at a pinned table version, with filters on image type, size and excluded ids.

Exact (flat) search while the table has no vector index; once ``embed`` has built the IVF_FLAT index
(``search.index_threshold``), queries probe ``nprobes`` partitions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.models import clip
from pipeline.storage import lake, schemas


@dataclass(frozen=True)
class Hit:
    image_id: str
    score: float  # cosine similarity
    image_type: str
    query: str = ""  # what found it: the text query, or "image:<probe item id>"


class PoolSearch:
    def __init__(self, vectors_manifest: schemas.Manifest, clip_dir: str | None, nprobes: int = 24, model_id: str = "",
                 allowed: frozenset[str] | None = None):
        """``clip_dir`` None: vector queries only (``model_id`` then selects whose vectors to search).
        ``allowed``: the only ids a query may return (the listed sources' rows); None: every row."""
        self.table = lake.open_pinned(vectors_manifest)
        self.allowed = allowed
        self.version = vectors_manifest.version
        self.nprobes = nprobes
        self.indexed = lake.has_vector_index(self.table)
        if clip_dir is not None:
            self.model, self.preprocess, self.tokenizer = clip.load(clip_dir)
            model_id = clip.fingerprint(clip_dir)
        self.model_id = model_id
        self.type_share: dict[str, float] = {}
        if self.indexed:
            tags = pl.from_arrow(self.table.to_lance().to_table(columns=["image_type"],
                                                                filter=f"model = '{model_id}'"))
            self.type_share = dict(tags.group_by("image_type").agg(pl.len() / max(1, tags.height)).iter_rows())

    def probes(self, image_type: str | None) -> int:
        """Partitions to probe: a type filter keeps only its share of each partition, so probe that many
        times more (capped at 50x) to find as many candidates as an unfiltered query would."""
        share = self.type_share.get(image_type, 1.0) if image_type else 1.0
        return math.ceil(self.nprobes / max(share, 0.02))

    def _where(self, image_type: str | None, min_side: int | None) -> str:
        clauses = [f"model = '{self.model_id}'"]
        if image_type:
            clauses.append(f"image_type = '{image_type}'")
        if min_side:
            clauses.append(f"width >= {min_side} AND height >= {min_side}")
        return " AND ".join(clauses)

    def by_vector(self, vector: np.ndarray, k: int, image_type: str | None = None, min_side: int | None = None,
                  exclude: set[str] | frozenset[str] = frozenset()) -> list[Hit]:
        """Top-k by cosine; over-fetches by ``len(exclude)``, and further while rows outside ``allowed`` crowd
        the answer, so neither ever shortens it."""
        limit = k + len(exclude)
        while True:
            query = self.table.search(vector.astype(np.float32)).metric("cosine")
            if self.indexed:
                query = query.nprobes(self.probes(image_type))
            rows = (query.where(self._where(image_type, min_side), prefilter=True)
                    .select(["image_id", "image_type", "_distance"]).limit(limit).to_arrow())
            hits = [Hit(i, 1.0 - d, t) for i, d, t in zip(rows["image_id"].to_pylist(),
                                                        rows["_distance"].to_pylist(), rows["image_type"].to_pylist())
                    if i not in exclude and (self.allowed is None or i in self.allowed)]
            if len(hits) >= k or rows.num_rows < limit:
                return hits[:k]
            limit *= 4

    def by_text(self, query: str, k: int, **filters) -> list[Hit]:
        return self.by_vector(clip.embed_texts(self.model, self.tokenizer, [query])[0], k, **filters)

    def embed(self, image) -> np.ndarray:
        """The image's unit CLIP embedding."""
        return clip.embed_images(self.model, self.preprocess, [image])[0]

    def by_image(self, image, k: int, **filters) -> list[Hit]:
        return self.by_vector(self.embed(image), k, **filters)

    def vectors(self, ids: list[str]) -> np.ndarray:
        """The unit vectors this model gave ``ids`` (each once, in no particular order), in one read."""
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = (pc.field("model") == self.model_id) & pc.field("image_id").isin(pa.array(sorted(set(ids))))
        column = self.table.to_lance().to_table(columns=["vector"], filter=wanted)["vector"]
        vecs = np.asarray(column.to_pylist(), np.float32).reshape(len(column), -1)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)

    def sample_vectors(self, n: int, rng) -> np.ndarray:
        """The vectors of ``n`` pool images drawn at random (from ``allowed`` when set)."""
        ids = sorted(self.allowed) if self.allowed is not None else sorted(self.table.to_lance().to_table(
            columns=["image_id"], filter=f"model = '{self.model_id}'")["image_id"].to_pylist())
        return self.vectors(rng.sample(ids, min(n, len(ids))))
