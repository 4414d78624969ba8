"""Reading an attempt's candidate images from the pool: one filtered scan per image against
one batched read, side by side.

Builds a pool table of N (default 100,000) rows of image ids and ~3 KB image bytes the way ingest writes it,
then times, for random sets of ``--candidates`` ids:

- ``one id per read, no index``: each image an attempt looks at (about five: source, selector, editor, paste)
  fetched by its own filtered scan;
- ``one batched read, no index``: all candidates in one ``lake.fetch_rows``;
- ``one batched read, BTREE index``: the same after ``lake.index_key`` (which ingest builds), the path
  ``generation/attempt.py`` takes.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.fetch_rows [--rows 100000 --candidates 16 --reads 5]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time

import numpy as np
import pyarrow as pa

from pipeline.storage import lake, schemas


def build(lake_uri: str, rows: int, rng: np.random.Generator):
    table = lake.open_or_create(lake_uri, lake.POOL, schemas.POOL, "image_id")
    for start in range(0, rows, 10_000):
        n = min(10_000, rows - start)
        table.add(pa.table({
            "image_id": [hashlib.sha256(str(i).encode()).hexdigest() for i in range(start, start + n)],
            "sources": [[f"src/{i}.png"] for i in range(start, start + n)],
            "image": [rng.bytes(3000) for _ in range(n)], "width": pa.array([112] * n, pa.int32()),
            "height": pa.array([112] * n, pa.int32()), "format": ["PNG"] * n,
        }, schema=schemas.POOL))
    return table


def median_ms(read, ids: list[str], candidates: int, rng: np.random.Generator, trials: int = 30) -> float:
    times = []
    for _ in range(trials):
        wanted = list(rng.choice(ids, candidates, replace=False))
        began = time.perf_counter()
        read(wanted)
        times.append(time.perf_counter() - began)
    return float(np.median(times) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--candidates", type=int, default=16, help="images an attempt retrieves (generate.top_k)")
    ap.add_argument("--reads", type=int, default=5, help="single-image reads an attempt made before")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    columns = ["image_id", "image"]
    with tempfile.TemporaryDirectory() as tmp:
        table = build(tmp, args.rows, rng)
        ids = table.to_lance().to_table(columns=["image_id"])["image_id"].to_pylist()
        rows = {
            f"one id per read ({args.reads} reads), no index":
                median_ms(lambda w: [lake.fetch_rows(table, [i], columns) for i in w[:args.reads]], ids,
                          args.candidates, rng),
            f"one batched read of {args.candidates}, no index":
                median_ms(lambda w: lake.fetch_rows(table, w, columns), ids, args.candidates, rng),
        }
        lake.index_key(table)
        rows[f"one batched read of {args.candidates}, BTREE index"] = median_ms(
            lambda w: lake.fetch_rows(table, w, columns), ids, args.candidates, rng)
    before = next(iter(rows.values()))
    print(f"{args.rows} pool rows; median ms per attempt's image reads")
    for name, ms in rows.items():
        print(f"{name:<44}{ms:>9.2f} ms{before / ms:>8.1f}x")


if __name__ == "__main__":
    main()
