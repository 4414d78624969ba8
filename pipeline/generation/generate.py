"""Generation: fill each cell's quota with targeted samples through planner → retriever → selector →
editor → writer → validator, recording every attempt.

Two blocks, in the manner of datatrove: ``attempt`` makes one try at a sample and returns it or the
reason it was rejected; ``generate`` owns the loop over cells, the quota check, the counting and the
attempt log, kept in a journal (``pipeline/generation/journal.py``) so a killed run resumes. The quota is
checked *before* an attempt is spent (unlike the reference), attempts per cell are capped, a sample is
kept only when the validator's own answer agrees with the writer's under the grader, and each sample
carries its lineage: round, cell, diagnosis hash, source image id and pool version, retrieval query and
score, edit ops, the selector's score, the validator's answer, each role's model and prompt hash, and the
attempt that made it, so an audit can walk back from a trained-on sample to the pool image and agent
calls that made it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field

from PIL import Image
from tqdm import tqdm

from pipeline import lake
from pipeline.generation.agents import AgentBackend, Draft, PlanRequest, Reply
from pipeline.generation.edits import replay
from pipeline.generation.journal import Journal
from pipeline.grading import is_correct, parse_answer
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
    failures: dict[str, tuple[dict, ...]] = field(default_factory=dict)  # cell -> probe items it got wrong
    used: set[str] = field(default_factory=set)       # pool images already in an accepted sample
    seen: set[tuple[str, str]] = field(default_factory=set)  # (image, question) pairs accepted

    def __post_init__(self):
        self.pool = lake.open_pinned(self.pool_manifest)

    def source_bytes(self, image_id: str) -> bytes:
        return lake.fetch_rows(self.pool, [image_id], ["image_id", "image"])["image"][0].as_py()

    def load(self, image_id: str) -> Image.Image:
        """A pool image as the models see it."""
        return decode_rgb(self.source_bytes(image_id))


@dataclass
class Outcome:
    """One attempt: an accepted sample, or the reason it was rejected; the calls it spent either way."""

    sample: dict | None
    reason: str
    image_id: str
    calls: list[Call]
    notes: list[str] = field(default_factory=list)  # extra counters (e.g. retrieval.untagged)


def _fail(reply: Reply, calls: list[Call], notes: list[str], image: str = "") -> Outcome:
    return Outcome(None, reply.reason or "no_reply", image, calls + reply.calls, notes)


def attempt(ctx: Context, cell: str, attempt_id: str, tried: set[str]) -> Outcome:
    """Plan, retrieve (skipping ``tried`` and used images), select, edit, write and validate one sample."""
    rng = random.Random(f"{ctx.seed}:{attempt_id}")
    calls: list[Call] = []
    notes: list[str] = []
    planned = ctx.backend.plan(PlanRequest(cell, ctx.brief, ctx.failures.get(cell, ())), rng)
    if planned.value is None:
        return _fail(planned, calls, notes)
    plan, calls = planned.value, calls + planned.calls
    skip = ctx.used | tried
    hits = []
    for query in (plan.query, *plan.more_queries):
        hits = ctx.search.by_text(query, ctx.top_k, image_type=plan.image_type, exclude=skip)
        if hits:
            break
    if not hits:  # the zero-shot type tag is a hint: when no image carries it, search untagged
        notes.append("retrieval.untagged")
        hits = ctx.search.by_text(plan.query, ctx.top_k, exclude=skip)
    if not hits:
        return Outcome(None, "no_retrieval", "", calls, notes)
    selected = ctx.backend.select(plan, hits, ctx.load, rng)
    if selected.value is None:
        return _fail(selected, calls, notes)
    hit, calls = selected.value, calls + selected.calls
    source = ctx.load(hit.image_id)
    edited = ctx.backend.edit(plan, source, rng)
    if edited.value is None:
        return _fail(edited, calls, notes, hit.image_id)
    edits, calls = edited.value, calls + edited.calls
    image = replay(source, edits)
    written = ctx.backend.write(plan, hit.image_id, image, rng)
    if written.value is None:
        return _fail(written, calls, notes, hit.image_id)
    draft, calls = written.value, calls + written.calls
    checked = ctx.backend.validate(plan, hit.image_id, image, draft)
    calls += checked.calls
    reason = checked.reason if checked.value is None else agreement(draft, checked.value)
    if not reason and (hit.image_id, draft.question) in ctx.seen:
        reason = "near_duplicate"
    if reason:
        return Outcome(None, reason, hit.image_id, calls, notes)
    data = encode_png(image)
    sample = {
        "sample_id": hashlib.sha256(f"{attempt_id}:{hit.image_id}:{draft.question}".encode()).hexdigest()[:16],
        "round": ctx.round_name, "cell": cell, "category": plan.category, "image_type": plan.image_type,
        "diagnosis_hash": ctx.diagnosis_hash, "source_image_id": hit.image_id,
        "pool_version": ctx.pool_manifest.version, "vectors_version": ctx.search.version,
        "retrieval_query": plan.query, "retrieval_score": hit.score, "edits": json.dumps(edits),
        "question": draft.question, "answer": draft.answer, "answer_type": draft.answer_type,
        "options": draft.options, "image": data, "image_hash": image_id(data), "attempt_id": attempt_id,
        "backend": ctx.backend.name, "role_models": json.dumps({c.role: c.model for c in calls}, sort_keys=True),
        "prompt_hashes": json.dumps(ctx.backend.prompt_hashes(), sort_keys=True),
        "selector_score": selected.score, "validator_answer": checked.value,
    }
    return Outcome(sample, "", hit.image_id, calls, notes)


def agreement(draft: Draft, answer: str) -> str:
    """"" when the draft's answer is well formed and the validator's own answer matches it under the grader,
    else the rejection reason."""
    if parse_answer(draft.answer, draft.answer_type, draft.options) is None:
        return "malformed_answer"
    if not is_correct(answer, draft.answer, draft.answer_type, draft.options):
        return "validator_disagrees"
    return ""


@dataclass(frozen=True)
class Budget:
    """Per-round caps on calls and tokens (0: none), checked before each attempt, so the last attempt may
    go over by its own calls; and prices per million tokens by model, for the cost in the metrics."""

    calls: int = 0
    tokens: int = 0
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)

    def reached(self, counts: Counter) -> str:
        """Which cap the counts have reached ("calls" or "tokens"), or ""."""
        if self.calls and sum(v for k, v in counts.items() if k.startswith("calls.")) >= self.calls:
            return "calls"
        if self.tokens and counts["tokens.prompt"] + counts["tokens.completion"] >= self.tokens:
            return "tokens"
        return ""

    def cost(self, calls: list[dict]) -> float:
        """The price of ``calls`` (models without a price cost nothing)."""
        total = 0.0
        for call in calls:
            prompt, completion = self.prices.get(call["model"], (0.0, 0.0))
            total += call["prompt_tokens"] * prompt + call["completion_tokens"] * completion
        return total / 1e6


def _count(counts: Counter, row: dict, calls: list[dict], budget: Budget) -> None:
    counts.update(["attempts", *json.loads(row["notes"]), *(f"calls.{c['role']}" for c in calls)])
    counts["tokens.prompt"] += sum(c["prompt_tokens"] for c in calls)
    counts["tokens.completion"] += sum(c["completion_tokens"] for c in calls)
    if budget.prices:
        counts["cost"] += budget.cost(calls)
    if row["reason"]:
        counts[f"rejected.{row['reason']}"] += 1


def generate(quotas: dict[str, int], ctx: Context, max_attempts_per_sample: int, journal: Journal | None = None,
             budget: Budget | None = None) -> tuple[list[dict], list[dict], dict[str, int]]:
    """(samples, attempt log rows, counts): each cell tried until its quota is met or its attempts run out,
    or the budget is spent. Attempts the journal already holds (a resumed run) are read back, not remade."""
    journal, budget = journal or Journal(), budget or Budget()
    done = journal.done()
    counts: Counter[str] = Counter()
    stopped = ""
    for cell, quota in tqdm(sorted(quotas.items()), desc="generate", unit="cell"):
        accepted, counter = 0, 0
        tried: set[str] = set()  # images this cell already rejected: never retried
        recorded = iter(done.get(cell, []))
        while accepted < quota and counter < quota * max_attempts_per_sample:
            attempt_id = f"{ctx.round_name}/{cell}/{counter:05d}"
            counter += 1
            row = next(recorded, None)
            if row is None:
                stopped = stopped or budget.reached(counts)
                if stopped:
                    break
                out = attempt(ctx, cell, attempt_id, tried)
                row = {"attempt_id": attempt_id, "round": ctx.round_name, "cell": cell,
                       "outcome": "rejected" if out.reason else "accepted", "reason": out.reason,
                       "source_image_id": out.image_id, "calls": calls_json(out.calls),
                       "notes": json.dumps(out.notes)}
                journal.record(row, out.sample)
                row = row | {"sample": out.sample}
            _count(counts, row, json.loads(row["calls"]), budget)
            if row["reason"]:
                if row["source_image_id"]:
                    tried.add(row["source_image_id"])
                continue
            ctx.used.add(row["source_image_id"])
            ctx.seen.add((row["source_image_id"], row["sample"]["question"]))
            accepted += 1
        counts["accepted"] += accepted
        if accepted < quota:
            counts["unfilled"] += quota - accepted
            log.warning("cell %s: %d of %d filled after %d attempts", cell, accepted, quota, counter)
    if stopped:
        counts[f"stopped.{stopped}"] = 1
        log.warning("generation stopped: the round's %s budget is spent; %d samples kept", stopped,
                    counts["accepted"])
    journal.flush()
    return journal.samples, journal.attempts, dict(counts)
