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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from itertools import zip_longest
from typing import Iterator

from PIL import Image
from tqdm import tqdm

from pipeline import lake
from pipeline.diagnosis.itemsets import load_items
from pipeline.generation.agents import AgentBackend, Draft, PlanRequest, Reply
from pipeline.generation.claims import Claims
from pipeline.generation.dedup import Seen
from pipeline.generation.edits import edit_outputs, replay, sample_fetch
from pipeline.generation.journal import Journal
from pipeline.grading import is_correct, parse_answer
from pipeline.images import decode_rgb, encode_png, image_id
from pipeline.pool.search import Hit, PoolSearch
from pipeline.schemas import Call, Diagnosis, Manifest, calls_json

log = logging.getLogger(__name__)


def now() -> str:
    """A UTC timestamp for the lineage (when an attempt ran; never part of an id)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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
    failure_images: dict[str, bytes] = field(default_factory=dict)  # probe item id -> its image
    image_queries: int = 1  # failed probe images searched by image per attempt (beside the text queries)
    seen: Seen = field(default_factory=Seen)  # accepted samples, this round and earlier: the dedup index
    used: set[str] = field(default_factory=set)  # pool images already in an accepted sample this round

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
    started: str = field(default_factory=now)


def failure_images(diagnosis: Diagnosis, probe_source: str, probe_cfg) -> dict[str, bytes]:
    """Probe item id -> image, for the items the diagnosis names as failures: the retriever's image queries."""
    wanted = {e.item_id for cell in diagnosis.cells for e in cell.examples if e.item_id}
    if not wanted:
        return {}
    items = load_items(probe_source, probe_cfg.kind, probe_cfg.columns)
    return {item["item_id"]: item["image"] for item in items if item["item_id"] in wanted}


def _fail(reply: Reply, calls: list[Call], notes: list[str], image: str = "") -> Outcome:
    return Outcome(None, reply.reason or "no_reply", image, calls + reply.calls, notes)


def retrieve(ctx: Context, plan, cell: str, skip: set[str], rng: random.Random, notes: list[str],
             lane: int = 0) -> list[Hit]:
    """Candidates for the plan: text→image hits for its first query that finds any, interleaved with
    image→image hits from probe items the model failed in the cell, best first, each image once. ``lane``
    (the attempt's place among its cell's attempts running at once) drops that many best hits, so
    concurrent attempts of a cell do not all pick the same image."""
    k = ctx.top_k + lane
    text: list[Hit] = []
    for query in (plan.query, *plan.more_queries):
        text = [replace(h, query=query) for h in ctx.search.by_text(query, k, image_type=plan.image_type,
                                                                   exclude=skip)]
        if text:
            break
    if not text:  # the zero-shot type tag is a hint: when no image carries it, search untagged
        notes.append("retrieval.untagged")
        text = [replace(h, query=plan.query) for h in ctx.search.by_text(plan.query, k, exclude=skip)]
    probes = [f["item_id"] for f in ctx.failures.get(cell, ()) if f.get("item_id") in ctx.failure_images]
    lists = [text]
    for item in rng.sample(probes, min(ctx.image_queries, len(probes))):
        image = decode_rgb(ctx.failure_images[item])
        lists.append([replace(h, query=f"image:{item}") for h in
                      ctx.search.by_image(image, k, image_type=plan.image_type, exclude=skip)])
    hits, taken = [], set()
    for group in zip_longest(*lists):
        for hit in group:
            if hit is not None and hit.image_id not in taken:
                taken.add(hit.image_id)
                hits.append(hit)
    return hits[lane:][:ctx.top_k] or hits[:ctx.top_k]


