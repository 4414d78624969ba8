"""Generation: fill each cell's quota with targeted samples through planner → retriever → editor →
writer → validator, recording every attempt.

The quota is checked *before* an attempt is spent (unlike the reference), attempts per cell are
capped, and each sample carries its lineage: round, cell, diagnosis hash, source image id and pool
version, retrieval query and score, edit ops, and the verdict, so an audit can walk back from a
trained-on sample to the pool image and agent calls that made it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from dataclasses import asdict

import pyarrow as pa
from tqdm import tqdm

from pipeline import lake
from pipeline.agents import AgentBackend
from pipeline.edits import replay
from pipeline.images import decode_rgb, image_id
from pipeline.search import PoolSearch
from pipeline.world.render import png_bytes

log = logging.getLogger(__name__)

SAMPLE_SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("round", pa.string()), ("cell", pa.string()), ("category", pa.string()),
    ("image_type", pa.string()), ("diagnosis_hash", pa.string()), ("source_image_id", pa.string()),
    ("pool_version", pa.int64()), ("vectors_version", pa.int64()), ("retrieval_query", pa.string()),
    ("retrieval_score", pa.float32()),
    ("edits", pa.string()), ("question", pa.string()), ("answer", pa.string()), ("answer_type", pa.string()),
    ("options", pa.list_(pa.string())), ("image", pa.binary()), ("image_hash", pa.string()),
    ("attempt_id", pa.string()),
])
TRAINSET_SCHEMA = SAMPLE_SCHEMA.append(pa.field("pass_rate", pa.float64())).append(
    pa.field("in_band", pa.bool_())).append(pa.field("filled", pa.bool_()))
ROLLOUT_SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("k", pa.int32()), ("model", pa.string()), ("completion", pa.string()),
    ("correct", pa.bool_()),
])
ATTEMPT_SCHEMA = pa.schema([
    ("attempt_id", pa.string()), ("round", pa.string()), ("cell", pa.string()), ("outcome", pa.string()),
    ("reason", pa.string()), ("source_image_id", pa.string()), ("calls", pa.string()),
])


def _attempt(round_name, cell, attempt_id, outcome, reason, image_id, calls) -> dict:
    return {"attempt_id": attempt_id, "round": round_name, "cell": cell, "outcome": outcome, "reason": reason,
            "source_image_id": image_id, "calls": json.dumps([asdict(c) for c in calls])}


def generate(quotas: dict[str, int], brief: str, diagnosis_hash: str, backend: AgentBackend,
             search: PoolSearch, pool_manifest: lake.Manifest, *, round_name: str, seed: int, top_k: int,
             max_attempts_per_sample: int) -> tuple[list[dict], list[dict], dict[str, int]]:
    pool = lake.open_pinned(pool_manifest)
    samples, attempts = [], []
    used: set[str] = set()
    seen_questions: set[tuple[str, str]] = set()
    counts: Counter[str] = Counter()
    for cell, quota in tqdm(sorted(quotas.items()), desc="generate", unit="cell"):
        accepted, counter = 0, 0
        tried: set[str] = set()  # images this cell already rejected: never retried
        while accepted < quota and counter < quota * max_attempts_per_sample:
            attempt_id = f"{round_name}/{cell}/{counter:05d}"
            counter += 1
            counts["attempts"] += 1
            rng = random.Random(f"{seed}:{attempt_id}")
            plan, calls = backend.plan(cell, brief, rng)
            skip = used | tried
            hits = search.by_text(plan.query, top_k, image_type=plan.image_type, exclude=skip)
            if not hits:  # the zero-shot type tag is a hint: when no image carries it, search untagged
                counts["retrieval.untagged"] += 1
                hits = search.by_text(plan.query, top_k, exclude=skip)
            if not hits:
                attempts.append(_attempt(round_name, cell, attempt_id, "rejected", "no_retrieval", "", calls))
                counts["rejected.no_retrieval"] += 1
                continue
            hit = rng.choice(hits)
            source = lake.fetch_rows(pool, [hit.image_id], ["image_id", "image"])["image"][0].as_py()
            image = replay(decode_rgb(source), plan.edits)
            draft, reason, more = backend.write(plan, hit.image_id, image, rng)
            calls += more
            if draft is not None:
                verdict, more = backend.validate(plan, hit.image_id, image, draft)
                calls += more
                reason = verdict.reason
                if verdict.ok and (hit.image_id, draft.question) in seen_questions:
                    reason = "near_duplicate"
            if reason:
                tried.add(hit.image_id)
                attempts.append(_attempt(round_name, cell, attempt_id, "rejected", reason, hit.image_id, calls))
                counts[f"rejected.{reason}"] += 1
                continue
            used.add(hit.image_id)
            seen_questions.add((hit.image_id, draft.question))
            data = png_bytes(image)
            sample_id = hashlib.sha256(f"{attempt_id}:{hit.image_id}:{draft.question}".encode()).hexdigest()[:16]
            samples.append({
                "sample_id": sample_id, "round": round_name, "cell": cell, "category": plan.category,
                "image_type": plan.image_type, "diagnosis_hash": diagnosis_hash, "source_image_id": hit.image_id,
                "pool_version": pool_manifest.version, "vectors_version": search.version,
                "retrieval_query": plan.query,
                "retrieval_score": hit.score, "edits": json.dumps(plan.edits), "question": draft.question,
                "answer": draft.answer, "answer_type": draft.answer_type, "options": draft.options,
                "image": data, "image_hash": image_id(data), "attempt_id": attempt_id,
            })
            attempts.append(_attempt(round_name, cell, attempt_id, "accepted", "", hit.image_id, calls))
            accepted += 1
        counts["accepted"] += accepted
        if accepted < quota:
            counts["unfilled"] += quota - accepted
            log.warning("cell %s: %d of %d filled after %d attempts", cell, accepted, quota, counter)
    return samples, attempts, dict(counts)
