"""Pool search at scale: top-10 latency and recall@10 of the IVF_FLAT index against exact search.

Builds a vectors table of N (default 200k) unit vectors drawn around a few hundred overlapping cluster
centres (CLIP-like: images of a kind sit together), each with an image type drawn apart from its cluster,
queries with fresh points from the same distribution, indexes it the way the embed stage does
(``lake.maintain_index``: IVF_FLAT plus BITMAP indexes on the filtered columns) and queries it through
``PoolSearch.by_vector`` (what the retriever agent calls), with and without an image-type filter; then
again with the BITMAP indexes dropped (the index before they were added), side by side. Exact top-10 comes
from a numpy brute force.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.search_latency [--rows 200000 --dim 64 --nprobes 24]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.pool.search import PoolSearch
from pipeline.storage import lake, schemas

TYPES = ["shapes", "objects", "bar_chart", "line_chart", "document", "table"]


def clustered(rows: int, dim: int, clusters: int, rng: np.random.Generator,
              noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``clusters`` centres; the first ``rows`` are indexed, any more serve as queries."""
    centres = rng.normal(size=(clusters, dim))
    label = rng.integers(0, clusters, rows)
    vecs = centres[label] + rng.normal(scale=noise, size=(rows, dim))
    return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32), label


def build(lake_uri: str, vecs: np.ndarray, types: list[str], threshold: int, partitions: int):
    table = lake.open_or_create(lake_uri, lake.vectors_table(vecs.shape[1]), schemas.vectors(vecs.shape[1]))
    n, chunk = len(vecs), 50_000
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        table.add(pa.table({
            "image_id": [f"img{i:07d}" for i in range(s, e)], "model": ["bench"] * (e - s),
            "image_type": types[s:e], "width": pa.array([112] * (e - s), pa.int32()),
            "height": pa.array([112] * (e - s), pa.int32()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs[s:e].ravel()), vecs.shape[1]),
        }))
    began = time.perf_counter()
    kind = lake.maintain_index(table, threshold, partitions)
    return lake.pin(table, lake_uri, "bench"), kind, time.perf_counter() - began


def without_filter_indexes(lake_uri: str, manifest: schemas.Manifest) -> schemas.Manifest:
    """The same table with only its vector index (as embed built it before the filters were indexed)."""
    table = lake.connect(lake_uri).open_table(manifest.table)
    for index in table.list_indices():
        if "vector" not in index.columns:
            table.drop_index(index.name)
    return lake.pin(table, lake_uri, "bare")


def measure(search: PoolSearch, queries: np.ndarray, truth: list[set[str]], **filters) -> tuple[float, float]:
    search.by_vector(queries[0], 10, **filters)  # warm the index cache
    latencies, recalls = [], []
    for q, exact in zip(queries, truth):
        began = time.perf_counter()
        hits = search.by_vector(q, 10, **filters)
        latencies.append(time.perf_counter() - began)
        recalls.append(len({h.image_id for h in hits} & exact) / 10)
    return float(np.median(latencies) * 1000), float(np.mean(recalls))


def exact_top10(vecs: np.ndarray, queries: np.ndarray, mask: np.ndarray | None = None) -> list[set[str]]:
    scores = queries @ vecs.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    return [{f"img{i:07d}" for i in row} for row in top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--clusters", type=int, default=300)
    ap.add_argument("--noise", type=float, default=1.0, help="spread around the centres (1.0: clusters overlap)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--partitions", type=int, default=0)
    ap.add_argument("--nprobes", type=int, default=24)
    ap.add_argument("--json", help="write the numbers here too (benchmarks/perf.py reads them)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    points, _ = clustered(args.rows + args.queries, args.dim, args.clusters, rng, args.noise)
    vecs, queries = points[:args.rows], points[args.rows:]  # queries: new images, not indexed ones
    # a type is drawn apart from the clusters: an image's kind does not line up with the index's partitions
    types = [TYPES[t] for t in np.random.default_rng(1).integers(0, len(TYPES), args.rows)]
    with tempfile.TemporaryDirectory() as tmp:
        flat_manifest, _, _ = build(f"{tmp}/flat", vecs, types, threshold=args.rows + 1, partitions=0)
        ivf_manifest, kind, build_s = build(f"{tmp}/ivf", vecs, types, threshold=1, partitions=args.partitions)
        flat = PoolSearch(flat_manifest, None, model_id="bench")
        ivf = PoolSearch(ivf_manifest, None, nprobes=args.nprobes, model_id="bench")
        bare = PoolSearch(without_filter_indexes(f"{tmp}/ivf", ivf_manifest), None, nprobes=args.nprobes,
                          model_id="bench")
        truth = exact_top10(vecs, queries)
        typed_mask = np.array([t == "document" for t in types])
        typed_truth = exact_top10(vecs, queries, typed_mask)
        print(f"{args.rows} vectors, dim {args.dim}, {args.queries} queries; {kind} index built in {build_s:.1f} s "
              f"(partitions {args.partitions or 'auto'}, nprobes {args.nprobes})")
        print(f"{'search':<28}{'median ms':>10}{'recall@10':>11}")
        rows = {}
        for name, search, filters, exact in (
            ("exact (flat)", flat, {}, truth),
            ("IVF_FLAT", ivf, {}, truth),
            ("exact, image_type filter", flat, {"image_type": "document"}, typed_truth),
            ("IVF_FLAT, image_type filter", ivf, {"image_type": "document"}, typed_truth),
            ("IVF_FLAT only", bare, {}, truth),
            ("IVF_FLAT only, type filter", bare, {"image_type": "document"}, typed_truth),
        ):
            ms, recall = measure(search, queries, exact, **filters)
            print(f"{name:<28}{ms:>10.2f}{recall:>11.3f}")
            rows[name] = {"median_ms": ms, "recall_at_10": recall}
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": args.rows, "dim": args.dim, "index": kind,
                                               "build_s": build_s, "searches": rows}, indent=1))


if __name__ == "__main__":
    main()
