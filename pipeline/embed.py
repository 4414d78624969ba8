"""Embed the pool with CLIP into the vectors table, incrementally, with zero-shot image-type tags.

Vectors live in their own table keyed by image id and tagged with the model fingerprint, so a new
CLIP re-embeds into fresh rows instead of rewriting the (large) pool table, and rows embedded by
another model are never mixed into a search. Only pool rows without a vector from this model are
read: ids are scanned, the missing rows are taken by offset at the pinned version. Decoding and
preprocessing run in worker threads a few batches ahead of the model, which runs in bf16 where the
hardware has native bf16 (the vectors agree with fp32 ones to a cosine above 0.99).
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import torch
from tqdm import tqdm

from pipeline import lake
from pipeline.config import EmbedConfig, SearchConfig
from pipeline.images import decode_rgb
from pipeline.models import clip

log = logging.getLogger(__name__)

WRITE_ROWS = 16_384  # vectors per Lance commit


def native_bf16() -> bool:
    """Whether bf16 matmuls run natively here (CUDA with bf16, or a CPU with AVX512-BF16 / AMX)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.exists() else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> torch.dtype:
    if precision == "auto":
        return torch.bfloat16 if native_bf16() else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]


def type_tags(vectors: np.ndarray, type_vectors: np.ndarray, names: list[str]) -> list[str]:
    """Zero-shot image type: the name whose prompt embedding is nearest."""
    return [names[i] for i in (vectors @ type_vectors.T).argmax(axis=1)]


def prefetch(jobs: Iterator, work: Callable, workers: int) -> Iterator:
    """``work(job)`` for each job, in order, with up to ``workers + 1`` jobs running ahead in threads."""
    with ThreadPoolExecutor(workers) as pool:
        ahead: deque = deque()
        for job in jobs:
            ahead.append(pool.submit(work, job))
            if len(ahead) > workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


class ImageEncoder:
    """CLIP image tower in inference mode at a chosen precision; pixels come preprocessed."""

    def __init__(self, model, preprocess, dtype: torch.dtype = torch.float32, device: str | None = None):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.dtype = dtype

    def pixels(self, images: list[bytes]) -> torch.Tensor:
        return torch.stack([self.preprocess(decode_rgb(b)) for b in images])

    @torch.inference_mode()
    def __call__(self, pixels: torch.Tensor) -> np.ndarray:
        autocast = (torch.autocast(self.device, dtype=self.dtype) if self.dtype != torch.float32 else nullcontext())
        with autocast:
            feats = self.model.encode_image(pixels.to(self.device), normalize=True)
        return torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()


def missing_offsets(pool_ds, done: set[str]) -> tuple[np.ndarray, int]:
    """Row offsets (at the pinned version) of pool rows without a vector, and the pool's row count."""
    ids = pool_ds.to_table(columns=["image_id"]).column("image_id").to_pylist()
    return np.array([i for i, iid in enumerate(ids) if iid not in done], dtype=np.int64), len(ids)


def embed_pool(pool_manifest: lake.Manifest, clip_dir: str, type_prompts: dict[str, str], cfg: EmbedConfig,
               search: SearchConfig) -> tuple[lake.Manifest, dict]:
    model, preprocess, tokenizer = clip.load(clip_dir)
    model_id = clip.fingerprint(clip_dir)
    names = list(type_prompts)
    type_vecs = clip.embed_texts(model, tokenizer, [type_prompts[n] for n in names])
    dim = type_vecs.shape[1]
    encoder = ImageEncoder(model, preprocess, resolve_precision(cfg.precision))
    pool_ds = lake.open_pinned(pool_manifest).to_lance()
    vectors = lake.open_or_create(pool_manifest.lake, lake.VECTORS, lake.vectors_schema(dim))
    done = set()
    if vectors.count_rows():
        done = set(vectors.to_lance().to_table(columns=["image_id"], filter=f"model = '{model_id}'")
                   .column("image_id").to_pylist())
    todo, pool_rows = missing_offsets(pool_ds, done)
    log.info("embed: %d pool rows, %d already embedded by %s, %d to do (%s)", pool_rows, len(done), model_id,
             len(todo), encoder.dtype)

    def load(offsets: np.ndarray) -> tuple[pa.Table, torch.Tensor]:
        rows = pool_ds.take(offsets, columns=["image_id", "image", "width", "height"])
        return rows, encoder.pixels(rows.column("image").to_pylist())

    chunks = (todo[s:s + cfg.batch_size] for s in range(0, len(todo), cfg.batch_size))
    added, pending = 0, []
    bar = tqdm(total=len(todo), desc="embed", unit="img")
    for rows, pixels in prefetch(chunks, load, cfg.workers):
        vecs = encoder(pixels)
        pending.append(pa.table({
            "image_id": rows["image_id"], "model": pa.array([model_id] * rows.num_rows),
            "image_type": pa.array(type_tags(vecs, type_vecs, names)), "width": rows["width"],
            "height": rows["height"],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), dim),
        }))
        bar.update(rows.num_rows)
        if sum(t.num_rows for t in pending) >= WRITE_ROWS:
            added += lake.merge(vectors, pa.concat_tables(pending), "image_id", update=True)
            pending = []
    bar.close()
    added += lake.merge(vectors, pa.concat_tables(pending), "image_id", update=True) if pending else 0
    index = lake.maintain_index(vectors, search.index_threshold, search.partitions, changed=added > 0)
    manifest = lake.pin(vectors, pool_manifest.lake, "embed")
    return manifest, {"rows": manifest.rows, "added": added, "model": model_id, "index": index,
                      "precision": str(encoder.dtype).removeprefix("torch.")}