def attempt(ctx: Context, cell: str, attempt_id: str, skip: set[str], lane: int = 0) -> Outcome:
    """Plan, retrieve (never the images in ``skip``), select, edit, write and validate one sample.

    ``skip`` is given, not read from ``ctx.used``, so an attempt depends only on the state its wave began
    with, even when it is made (a dead worker's, taken over) after earlier attempts of the wave settled."""
    rng = random.Random(f"{ctx.seed}:{attempt_id}")
    calls: list[Call] = []
    notes: list[str] = []
    planned = ctx.backend.plan(PlanRequest(cell, ctx.brief, ctx.failures.get(cell, ())), rng)
    if planned.value is None:
        return _fail(planned, calls, notes)
    plan, calls = planned.value, calls + planned.calls
    hits = retrieve(ctx, plan, cell, skip, rng, notes, lane)
    if not hits:
        return Outcome(None, "no_retrieval", "", calls, notes)
    selected = ctx.backend.select(plan, hits, ctx.load, rng)
    if selected.value is None:
        return _fail(selected, calls, notes)
    hit, calls = selected.value, calls + selected.calls
    source = ctx.load(hit.image_id)
    others = tuple(h.image_id for h in hits if h.image_id != hit.image_id)
    edited = ctx.backend.edit(plan, source, rng, others, ctx.load)
    if edited.value is None:
        return _fail(edited, calls, notes, hit.image_id)
    edits, calls = edited.value, calls + edited.calls
    outputs = edit_outputs(edited.images)
    image = replay(source, edits, sample_fetch(outputs, ctx.load))
    written = ctx.backend.write(plan, hit.image_id, image, rng)
    if written.value is None:
        return _fail(written, calls, notes, hit.image_id)
    draft, calls = written.value, calls + written.calls
    checked = ctx.backend.validate(plan, hit.image_id, image, draft)
    calls += checked.calls
    reason = checked.reason if checked.value is None else agreement(draft, checked.value)
    if reason:
        return Outcome(None, reason, hit.image_id, calls, notes)
    data = encode_png(image)
    sample = {
        "sample_id": hashlib.sha256(f"{attempt_id}:{hit.image_id}:{draft.question}".encode()).hexdigest()[:16],
        "round": ctx.round_name, "cell": cell, "category": plan.category, "image_type": plan.image_type,
        "diagnosis_hash": ctx.diagnosis_hash, "source_image_id": hit.image_id,
        "pool_version": ctx.pool_manifest.version, "vectors_version": ctx.search.version,
        "retrieval_query": hit.query, "retrieval_score": hit.score, "edits": json.dumps(edits),
        "question": draft.question, "answer": draft.answer, "answer_type": draft.answer_type,
        "options": draft.options, "image": data, "image_hash": image_id(data), "attempt_id": attempt_id,
        "backend": ctx.backend.name, "role_models": json.dumps({c.role: c.model for c in calls}, sort_keys=True),
        "prompt_hashes": json.dumps(ctx.backend.prompt_hashes(), sort_keys=True),
        "selector_score": selected.score, "validator_answer": checked.value, "created_at": now(),
        "edit_outputs": outputs,
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


def total_calls(counts: dict) -> int:
    """All model calls in a counts mapping (the ``calls.<role>`` entries)."""
    return sum(v for k, v in counts.items() if k.startswith("calls."))


@dataclass(frozen=True)
class Budget:
    """Per-round caps on calls and tokens (0: none), checked before each attempt, so the last attempt may
    go over by its own calls; and prices per million tokens by model, for the cost in the metrics."""

    calls: int = 0
    tokens: int = 0
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    prompt_tokens_per_call: int = 0  # a call whose prompt took more stops the round (an image or text gone huge)

    @classmethod
    def of(cls, cfg) -> Budget:
        """The caps and prices ``generate`` params set."""
        return cls(cfg.budget_calls, cfg.budget_tokens, dict(cfg.prices), cfg.budget_prompt_tokens_per_call)

    def reached(self, counts: Counter) -> str:
        """Which cap the counts have reached ("calls", "tokens" or "prompt_tokens_per_call"), or ""."""
        if self.calls and total_calls(counts) >= self.calls:
            return "calls"
        if self.tokens and counts["tokens.prompt"] + counts["tokens.completion"] >= self.tokens:
            return "tokens"
        if self.prompt_tokens_per_call and counts["largest_prompt_tokens"] > self.prompt_tokens_per_call:
            return "prompt_tokens_per_call"
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
    for call in calls:
        for kind in ("prompt", "completion"):
            counts[f"tokens.{kind}"] += call[f"{kind}_tokens"]
            counts[f"tokens.{call['role']}.{kind}"] += call[f"{kind}_tokens"]
        if call["prompt_tokens"] > counts["largest_prompt_tokens"]:
            counts["largest_prompt_tokens"] = call["prompt_tokens"]
    if budget.prices:
        counts["cost"] += budget.cost(calls)
    if row["reason"]:
        counts[f"rejected.{row['reason']}"] += 1


def per_accepted(counts: Counter) -> dict[str, float]:
    """What one accepted sample cost on average: calls, tokens and (with prices) cost, rejected attempts
    included; nothing when none was accepted.

    >>> per_accepted(Counter({"accepted": 4, "calls.planner": 6, "calls.writer": 4, "tokens.prompt": 100,
    ...                       "tokens.completion": 10}))
    {'per_accepted.calls': 2.5, 'per_accepted.tokens.prompt': 25.0, 'per_accepted.tokens.completion': 2.5}
    """
    if not counts["accepted"]:
        return {}
    out = {"per_accepted.calls": total_calls(counts) / counts["accepted"]}
    for key in ("tokens.prompt", "tokens.completion", "cost"):
        if key in counts:
            out[f"per_accepted.{key}"] = counts[key] / counts["accepted"]
    return out


@dataclass
class CellRun:
    """One cell's progress: attempts are numbered in order, so their ids and randomness are deterministic."""

    cell: str
    quota: int
    cap: int  # attempts allowed
    recorded: Iterator[dict]  # the journal's attempts of this cell (a resumed run), in order
    accepted: int = 0
    counter: int = 0
    tried: set[str] = field(default_factory=set)  # images this cell already rejected: never retried

    def open(self) -> int:
        """Attempts this cell may still start: never more than it needs to meet its quota."""
        return max(0, min(self.quota - self.accepted, self.cap - self.counter))

    def next_id(self, round_name: str) -> str:
        self.counter += 1
        return f"{round_name}/{self.cell}/{self.counter - 1:05d}"


def _wave(runs: list[CellRun], slots: int, round_name: str) -> list[tuple[CellRun, str, int, dict | None]]:
    """The next attempts to make at once, (cell, attempt id, lane, recorded row): cells in order, each up to
    what it still needs, ``slots`` in all. With one slot this is the plain loop: one attempt at a time."""
    wave = []
    for run in runs:
        for lane in range(min(run.open(), slots - len(wave))):
            wave.append((run, run.next_id(round_name), lane, next(run.recorded, None)))
    return wave


def _settle(ctx: Context, run: CellRun, attempt_id: str, out: Outcome) -> dict:
    """The attempt's log row, after the checks that need the attempts before it: its source image taken by
    an earlier attempt of the same wave, or its sample repeating an accepted one (dedup)."""
    reason, sample = out.reason, out.sample
    if sample is not None:
        if out.image_id in ctx.used:
            reason = "source_in_use"
        else:
            reason = ctx.seen.reason(_seen_entry(ctx, sample))
    return {"attempt_id": attempt_id, "round": ctx.round_name, "cell": run.cell,
            "outcome": "rejected" if reason else "accepted", "reason": reason, "source_image_id": out.image_id,
            "calls": calls_json(out.calls), "notes": json.dumps(out.notes), "started_at": out.started,
            "finished_at": now(), "sample": None if reason else sample}


def _seen_entry(ctx: Context, sample: dict) -> dict:
    vector = ctx.search.embed(decode_rgb(sample["image"])) if ctx.seen.cfg.clip_similarity > 0 else None
    return ctx.seen.entry(sample, vector)


def _run(runs: list[CellRun], ctx: Context, journal: Journal, budget: Budget, concurrency: int,
         counts: Counter, claims: Claims, threads: int) -> str:
    """The attempts, wave by wave, until every cell is done or a cap is reached (returned: "calls", "tokens"
    or ""). Attempts are claimed through ``claims``, so other workers on the round can make some of them."""
    with ThreadPoolExecutor(threads) as pool, tqdm(total=sum(r.quota for r in runs), desc="generate",
                                                     unit="sample") as bar:
        while wave := _wave(runs, concurrency, ctx.round_name):
            if any(row is None for *_, row in wave) and (stopped := budget.reached(counts)):
                return stopped
            # every new attempt of the wave sees the state before the wave: the result does not depend on
            # which thread or worker finishes first
            skip = {id(run): ctx.used | run.tried for run, *_ in wave}
            makers = [lambda run=run, attempt_id=attempt_id, lane=lane: attempt(ctx, run.cell, attempt_id,
                                                                                skip[id(run)], lane)
                      for run, attempt_id, lane, _ in wave]
            made = list(pool.map(lambda w, make: None if w[3] is not None else claims.make(w[1], make), wave,
                                 makers))
            for (run, attempt_id, _, row), out, make in zip(wave, made, makers):
                if row is None:
                    row = _settle(ctx, run, attempt_id, out or claims.wait(attempt_id, make))
                    journal.record({k: v for k, v in row.items() if k != "sample"}, row["sample"])
                _count(counts, row, json.loads(row["calls"]), budget)
                if row["reason"]:
                    if row["source_image_id"]:
                        run.tried.add(row["source_image_id"])
                    continue
                ctx.used.add(row["source_image_id"])
                ctx.seen.add(_seen_entry(ctx, row["sample"]))
                run.accepted += 1
                bar.update()
    return ""


def generate(quotas: dict[str, int], ctx: Context, max_attempts_per_sample: int, journal: Journal | None = None,
             budget: Budget | None = None, concurrency: int = 1, claims: Claims | None = None,
             threads: int | None = None) -> tuple[list[dict], list[dict], dict[str, int]]:
    """(samples, attempt log rows, counts): each cell tried until its quota is met or its attempts run out,
    or the budget is spent; waves of up to ``concurrency`` attempts, ``threads`` (default: as many) of them
    made here at once, the rest by other workers sharing ``claims``. Attempts the journal or the claims
    already hold (a resumed run) are read back, not remade. An endpoint that refuses the round
    (``structured.EndpointRefused``) stops it, with every attempt finished before kept in the journal."""
    journal, budget, claims = journal or Journal(), budget or Budget(), claims or Claims()
    done = journal.done()
    runs = [CellRun(cell, quota, quota * max_attempts_per_sample, iter(done.get(cell, [])))
            for cell, quota in sorted(quotas.items())]
    counts: Counter[str] = Counter()
    try:
        stopped = _run(runs, ctx, journal, budget, concurrency, counts, claims, threads or concurrency)
    finally:
        journal.flush()
    for run in runs:
        counts["accepted"] += run.accepted
        if run.accepted < run.quota:
            counts["unfilled"] += run.quota - run.accepted
            log.warning("cell %s: %d of %d filled after %d attempts", run.cell, run.accepted, run.quota,
                        run.counter)
    counts.update(per_accepted(counts))
    if stopped:
        counts[f"stopped.{stopped}"] = 1
        log.warning("generation stopped: the round's %s budget is spent; %d samples kept", stopped,
                    counts["accepted"])
    return journal.samples, journal.attempts, dict(counts)
