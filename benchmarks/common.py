"""Shared helpers of the benchmark scripts: world images, a CLIP to embed them with, and world items held out
from every set the pipeline reads."""

from __future__ import annotations

import logging
import os
import platform
import random
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.models.params import ClipConfig
from pipeline.world.params import WorldConfig
from pipeline.world.questions import CELLS
from pipeline.world.world import WorldFiles, labelled_items, write_pool


def cpu() -> dict:
    """This machine's CPU model, whether it has AVX-512, and its core count: CPU training gives other floats on
    another instruction set, so every timing or float a benchmark reports names it."""
    flags = ""
    model = platform.processor()
    info = Path("/proc/cpuinfo")
    if info.exists():
        text = info.read_text()
        model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                     model)
        flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return {"model": model, "avx512": "avx512f" in flags, "cores": os.cpu_count()}


def model_md5(rev: str | None, round_name: str) -> str:
    """The md5 dvc.lock records for a round's model (r0's from bootstrap_vlm), at commit ``rev`` or, with None,
    in the workspace: every run of a comparison must start from the same r0."""
    import yaml

    from pipeline.run.repository import show

    lock = yaml.safe_load(show(rev, "dvc.lock") if rev else Path("dvc.lock").read_text())
    stage = "bootstrap_vlm" if round_name == "r0" else f"train@{round_name}"
    return next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"].endswith(f"{round_name}/model"))


def pipeline_code() -> str:
    """The hash of every stage's code (``pipeline.run.deps.code_hash``): a stored run or cached model is reused only
    when the code that made it is this code."""
    from pipeline.run.deps import code_hash, source_root

    return code_hash(*sorted((source_root() / "stages").glob("*.py")))


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


def measurement_set(world: str, seed: int, image_size: int, per_cell: int) -> tuple[list[dict], set[str]]:
    """``per_cell`` fresh items of every cell (far more than the probe, so a category's change is not lost in
    sampling noise), and the image ids of the probe, the evaluation set and these, for training rows to avoid."""
    held_out = {r["image_id"] for name in ("probe", "eval")
                for r in pq.read_table(f"{world}/{name}.parquet", columns=["image_id"]).to_pylist()}
    bench = labelled_items("bench-measure", seed, [c for c in CELLS for _ in range(per_cell)], image_size, held_out)
    return bench, held_out | {r["image_id"] for r in bench}


def category_rows(category: str, n: int, seed: int, image_size: int, held_out: set[str], split: str = "bench-train"
                  ) -> list[dict]:
    """``n`` training items of one category, its image types in turn."""
    cells = [c for c in CELLS if c[0] == category]
    if not cells:
        raise ValueError(f"the world has no category {category!r}; its categories: {sorted({c for c, _ in CELLS})}")
    return labelled_items(split, seed, [cells[i % len(cells)] for i in range(n)], image_size, held_out)
