"""Render the embedded world's files: the unlabeled pool, its hidden scene records, the probe and
evaluation sets, and the bootstrap corpora for the tiny models.

Every split draws from its own seeded stream (``Random(f"{seed}:{split}:{i}")``), so adding images to
the pool never changes the probe, and the held-out sets are made disjoint from the pool by image id.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.storage import schemas
from pipeline.storage.images import encode_png, image_id
from pipeline.world.captions import caption
from pipeline.world.params import WorldConfig
from pipeline.world.questions import BY_CELL, CELLS, Question, ask
from pipeline.world.render import render
from pipeline.world.scenes import IMAGE_TYPES, sample_scene

log = logging.getLogger(__name__)

MAX_TRIES = 10_000


def _rng(seed: int, split: str, i: int) -> random.Random:
    return random.Random(f"{seed}:{split}:{i}")


def _item(split: str, i: int, scene: dict, q: Question, size: int) -> dict:
    data = encode_png(render(scene, size))
    return {
        "item_id": f"{split}-{i:06d}", "image_id": image_id(data), "image": data,
        "category": q.category, "image_type": q.image_type, "question": q.question,
        "answer": q.answer, "answer_type": q.answer_type, "options": q.options,
        "scene": json.dumps(scene, sort_keys=True),
    }


def targets(split: str, seed: int, cells: list[tuple[str, str]]) -> list[str]:
    """The answer each entry of ``cells`` is drawn for: every cell cycles through its template's answers from a
    seeded offset, so within any set each answer of a cell appears equally often (to within one).

    >>> targets("probe", 0, [("variety", "objects")] * 4).count("mixed")
    2
    """
    seen: dict[tuple[str, str], int] = {}
    out = []
    for cell in cells:
        template = BY_CELL[cell]
        j = seen.get(cell, 0)
        seen[cell] = j + 1
        offset = random.Random(f"{seed}:{split}:{cell[0]}/{cell[1]}:answers").randrange(template.k)
        out.append(template.answers[(j + offset) % template.k])
    return out


def labelled_items(split: str, seed: int, cells: list[tuple[str, str]], size: int,
                   exclude: set[str], keep: Callable[[dict], bool] | None = None) -> list[dict]:
    """One item per entry of ``cells`` (repeat a cell for more), its answer drawn first (``targets``) and then a
    scene that has it; images whose id is excluded or that ``keep`` refuses are skipped."""
    items, i = [], 0
    for (category, image_type), answer in zip(cells, targets(split, seed, cells)):
        for _ in range(MAX_TRIES):
            rng = _rng(seed, split, i)
            i += 1
            scene = sample_scene(image_type, rng)
            q = ask(scene, category, rng)
            if q is None or q.answer != answer:
                continue
            item = _item(split, i, scene, q, size)
            if item["image_id"] not in exclude and (keep is None or keep(item)):
                items.append(item)
                break
        else:
            raise RuntimeError(f"world: no {split} image for cell {category}/{image_type} with answer {answer!r} "
                               f"outside the pool after {MAX_TRIES} tries; lower world.pool_size or the held-out "
                               "sizes")
    return items


@dataclass(frozen=True)
class WorldFiles:
    """Where the world stage writes each file (dvc.yaml passes every path; ``under`` is for tests)."""

    pool: Path
    scenes: Path
    probe: Path
    eval: Path
    dev: Path
    sft: Path
    clip: Path

    @classmethod
    def under(cls, folder: str | Path) -> "WorldFiles":
        return cls(**{f.name: Path(folder) / f"{f.name}.parquet" for f in fields(cls)})


def write_pool(cfg: WorldConfig, seed: int, files: WorldFiles) -> set[str]:
    """Pool images (uri + bytes, no labels) and, apart, their scene records keyed by image id."""
    pool_w = scene_w = None
    ids: set[str] = set()
    chunk = 2048
    for start in tqdm(range(0, cfg.pool_size, chunk), desc="world pool", unit="chunk"):
        uris, images, scene_rows = [], [], []
        for i in range(start, min(start + chunk, cfg.pool_size)):
            rng = _rng(seed, "pool", i)
            scene = sample_scene(IMAGE_TYPES[i % len(IMAGE_TYPES)], rng)
            data = encode_png(render(scene, cfg.image_size))
            iid = image_id(data)
            uris.append(f"world://pool/{i:08d}.png")
            images.append(data)
            if iid not in ids:
                ids.add(iid)
                scene_rows.append({"image_id": iid, "image_type": scene["image_type"],
                                   "scene": json.dumps(scene, sort_keys=True)})
        pool_t = pa.table({"uri": uris, "image": images}, schema=schemas.WORLD_POOL)
        scene_t = pa.Table.from_pylist(scene_rows, schema=schemas.WORLD_SCENES)
        pool_w = pool_w or pq.ParquetWriter(files.pool, pool_t.schema)
        scene_w = scene_w or pq.ParquetWriter(files.scenes, scene_t.schema)
        pool_w.write_table(pool_t)
        scene_w.write_table(scene_t)
    pool_w.close()
    scene_w.close()
    return ids


def build_world(cfg: WorldConfig, seed: int, files: WorldFiles) -> dict[str, int]:
    for path in {Path(getattr(files, f.name)).parent for f in fields(files)}:
        path.mkdir(parents=True, exist_ok=True)
    pool_ids = write_pool(cfg, seed, files)
    # Each labelled set avoids the pool and every set drawn before it, so all of them are disjoint.
    held_out, sets = set(pool_ids), {}
    for name, per_cell in (("probe", cfg.probe_per_cell), ("eval", cfg.eval_per_cell), ("dev", cfg.dev_per_cell)):
        sets[name] = labelled_items(name, seed, [c for c in CELLS for _ in range(per_cell)], cfg.image_size, held_out)
        held_out |= {r["image_id"] for r in sets[name]}
    sets["sft"] = labelled_items("sft", seed, [CELLS[i % len(CELLS)] for i in range(cfg.sft_size)], cfg.image_size,
                                 held_out)
    for name, rows in sets.items():
        pq.write_table(pa.Table.from_pylist(rows, schema=schemas.WORLD_ITEMS), getattr(files, name))
    clip_rows = []
    for i in range(cfg.clip_size):
        rng = _rng(seed, "clip", i)
        scene = sample_scene(IMAGE_TYPES[i % len(IMAGE_TYPES)], rng)
        clip_rows.append({"image": encode_png(render(scene, cfg.image_size)), "caption": caption(scene),
                          "image_type": scene["image_type"]})
    pq.write_table(pa.Table.from_pylist(clip_rows, schemas.CAPTIONS), files.clip)
    counts = {"pool": cfg.pool_size, "pool_unique": len(pool_ids)} | {n: len(r) for n, r in sets.items()}
    counts["clip"] = len(clip_rows)
    log.info("world written to %s: %s", Path(files.pool).parent, counts)
    return counts
