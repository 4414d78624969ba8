"""Ingest pool sources into the lake's pool table: content-hash ids, checks, normalisation, quarantine.

Incremental by construction: an image whose bytes are already in the pool is recognised by its
sha256 id without decoding it (a known id from a new source only adds that source to the row), and
a source already quarantined for the same bytes is not decoded again. So a rerun after new images
arrive decodes and writes only the new ones. Bad inputs never stop the stage: they go to the
quarantine table with a reason (see ``pipeline.storage.images``), counted in the stage metrics.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable, Container

import polars as pl
import pyarrow as pa
from tqdm import tqdm

from pipeline.pool.params import SourceConfig
from pipeline.pool.sources import Record, read_source
from pipeline.storage import artifacts, lake, schemas
from pipeline.storage.images import Checked, image_id, normalise

log = logging.getLogger(__name__)
# the pool rows of the sources params list, each with the first (in sort order) source URI it was listed under
LISTED = pa.schema([("image_id", pa.string()), ("source", pa.string())])  # ingest's listed.parquet


def as_source(src: SourceConfig | str) -> SourceConfig:
    return SourceConfig(uri=src) if isinstance(src, str) else src


def examine(records: list[Record], known: Callable[[str], bool], bad: Container[tuple[str, str]],
            check: Callable[[bytes], Checked], mapper: Callable = map) -> list[dict]:
    """One outcome per record: bytes hashed, and decoded and normalised only when the lake does not have
    them yet (``status``: ok, rejected, known, known_bad). Pure apart from ``check``; the default path
    runs it in threads, the Ray path in Ray workers."""
    outcomes, fresh = [], {}
    for rec in records:
        out = {"source": rec.source, "image_id": "", "status": "rejected", "reason": "", "detail": ""}
        outcomes.append(out)
        if not rec.data:
            out["reason"], out["detail"] = ("unreadable", rec.error) if rec.error else ("empty", "zero bytes")
            continue
        out["image_id"] = iid = image_id(rec.data)
        if known(iid):
            out["status"] = "known"
        elif (rec.source, iid) in bad:
            out["status"] = "known_bad"
        else:
            fresh.setdefault(iid, rec.data)
    checked = dict(zip(fresh, mapper(check, fresh.values())))
    for out in outcomes:
        res = checked.get(out["image_id"]) if out["status"] == "rejected" and out["image_id"] else None
        if res is None:
            continue
        if res.reason:
            out["reason"], out["detail"] = res.reason, res.detail
        else:
            out.update(status="ok", image=res.data, width=res.width, height=res.height, format=res.format,
                       changes=list(res.changes))
    return outcomes


class IngestRun:
    """One ingest run: what the lake already holds, what this run adds, and the counts. Outcomes from
    ``examine`` (computed here or by Ray workers) are accepted in order and written in large commits."""

    def __init__(self, lake_uri: str, batch_size: int):
        self.lake = lake_uri
        self.pool = lake.open_or_create(lake_uri, lake.POOL, schemas.POOL, "image_id")
        self.quarantine = lake.open_or_create(lake_uri, lake.QUARANTINE, schemas.QUARANTINE, "source")
        self.batch_size = batch_size
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
        self.listed: dict[str, str] = {}  # every pool id met in the listed sources this run, new or known -> source

    def has(self, iid: str) -> bool:
        return iid in self.known or iid in self.pending

    def accept(self, outcomes: list[dict]) -> None:
        for out in outcomes:
            self.counts["seen"] += 1
            iid, source = out["image_id"], out["source"]
            if out["status"] not in ("known_bad", "rejected"):
                self.listed[iid] = min(source, self.listed.get(iid, source))
            if out["status"] == "known_bad":
                self.counts["known_bad"] += 1
            elif out["status"] == "rejected":
                self.counts[f"rejected.{out['reason']}"] += 1
                self.rejected.append({k: out[k] for k in schemas.QUARANTINE.names})
            elif iid in self.known:  # "known", or "ok" for bytes another worker added first
                self.counts["known"] += 1
                if source not in self.known[iid]:
                    self.new_sources[iid].add(source)
            elif iid in self.pending:
                self.pending[iid]["sources"].append(source)
            else:
                self.counts.update(f"normalised.{c}" for c in out.get("changes") or [])
                self.pending[iid] = {"sources": [source], **{k: out[k] for k in schemas.POOL.names
                                                              if k != "sources"}}
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        rows = list(self.pending.values())
        self.counts["added"] += lake.merge(self.pool, pa.Table.from_pylist(rows, schemas.POOL), "image_id")
        self.known.update((r["image_id"], set(r["sources"])) for r in rows)
        self.pending.clear()
        lake.merge(self.quarantine, pa.Table.from_pylist(self.rejected, schemas.QUARANTINE), "source",
                   update=True)
        self.rejected.clear()

    def record_new_sources(self) -> None:
        """Known images met under a new name: add the names to their rows (full rows are rewritten)."""
        ids = sorted(self.new_sources)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start:start + self.batch_size]
            rows = lake.fetch_rows(self.pool, chunk, schemas.POOL.names).to_pylist()
            for row in rows:
                row["sources"] = sorted(set(row["sources"]) | self.new_sources[row["image_id"]])
            self.counts["sources_added"] += sum(len(self.new_sources[i]) for i in chunk)
            lake.merge(self.pool, pa.Table.from_pylist(rows, schemas.POOL), "image_id", update=True)

    def finish(self, listed_out: str | Path | None = None) -> tuple[schemas.Manifest, dict[str, int]]:
        """Write what is pending, pin the pool version, and report the counts; with ``listed_out``, also write
        the ids of the rows the listed sources hold (the lake keeps rows of sources no longer listed)."""
        self.flush()
        self.record_new_sources()
        lake.index_key(self.pool, "image_id", changed=bool(self.counts["added"] or self.counts["sources_added"]))
        manifest = lake.pin(self.pool, self.lake, "ingest")
        counts = {"rows": manifest.rows, "listed": len(self.listed), "added": self.counts["added"],
                  **quarantine_counts(self.lake)}
        if listed_out:
            write_listed(listed_out, self.listed)
        counts.update({k: v for k, v in sorted(self.counts.items()) if k != "added"})
        log.info("ingest summary:\n%s", "\n".join(f"  {k:<40} {v:>10}" for k, v in counts.items()))
        return manifest, counts


def write_listed(path: str | Path, listed: dict[str, str]) -> None:
    artifacts.write_parquet(path, [{"image_id": i, "source": listed[i]} for i in sorted(listed)], LISTED)


def listed_ids(path: str | Path) -> frozenset[str]:
    """The pool ids of the sources params list (ingest's listed.parquet)."""
    return frozenset(artifacts.read_table(path, LISTED).column("image_id").to_pylist())


def read_listed(path: str | Path, manifest: schemas.Manifest) -> frozenset[str] | None:
    """The pool ids a round may use: the listed sources' rows; None when that is every row of the pinned version
    (nothing to restrict)."""
    ids = listed_ids(path)
    return None if len(ids) == manifest.rows else ids


def quarantine_counts(lake_uri: str) -> dict[str, int]:
    """Rows of the quarantine table per reason (the lake's state, not just this run's)."""
    table = lake.open_or_create(lake_uri, lake.QUARANTINE, schemas.QUARANTINE, "source")
    reasons = pl.from_arrow(table.to_lance().to_table(columns=["reason"])).group_by("reason").len().sort("reason")
    return {"quarantined.total": int(reasons["len"].sum()), **{f"quarantined.{r}": n for r, n in reasons.iter_rows()}}


def ingest(sources: list[SourceConfig | str], lake_uri: str, max_pixels: int, max_side: int = 2048,
           batch_size: int = 4096, workers: int = 2, listed_out: str | Path | None = None, max_bytes: int = 0
           ) -> tuple[schemas.Manifest, dict[str, int]]:
    sources = [as_source(s) for s in sources]
    readers = [(s.uri, read_source(s, batch_size=min(batch_size, 1024))) for s in sources]  # fail before work
    run = IngestRun(lake_uri, batch_size)
    check = partial(normalise, max_pixels=max_pixels, max_side=max_side, max_bytes=max_bytes)
    with ThreadPoolExecutor(workers) as threads:  # PIL decodes with the GIL released
        for uri, batches in readers:
            for records in tqdm(batches, desc=f"ingest {uri}", unit="batch"):
                run.accept(examine(records, run.has, run.bad, check, threads.map))
    return run.finish(listed_out)
