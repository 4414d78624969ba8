"""Generation: fill each cell's quota with targeted samples through planner → retriever → editor →
writer → validator, recording every attempt.

Two blocks, in the manner of datatrove: ``attempt`` makes one try at a sample and returns it or the
reason it was rejected; ``generate`` owns the loop over cells, the quota check, the counting and the
attempt log. The quota is checked *before* an attempt is spent (unlike the reference), attempts per
cell are capped, and each sample carries its lineage: round, cell, diagnosis hash, source image id and
pool version, retrieval query and score, edit ops, and the attempt that made it, so an audit can walk
back from a trained-on sample to the pool image and agent calls that made it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field

from tqdm import tqdm

from pipeline import lake
from pipeline.generation.agents import AgentBackend
from pipeline.generation.edits import replay
from pipeline.images import decode_rgb, encode_png, image_id
from pipeline.pool.search import PoolSearch
from pipeline.schemas import Call, Manifest, calls_json

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What every attempt of a round reads, and what the round has used so far."""

    backend: AgentBackend
    search: PoolSearch
    pool_manifest: Manifest
    brief: str
    diagnosis_hash: str
    round_name: str
    seed: int
    top_k: int
    used: set[str] = field(default_factory=set)       # pool images already in an accepted sample
    seen: set[tuple[str, str]] = field(default_factory=set)  # (image, question) pairs accepted

    def __post_init__(self):
        self.pool = lake.open_pinned(self.pool_manifest)


@dataclass
class Outcome:
    """One attempt: an accepted sample, or the reason it was rejected; the calls it spent either way."""

    sample: dict | None
    reason: str
    image_id: str
    calls: list[Call]
    notes: list[str] = field(default_factory=list)  # extra counters (e.g. retrieval.untagged)


def attempt(ctx: Context, cell: str, attempt_id: str, tried: set[str]) -> Outcome:
    """Plan, retrieve (skipping ``tried`` and used images), edit, write and validate one sample."""
    rng = random.Random(f"{ctx.seed}:{attempt_id}")
    plan, calls = ctx.backend.plan(cell, ctx.brief, rng)
    skip = ctx.used | tried
    notes = []
    hits = ctx.search.by_text(plan.query, ctx.top_k, image_type=plan.image_type, exclude=skip)
    if not hits:  # the zero-shot type tag is a hint: when no image carries it, search untagged
        notes.append("retrieval.untagged")
        hits = ctx.search.by_text(plan.query, ctx.top_k, exclude=skip)
    if not hits:
        return Outcome(None, "no_retrieval", "", calls, notes)
    hit = rng.choice(hits)
    source = lake.fetch_rows(ctx.pool, [hit.image_id], ["image_id", "image"])["image"][0].as_py()
    image = replay(decode_rgb(source), plan.edits)
    draft, reason, more = ctx.backend.write(plan, hit.image_id, image, rng)
    calls += more
    if draft is not None:
        verdict, more = ctx.backend.validate(plan, hit.image_id, image, draft)
        calls += more
        reason = verdict.reason
        if verdict.ok and (hit.image_id, draft.question) in ctx.seen:
            reason = "near_duplicate"
    if reason:
        return Outcome(None, reason, hit.image_id, calls, notes)
    data = encode_png(image)
    sample = {
        "sample_id": hashlib.sha256(f"{attempt_id}:{hit.image_id}:{draft.question}".encode()).hexdigest()[:16],
        "round": ctx.round_name, "cell": cell, "category": plan.category, "image_type": plan.image_type,
        "diagnosis_hash": ctx.diagnosis_hash, "source_image_id": hit.image_id,
        "pool_version": ctx.pool_manifest.version, "vectors_version": ctx.search.version,
        "retrieval_query": plan.query, "retrieval_score": hit.score, "edits": json.dumps(plan.edits),
        "question": draft.question, "answer": draft.answer, "answer_type": draft.answer_type,
        "options": draft.options, "image": data, "image_hash": image_id(data), "attempt_id": attempt_id,
    }
    return Outcome(sample, "", hit.image_id, calls, notes)


def generate(quotas: dict[str, int], ctx: Context,
             max_attempts_per_sample: int) -> tuple[list[dict], list[dict], dict[str, int]]:
    """(samples, attempt log rows, counts): each cell tried until its quota is met or its attempts run out."""
    samples, attempts = [], []
    counts: Counter[str] = Counter()
    for cell, quota in tqdm(sorted(quotas.items()), desc="generate", unit="cell"):
        accepted, counter = 0, 0
        tried: set[str] = set()  # images this cell already rejected: never retried
        while accepted < quota and counter < quota * max_attempts_per_sample:
            attempt_id = f"{ctx.round_name}/{cell}/{counter:05d}"
            counter += 1
            out = attempt(ctx, cell, attempt_id, tried)
            counts.update(["attempts", *out.notes])
            attempts.append({"attempt_id": attempt_id, "round": ctx.round_name, "cell": cell,
                             "outcome": "rejected" if out.reason else "accepted", "reason": out.reason,
                             "source_image_id": out.image_id, "calls": calls_json(out.calls)})
            if out.reason:
                counts[f"rejected.{out.reason}"] += 1
                if out.image_id:
                    tried.add(out.image_id)
                continue
            ctx.used.add(out.image_id)
            ctx.seen.add((out.image_id, out.sample["question"]))
            samples.append(out.sample)
            accepted += 1
        counts["accepted"] += accepted
        if accepted < quota:
            counts["unfilled"] += quota - accepted
            log.warning("cell %s: %d of %d filled after %d attempts", cell, accepted, quota, counter)
    return samples, attempts, dict(counts)
