"""Embed the pool with CLIP into the vectors table, incrementally, with zero-shot image-type tags.

Vectors live in their own table keyed by image id and tagged with the model fingerprint, so a new
CLIP re-embeds into fresh rows instead of rewriting the (large) pool table, and rows embedded by
another model are never mixed into a search. Only pool rows without a vector from this model are
read: ids are scanned, the missing rows are taken by offset at the pinned version. Decoding and
preprocessing run in worker threads a few batches ahead of the model, which runs in bf16 where the
hardware has native bf16 (the vectors agree with fp32 ones to a cosine above 0.99).
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from tqdm import tqdm

from pipeline.models import clip
from pipeline.pool.params import EmbedConfig, SearchConfig
from pipeline.storage import lake, schemas
from pipeline.storage.images import decode_rgb

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


def decode_pixels(data: bytes) -> torch.Tensor:
    """An image's RGB pixels as a (3, H, W) uint8 tensor, as ``decode_rgb`` sees them (EXIF orientation applied).
    torchvision's decoders (libpng, libjpeg-turbo, libwebp: the pool keeps PNG, JPEG and WebP) skip PIL's
    per-image objects and run 2.5x faster on the world's 112 px PNGs, whose decoding bound the tiny CLIP's
    throughput; anything they refuse or give at another depth goes through PIL, and so does everything once
    torchvision drops them (deprecated in 0.29 in favour of torchcodec, which needs FFmpeg)."""
    try:
        from torchvision.io import ImageReadMode, decode_image

        pixels = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB,
                              apply_exif_orientation=True)
        if pixels.dtype == torch.uint8:
            return pixels
    except (ImportError, RuntimeError):
        pass
    return torch.from_numpy(np.asarray(decode_rgb(data)).copy()).permute(2, 0, 1)


def probe_image() -> Image.Image:
    """A smooth, non-square test picture: gradients and a block, like the pictures CLIP sees."""
    y, x = np.mgrid[0:83, 0:121]
    arr = np.stack([x * 2, y * 3, (x + y) % 256], axis=-1).astype(np.uint8)
    arr[20:50, 30:70] = (200, 40, 40)
    return Image.fromarray(arr)


@functools.lru_cache(maxsize=32)
def resize_weights(n_in: int, n_out: int, mode: str) -> torch.Tensor:
    """The (n_out, n_in) weights of torch's antialiased resize along one axis. Resizing is separable and
    linear, so a batch resizes as two small matmuls (BLAS) instead of the interpolation kernel, which bound
    the tiny CLIP's embedding throughput (the gain is for benchmarks/embed_throughput.py to measure)."""
    eye = torch.eye(n_in)[None, None]  # resizing its height only: row j of the result is output j's weights
    out = torch.nn.functional.interpolate(eye, size=(n_out, n_in), mode=mode, antialias=True, align_corners=False)
    return out[0, 0].contiguous()


def resize_size(step, height: int, width: int) -> tuple[int, int]:
    """The output size torchvision's ``Resize(step.size)`` gives an image of this size (int: the short side)."""
    size = step.size if isinstance(step.size, int) else (step.size[0] if len(step.size) == 1 else None)
    if size is None:
        return tuple(step.size)
    short, long = sorted((height, width))
    new_long = int(size * long / short)
    return (size, new_long) if height <= width else (new_long, size)


def matmul_resize(step, batch: torch.Tensor) -> torch.Tensor:
    """``step`` (a torchvision Resize) on a float batch, as two matmuls when it is a plain antialiased
    bilinear or bicubic resize; anything else goes through the step itself."""
    from torchvision import transforms as T

    modes = {T.InterpolationMode.BILINEAR: "bilinear", T.InterpolationMode.BICUBIC: "bicubic"}
    if step.interpolation not in modes or step.max_size is not None or step.antialias is False:
        return step(batch)
    height, width = batch.shape[-2:]
    out_h, out_w = resize_size(step, height, width)
    mode = modes[step.interpolation]
    return resize_weights(height, out_h, mode) @ batch @ resize_weights(width, out_w, mode).T


