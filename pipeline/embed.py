"""Embed the pool with CLIP into the vectors table, incrementally, with zero-shot image-type tags.

Vectors live in their own table keyed by image id and tagged with the model fingerprint, so a new
CLIP re-embeds into fresh rows instead of rewriting the (large) pool table, and rows embedded by
another model are never mixed into a search. Decoding runs in a thread pool beside the model.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from pipeline import lake
from pipeline.images import decode_rgb
from pipeline.models import clip

log = logging.getLogger(__name__)


def type_tags(vectors: np.ndarray, type_vectors: np.ndarray, names: list[str]) -> list[str]:
    """Zero-shot image type: the name whose prompt embedding is nearest."""
    return [names[i] for i in (vectors @ type_vectors.T).argmax(axis=1)]


def embed_pool(pool_manifest: lake.Manifest, clip_dir: str, type_prompts: dict[str, str],
               batch_size: int) -> tuple[lake.Manifest, dict[str, int]]:
    model, preprocess, tokenizer = clip.load(clip_dir)
    model_id = clip.fingerprint(clip_dir)
    names = list(type_prompts)
    type_vecs = clip.embed_texts(model, tokenizer, [type_prompts[n] for n in names])
    dim = type_vecs.shape[1]
    pool = lake.open_pinned(pool_manifest)
    vectors = lake.open_or_create(pool_manifest.lake, lake.VECTORS, lake.vectors_schema(dim))
    done = set()
    if vectors.count_rows():
        have = vectors.search().where(f"model = '{model_id}'").select(["image_id"]).limit(None).to_arrow()
        done = set(have["image_id"].to_pylist())
    ids = pool.search().select(["image_id"]).limit(None).to_arrow()["image_id"].to_pylist()
    todo = sorted(set(ids) - done)
    log.info("embed: %d pool rows, %d already embedded by %s, %d to do", len(ids), len(done), model_id, len(todo))
    added = 0
    with ThreadPoolExecutor(max_workers=2) as decoder:
        for start in tqdm(range(0, len(todo), batch_size), desc="embed", unit="batch"):
            chunk = todo[start:start + batch_size]
            rows = lake.fetch_rows(pool, chunk, ["image_id", "image", "width", "height"])
            images = list(decoder.map(decode_rgb, rows["image"].to_pylist()))
            vecs = clip.embed_images(model, preprocess, images)
            table = pa.table({
                "image_id": rows["image_id"], "model": pa.array([model_id] * len(chunk)),
                "image_type": pa.array(type_tags(vecs, type_vecs, names)),
                "width": rows["width"], "height": rows["height"],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), dim),
            })
            added += lake.merge(vectors, table, "image_id", update=True)
    manifest = lake.pin(vectors, pool_manifest.lake, "embed")
    return manifest, {"rows": manifest.rows, "added": added, "model": model_id}
