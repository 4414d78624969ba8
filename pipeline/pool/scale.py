"""Scale-out with Ray Data: ingest and embedding run in Ray workers and write the same Lance tables.

Chosen by ``pool.engine: ray`` (install the extra: ``pip install -e '.[ray]'``). Workers do the heavy,
per-record work: reading a source unit (a file list, a row group, a Lance fragment), hashing, decoding
and normalising (``pipeline.pool.ingest.examine``), and CLIP encoding (``pipeline.pool.embed.PoolEmbedder``). The
driver accepts their outcomes in order and commits them with the same code as the default path, so
ids, dedup, quarantine, versions and manifests are identical. ``ray.init()`` joins the cluster named by
``RAY_ADDRESS`` when set, and otherwise starts a local one.
"""

from __future__ import annotations

import logging
from functools import partial

import numpy as np
import pyarrow as pa

from pipeline.pool.embed import (
    PoolEmbedder,
    finish_embedding,
    plan_embedding,
    write_vectors,
)
from pipeline.pool.ingest import IngestRun, as_source, examine
from pipeline.pool.params import EmbedConfig, SearchConfig, SourceConfig
from pipeline.pool.sources import plan, read_unit
from pipeline.storage import schemas
from pipeline.storage.images import normalise

log = logging.getLogger(__name__)

OUTCOME_SCHEMA = pa.schema([
    ("source", pa.string()), ("image_id", pa.string()), ("status", pa.string()), ("reason", pa.string()),
    ("detail", pa.string()), ("image", pa.binary()), ("width", pa.int32()), ("height", pa.int32()),
    ("format", pa.string()), ("changes", pa.list_(pa.string())),
])


def _ray():
    try:
        import ray
    except ImportError as err:
        raise RuntimeError("pool.engine = 'ray' needs Ray: pip install -e '.[ray]'") from err
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # same order as the default path: same first source wins
    ctx.enable_progress_bars = False
    return ray


def _examine_units(batch: dict, plans: list, known: frozenset, bad: frozenset, max_pixels: int,
                   max_side: int, max_bytes: int = 0) -> pa.Table:
    check = partial(normalise, max_pixels=max_pixels, max_side=max_side, max_bytes=max_bytes)
    outcomes = []
    for s, u in zip(batch["source"], batch["unit"]):
        src, units = plans[int(s)]
        for records in read_unit(src, units[int(u)]):
            outcomes.extend(examine(records, known.__contains__, bad, check))
    return pa.Table.from_pylist(outcomes, OUTCOME_SCHEMA)


def ray_ingest(sources: list[SourceConfig | str], lake_uri: str, max_pixels: int, max_side: int = 2048,
               batch_size: int = 4096, listed_out: str | None = None, max_bytes: int = 0
               ) -> tuple[schemas.Manifest, dict[str, int]]:
    sources = [as_source(s) for s in sources]
    plans = [(s, plan(s)) for s in sources]  # fail before work
    ray = _ray()
    run = IngestRun(lake_uri, batch_size)
    items = [{"source": s, "unit": u} for s, (_, units) in enumerate(plans) for u in range(len(units))]
    ds = ray.data.from_items(items).map_batches(
        _examine_units, batch_size=1, batch_format="numpy",
        fn_kwargs=dict(plans=plans, known=frozenset(run.known), bad=frozenset(run.bad), max_pixels=max_pixels,
                       max_side=max_side, max_bytes=max_bytes))
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        run.accept(batch.to_pylist())
    return run.finish(listed_out)


class _EmbedActor:
    def __init__(self, manifest: dict, clip_dir: str, type_prompts: dict[str, str], precision: str):
        import torch

        torch.set_num_threads(1)
        self.embedder = PoolEmbedder(schemas.Manifest(**manifest), clip_dir, type_prompts, precision)

    def __call__(self, batch: dict) -> pa.Table:
        return self.embedder.encode(*self.embedder.load(np.asarray(batch["offset"], dtype=np.int64)))


def ray_embed(pool_manifest: schemas.Manifest, clip_dir: str, type_prompts: dict[str, str], cfg: EmbedConfig,
              search: SearchConfig) -> tuple[schemas.Manifest, dict]:
    embedder, vectors, todo = plan_embedding(pool_manifest, clip_dir, type_prompts, cfg.precision)
    ray = _ray()
    added = 0
    if len(todo):
        ds = ray.data.from_items([{"offset": int(o)} for o in todo]).map_batches(
            _EmbedActor, batch_size=cfg.batch_size, batch_format="numpy", concurrency=cfg.workers,
            fn_constructor_kwargs=dict(manifest=pool_manifest.model_dump(), clip_dir=clip_dir,
                                       type_prompts=type_prompts, precision=cfg.precision))
        added = write_vectors(vectors, ds.iter_batches(batch_format="pyarrow", batch_size=None))
    return finish_embedding(embedder, vectors, pool_manifest.lake, added, search)
