"""Incremental pool update: ingest + embed of a 50k-image pool from scratch, then again after 1% new
images arrive, measured side by side in one run (the goal: the rerun costs at most 5% of the full run).

The rerun reads every source again (the ids are content hashes, so it has to hash the bytes) but
decodes, normalises, writes and embeds only the new images.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.incremental_pool [--images 50000 --new-share 0.01]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch

from benchmarks.common import tiny_clip, world_pool
from pipeline.pool.embed import embed_pool
from pipeline.pool.ingest import ingest
from pipeline.pool.params import DEFAULT_TYPE_PROMPTS, EmbedConfig, SearchConfig


def run(sources: list[str], lake_uri: str, clip_dir: Path) -> tuple[dict, dict, float, float]:
    began = time.perf_counter()
    manifest, counts = ingest(sources, lake_uri, 10**7)
    ingest_s = time.perf_counter() - began
    prompts = dict(DEFAULT_TYPE_PROMPTS)
    began = time.perf_counter()
    _, embedded = embed_pool(manifest, str(clip_dir), prompts, EmbedConfig(), SearchConfig())
    return counts, embedded, ingest_s, time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--new-share", type=float, default=0.01)
    args = ap.parse_args()
    torch.set_num_threads(2)
    logging.basicConfig(level=logging.WARNING)
    extra = int(args.images * args.new_share)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        full = pq.read_table(world_pool(tmp / "world", args.images + extra))
        pq.write_table(full.slice(0, args.images), tmp / "base.parquet")
        pq.write_table(full.slice(args.images), tmp / "new.parquet")
        clip_dir = tiny_clip(tmp / "clip", tmp / "base.parquet")
        lake_uri = str(tmp / "lake")
        first = run([str(tmp / "base.parquet")], lake_uri, clip_dir)
        second = run([str(tmp / "base.parquet"), str(tmp / "new.parquet")], lake_uri, clip_dir)
    print(f"pool of {args.images} world images, then {extra} more ({args.new_share:.0%})")
    print(f"{'run':<14}{'rows':>8}{'added':>8}{'embedded':>10}{'ingest s':>10}{'embed s':>9}{'total s':>9}")
    for name, (counts, embedded, ingest_s, embed_s) in (("full", first), ("incremental", second)):
        print(f"{name:<14}{counts['rows']:>8}{counts['added']:>8}{embedded['added']:>10}{ingest_s:>10.1f}"
              f"{embed_s:>9.1f}{ingest_s + embed_s:>9.1f}")
    ratio = (second[2] + second[3]) / (first[2] + first[3])
    print(f"incremental / full = {ratio:.1%} (goal <= 5%)")


if __name__ == "__main__":
    main()
