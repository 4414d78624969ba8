"""Shared helpers of the benchmark scripts: world images and a CLIP to embed them with."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.config import ClipConfig, WorldConfig
from pipeline.world.build import WorldFiles, write_pool


def world_pool(out_dir: Path, size: int, seed: int = 0) -> Path:
    """Render a world pool of ``size`` images (pool.parquet: uri, image) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = WorldFiles.under(out_dir)
    write_pool(WorldConfig(pool_size=size), seed, files)
    return files.pool


def tiny_clip(out_dir: Path, pool: Path) -> Path:
    """The project's default CLIP architecture (a few training steps: speed does not depend on weights)."""
    from pipeline.models import clip

    images = pq.read_table(pool, columns=["image"]).column("image").to_pylist()[:64]
    logging.disable(logging.INFO)
    clip.train_clip(images, [random.choice(["a chart", "a document"]) for _ in images], ClipConfig(steps=2), 0,
                    out_dir)
    logging.disable(logging.NOTSET)
    return out_dir