def batched_preprocess(preprocess, tolerance: float = 0.02) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The usual CLIP transform (resize, centre crop, to float, normalise) applied to a whole uint8
    batch of same-size images at once: four times faster than image by image through PIL.

    Its other steps (open_clip's mode and tensor conversions) are assumed to convert only; that is
    checked on a probe picture against ``preprocess`` itself (mean difference below ``tolerance``, in
    normalised units: tensor and PIL resizing differ slightly). If they disagree (a model whose transform
    does more, or an open_clip whose steps changed) this warns and returns None, and images go through
    ``preprocess`` one by one: slower, never wrong."""
    from torchvision import transforms as T

    steps = getattr(preprocess, "transforms", None)
    if not steps:
        return None
    tensor_steps = [t for t in steps if isinstance(t, (T.Resize, T.CenterCrop))]
    normalise = next((t for t in steps if isinstance(t, T.Normalize)), None)

    def run(batch: torch.Tensor) -> torch.Tensor:
        out = batch.float() / 255.0
        for step in tensor_steps:
            out = matmul_resize(step, out) if isinstance(step, T.Resize) else step(out)
        return normalise(out.clamp(0, 1)) if normalise is not None else out.clamp(0, 1)

    probe = probe_image()
    expected = preprocess(probe)
    got = run(torch.from_numpy(np.array(probe)).permute(2, 0, 1)[None])[0]
    if got.shape != expected.shape or (got - expected).abs().mean().item() > tolerance:
        log.warning("the CLIP preprocess %s does something the batched path does not reproduce; preprocessing "
                    "image by image (slower)", [type(t).__name__ for t in steps])
        return None
    return run


class ImageEncoder:
    """CLIP image tower in inference mode at a chosen precision; pixels come preprocessed.

    In bf16 the encoder converts the model's weights (it owns the model from then on): autocast would
    re-cast every weight on every call, which on a CPU costs as much as the matmuls it speeds up."""

    def __init__(self, model, preprocess, dtype: torch.dtype = torch.float32, device: str | None = None):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.preprocess = preprocess
        self.dtype = dtype
        self.batched = batched_preprocess(preprocess)

    def pixels(self, images: list[bytes]) -> torch.Tensor:
        """Preprocessed pixels of ``images``, in order: images of one size go through the batched path together,
        so a pool of mixed sizes is batched too."""
        if self.batched is None:
            return torch.stack([self.preprocess(decode_rgb(b)) for b in images])
        decoded = [decode_pixels(b) for b in images]
        by_size: dict[tuple, list[int]] = {}
        for i, image in enumerate(decoded):
            by_size.setdefault(tuple(image.shape), []).append(i)
        out: list = [None] * len(decoded)
        for idx in by_size.values():
            for i, pixels in zip(idx, self.batched(torch.stack([decoded[i] for i in idx]))):
                out[i] = pixels
        return torch.stack(out)

    @torch.inference_mode()
    def __call__(self, pixels: torch.Tensor) -> np.ndarray:
        feats = self.model.encode_image(pixels.to(self.device, self.dtype))
        return torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()


def missing_offsets(pool_ds, done: set[str]) -> np.ndarray:
    """Row offsets (at the pinned version) of pool rows without a vector from this model."""
    ids = pool_ds.to_table(columns=["image_id"]).column("image_id").to_pylist()
    return np.array([i for i, iid in enumerate(ids) if iid not in done], dtype=np.int64)


class PoolEmbedder:
    """Pool row offsets at a pinned version in, vectors-table rows out. Both the default path and the
    Ray actors (``pipeline.pool.scale``) embed through this class."""

    def __init__(self, pool_manifest: schemas.Manifest, clip_dir: str, type_prompts: dict[str, str], precision: str):
        model, preprocess, tokenizer = clip.load(clip_dir)
        self.model_id = clip.fingerprint(clip_dir)
        self.names = list(type_prompts)
        self.type_vecs = clip.embed_texts(model, tokenizer, [type_prompts[n] for n in self.names])
        self.dim = self.type_vecs.shape[1]
        self.encoder = ImageEncoder(model, preprocess, resolve_precision(precision))
        self.pool = lake.open_pinned(pool_manifest).to_lance()

    def load(self, offsets: np.ndarray) -> tuple[pa.Table, torch.Tensor]:
        """Read and preprocess (thread-safe: runs in the prefetch workers)."""
        rows = self.pool.take(offsets, columns=["image_id", "width", "height", "image"])
        return rows.drop_columns(["image"]), self.encoder.pixels(rows.column("image").to_pylist())

    def encode(self, rows: pa.Table, pixels: torch.Tensor) -> pa.Table:
        vecs = self.encoder(pixels)
        return pa.table({
            "image_id": rows["image_id"], "model": pa.array([self.model_id] * rows.num_rows),
            "image_type": pa.array(type_tags(vecs, self.type_vecs, self.names)), "width": rows["width"],
            "height": rows["height"],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), self.dim),
        })

    def done(self, vectors) -> set[str]:
        if not vectors.count_rows():
            return set()
        return set(vectors.to_lance().to_table(columns=["image_id"], filter=f"model = '{self.model_id}'")
                   .column("image_id").to_pylist())


VECTOR_KEY = ["image_id", "model"]  # one row per image and CLIP: switching CLIPs back re-embeds nothing


def write_vectors(vectors, tables: Iterator[pa.Table]) -> int:
    """Merge vector rows into the table in large commits; returns rows written."""
    added, pending = 0, []
    for table in tables:
        pending.append(table)
        if sum(t.num_rows for t in pending) >= WRITE_ROWS:
            added += lake.merge(vectors, pa.concat_tables(pending), VECTOR_KEY, update=True)
            pending = []
    if pending:
        added += lake.merge(vectors, pa.concat_tables(pending), VECTOR_KEY, update=True)
    return added


def plan_embedding(pool_manifest: schemas.Manifest, clip_dir: str, type_prompts: dict[str, str], precision: str):
    """The embedder, the vectors table and the offsets still to embed."""
    embedder = PoolEmbedder(pool_manifest, clip_dir, type_prompts, precision)
    vectors = lake.open_or_create(pool_manifest.lake, lake.vectors_table(embedder.dim),
                                   schemas.vectors(embedder.dim), VECTOR_KEY)
    done = embedder.done(vectors)
    todo = missing_offsets(embedder.pool, done)
    log.info("embed: %d pool rows, %d already embedded by %s, %d to do (%s)", embedder.pool.count_rows(),
             len(done), embedder.model_id, len(todo), embedder.encoder.dtype)
    return embedder, vectors, todo


def finish_embedding(embedder: PoolEmbedder, vectors, lake_uri: str, added: int,
                     search: SearchConfig) -> tuple[schemas.Manifest, dict]:
    index = lake.maintain_index(vectors, search.index_threshold, search.partitions, changed=added > 0)
    manifest = lake.pin(vectors, lake_uri, "embed")
    return manifest, {"rows": manifest.rows, "added": added, "model": embedder.model_id, "index": index,
                      "precision": str(embedder.encoder.dtype).removeprefix("torch.")}


def embed_pool(pool_manifest: schemas.Manifest, clip_dir: str, type_prompts: dict[str, str], cfg: EmbedConfig,
               search: SearchConfig) -> tuple[schemas.Manifest, dict]:
    embedder, vectors, todo = plan_embedding(pool_manifest, clip_dir, type_prompts, cfg.precision)
    chunks = (todo[s:s + cfg.batch_size] for s in range(0, len(todo), cfg.batch_size))
    bar = tqdm(total=len(todo), desc="embed", unit="img")

    def encoded() -> Iterator[pa.Table]:
        for rows, pixels in prefetch(chunks, embedder.load, cfg.workers):
            yield embedder.encode(rows, pixels)
            bar.update(rows.num_rows)

    added = write_vectors(vectors, encoded())
    bar.close()
    return finish_embedding(embedder, vectors, pool_manifest.lake, added, search)
