"""Ingest pool sources into the lake's pool table: content-hash ids, checks, normalisation, quarantine.

Incremental by construction: an image whose bytes are already in the pool is recognised by its
sha256 id without decoding it (a known id from a new source only adds that source to the row), and
a source already quarantined for the same bytes is not decoded again. So a rerun after new images
arrive decodes and writes only the new ones. Bad inputs never stop the stage: they go to the
quarantine table with a reason (see ``pipeline.images``), counted in the stage metrics.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pyarrow as pa
from tqdm import tqdm

from pipeline import lake
from pipeline.config import SourceConfig
from pipeline.images import image_id, normalise
from pipeline.sources import Record, read_source

log = logging.getLogger(__name__)


def _as_source(src: SourceConfig | str) -> SourceConfig:
    return SourceConfig(uri=src) if isinstance(src, str) else src


class _Ingest:
    """One ingest run: what the lake already holds, what this run adds, and the counts."""

    def __init__(self, lake_uri: str, max_pixels: int, max_side: int, batch_size: int, workers: int):
        self.pool = lake.open_or_create(lake_uri, lake.POOL, lake.POOL_SCHEMA)
        self.quarantine = lake.open_or_create(lake_uri, lake.QUARANTINE, lake.QUARANTINE_SCHEMA)
        self.check = partial(normalise, max_pixels=max_pixels, max_side=max_side)
        self.batch_size = batch_size
        self.workers = workers
        self.known: dict[str, set[str]] = {}
        for batch in self.pool.to_lance().to_batches(columns=["image_id", "sources"]):
            for iid, sources in zip(batch.column("image_id").to_pylist(), batch.column("sources").to_pylist()):
                self.known[iid] = set(sources)
        self.bad = {(r["source"], r["image_id"]) for r in
                    self.quarantine.to_lance().to_table(columns=["source", "image_id"]).to_pylist()}
        self.new_sources: dict[str, set[str]] = defaultdict(set)  # known id -> sources first seen now
        self.pending: dict[str, dict] = {}
        self.rejected: list[dict] = []
        self.counts: Counter[str] = Counter()

    def add(self, records: list[Record]) -> None:
        fresh: dict[str, list[Record]] = {}
        for rec in records:
            self.counts["seen"] += 1
            if rec.data is None or not rec.data:
                reason, detail = ("unreadable", rec.error) if rec.error else ("empty", "zero bytes")
                self._reject(rec.source, "", reason, detail)
                continue
            iid = image_id(rec.data)
            if iid in self.known:
                self.counts["known"] += 1
                if rec.source not in self.known[iid]:
                    self.new_sources[iid].add(rec.source)
            elif iid in self.pending:
                self.pending[iid]["sources"].append(rec.source)
            elif (rec.source, iid) in self.bad:
                self.counts["known_bad"] += 1
            else:
                fresh.setdefault(iid, []).append(rec)
        with ThreadPoolExecutor(self.workers) as pool:  # PIL decodes with the GIL released
            checked = list(pool.map(lambda recs: self.check(recs[0].data), fresh.values()))
        for (iid, recs), res in zip(fresh.items(), checked):
            if res.reason:
                for rec in recs:
                    self._reject(rec.source, iid, res.reason, res.detail)
                continue
            self.counts.update(f"normalised.{c}" for c in res.changes)
            self.pending[iid] = {"image_id": iid, "sources": [r.source for r in recs], "image": res.data,
                                 "width": res.width, "height": res.height, "format": res.format}
        if len(self.pending) >= self.batch_size:
            self.flush()

    def _reject(self, source: str, iid: str, reason: str, detail: str) -> None:
        self.counts[f"rejected.{reason}"] += 1
        self.rejected.append({"source": source, "image_id": iid, "reason": reason, "detail": detail})

    def flush(self) -> None:
        rows = list(self.pending.values())
        self.counts["added"] += lake.merge(self.pool, pa.Table.from_pylist(rows, lake.POOL_SCHEMA), "image_id")
        self.known.update((r["image_id"], set(r["sources"])) for r in rows)
        self.pending.clear()
        lake.merge(self.quarantine, pa.Table.from_pylist(self.rejected, lake.QUARANTINE_SCHEMA), "source",
                   update=True)
        self.rejected.clear()

    def record_new_sources(self) -> None:
        """Known images met under a new name: add the names to their rows (full rows are rewritten)."""
        ids = sorted(self.new_sources)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start:start + self.batch_size]
            rows = lake.fetch_rows(self.pool, chunk, lake.POOL_SCHEMA.names).to_pylist()
            for row in rows:
                row["sources"] = sorted(set(row["sources"]) | self.new_sources[row["image_id"]])
            self.counts["sources_added"] += sum(len(self.new_sources[i]) for i in chunk)
            lake.merge(self.pool, pa.Table.from_pylist(rows, lake.POOL_SCHEMA), "image_id", update=True)


def quarantine_counts(lake_uri: str) -> dict[str, int]:
    """Rows of the quarantine table per reason (the lake's state, not just this run's)."""
    table = lake.open_or_create(lake_uri, lake.QUARANTINE, lake.QUARANTINE_SCHEMA)
    reasons = Counter(table.to_lance().to_table(columns=["reason"]).column("reason").to_pylist())
    return {"quarantined.total": sum(reasons.values()), **{f"quarantined.{r}": n for r, n in sorted(reasons.items())}}


def ingest(sources: list[SourceConfig | str], lake_uri: str, max_pixels: int, max_side: int = 2048,
           batch_size: int = 4096, workers: int = 2) -> tuple[lake.Manifest, dict[str, int]]:
    sources = [_as_source(s) for s in sources]
    readers = [(s.uri, read_source(s, batch_size=min(batch_size, 1024))) for s in sources]  # fail before work
    run = _Ingest(lake_uri, max_pixels, max_side, batch_size, workers)
    for uri, batches in readers:
        for records in tqdm(batches, desc=f"ingest {uri}", unit="batch"):
            run.add(records)
    run.flush()
    run.record_new_sources()
    manifest = lake.pin(run.pool, lake_uri, "ingest")
    counts = {"rows": manifest.rows, "added": run.counts["added"], **quarantine_counts(lake_uri)}
    counts.update({k: v for k, v in sorted(run.counts.items()) if k != "added"})
    log.info("ingest summary:\n%s", "\n".join(f"  {k:<40} {v:>10}" for k, v in counts.items()))
    return manifest, counts
