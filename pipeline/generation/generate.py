"""Generation: fill each cell's quota with targeted samples through planner → retriever → selector →
editor → writer → validator, recording every attempt.

Two blocks, in the manner of datatrove: ``attempt.py`` makes one try at a sample and returns it or the
reason it was rejected; ``generate`` here owns the loop over cells, the quota check, the counting and the
attempt log, kept in a journal (``journal.py``) so a killed run resumes. The quota is checked *before* an
attempt is spent, attempts per cell are capped, a sample is kept only when the
validator's own answer agrees with the writer's under the grader, and each sample carries its lineage
(``schemas.Sample``), so an audit can walk back from a trained-on sample to the pool image and agent calls
that made it. Attempts run in waves of ``generate.concurrency`` threads: the agents' servers are the bound,
and one URL may front many of them.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from pipeline.diagnosis.itemsets import load_items
from pipeline.generation.attempt import Outcome, RoundInputs, attempt, now
from pipeline.generation.dedup import Seen
from pipeline.generation.journal import Journal
from pipeline.generation.quality import quality
from pipeline.storage.images import decode_rgb
from pipeline.storage.schemas import Attempt, Diagnosis, Sample, calls_json

log = logging.getLogger(__name__)


@dataclass
class RoundState:
    """What the round has used so far: the only state attempts' outcomes change, settled in order."""

    seen: Seen = field(default_factory=Seen)  # accepted samples, this round and earlier: the dedup index
    used: set[str] = field(default_factory=set)  # pool images already in an accepted sample this round


def probe_facts(diagnosis: Diagnosis, probe_source: str, probe_cfg) -> dict:
    """What a round reads of the probe (``RoundInputs`` fields): the images of the items the diagnosis names as
    failures (the retriever's image queries), and every cell's answers (what the generated answers' entropy is
    held against)."""
    wanted = {e.item_id for cell in diagnosis.cells for e in cell.examples if e.item_id}
    items = load_items(probe_source, probe_cfg.kind, probe_cfg.columns)
    answers: dict[str, list[str]] = {}
    for item in items:
        answers.setdefault(f"{item['category']}/{item['image_type']}", []).append(item["answer"])
    return {"failure_images": {i["item_id"]: i["image"] for i in items if i["item_id"] in wanted},
            "probe_answers": {cell: tuple(a) for cell, a in answers.items()}}


def round_inputs(params, args, pool_manifest, vectors) -> RoundInputs:
    """What every attempt of the round reads, from the generate stage's files (``args``) and the pinned pool and
    vectors manifests (restored into a fresh clone's lake first): the diagnosis's failures and probe facts, the
    agents."""
    from pipeline.generation.agents import make_backend
    from pipeline.pool.ingest import listed_ids
    from pipeline.pool.restore import ensure_pinned
    from pipeline.pool.search import PoolSearch
    from pipeline.run.runtime import file_hash
    from pipeline.storage import artifacts, schemas

    cfg = params.generate
    diagnosis = artifacts.read_json(args.diagnosis, schemas.Diagnosis)
    listed = listed_ids(args.listed) if args.listed else None
    ensure_pinned(params, pool_manifest, listed, vectors, args.clip)  # a fresh clone has manifests, not the lake
    allowed = None if listed is None or len(listed) == pool_manifest.rows else listed
    return RoundInputs(
        backend=make_backend(params), search=PoolSearch(vectors, args.clip, params.search.nprobes, allowed=allowed),
        pool_manifest=pool_manifest, brief=Path(args.brief).read_text(), diagnosis_hash=file_hash(args.diagnosis),
        round_name=args.round, seed=params.seed_of(args.round), top_k=cfg.top_k, image_queries=cfg.image_queries,
        validators=cfg.validators,
        failures={c.key: tuple(e.model_dump() for e in c.examples) for c in diagnosis.cells},
        **probe_facts(diagnosis, args.probe, params.probe))


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


def _count(counts: Counter, row: Attempt, budget: Budget) -> None:
    calls = json.loads(row.calls)
    counts.update(["attempts", *json.loads(row.notes), *(f"calls.{c['role']}" for c in calls)])
    for call in calls:
        for kind in ("prompt", "completion"):
            counts[f"tokens.{kind}"] += call[f"{kind}_tokens"]
            counts[f"tokens.{call['role']}.{kind}"] += call[f"{kind}_tokens"]
        if call["prompt_tokens"] > counts["largest_prompt_tokens"]:
            counts["largest_prompt_tokens"] = call["prompt_tokens"]
    if budget.prices:
        counts["cost"] += budget.cost(calls)
    if row.reason:
        counts[f"rejected.{row.reason}"] += 1


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
    recorded: Iterator[tuple[Attempt, Sample | None]]  # the journal's attempts of this cell (a resumed run)
    accepted: int = 0
    counter: int = 0
    tried: set[str] = field(default_factory=set)  # images this cell already rejected: never retried

    def open(self) -> int:
        """Attempts this cell may still start: never more than it needs to meet its quota."""
        return max(0, min(self.quota - self.accepted, self.cap - self.counter))

    def next_id(self, round_name: str) -> str:
        self.counter += 1
        return f"{round_name}/{self.cell}/{self.counter - 1:05d}"


Recorded = tuple[Attempt, Sample | None]


def _wave(runs: list[CellRun], slots: int, round_name: str) -> list[tuple[CellRun, str, int, Recorded | None]]:
    """The next attempts to make at once, (cell, attempt id, lane, recorded attempt): cells in order, each up
    to what it still needs, ``slots`` in all. With one slot this is the plain loop: one attempt at a time."""
    wave = []
    for run in runs:
        for lane in range(min(run.open(), slots - len(wave))):
            wave.append((run, run.next_id(round_name), lane, next(run.recorded, None)))
    return wave


def _settle(inputs: RoundInputs, state: RoundState, cell: str, attempt_id: str, out: Outcome) -> Recorded:
    """The attempt's log row and its sample, after the checks that need the attempts before it: its source
    image taken by an earlier attempt of the same wave, or its sample repeating an accepted one (dedup)."""
    reason, sample = out.reason, out.sample
    if sample is not None:
        if out.image_id in state.used:
            reason = "source_in_use"
        else:
            reason = state.seen.reason(_seen_entry(inputs, state, sample))
    row = Attempt(attempt_id=attempt_id, round=inputs.round_name, cell=cell,
                  outcome="rejected" if reason else "accepted", reason=reason, source_image_id=out.image_id,
                  calls=calls_json(out.calls), notes=json.dumps(out.notes), run_key="", started_at=out.started,
                  finished_at=now())
    return row, None if reason else sample


def _seen_entry(inputs: RoundInputs, state: RoundState, sample: Sample) -> dict:
    vector = inputs.search.embed(decode_rgb(sample.image)) if state.seen.cfg.clip_similarity > 0 else None
    return state.seen.entry(sample, vector)


def _run(runs: list[CellRun], inputs: RoundInputs, state: RoundState, journal: Journal, budget: Budget,
         concurrency: int, counts: Counter) -> str:
    """The attempts, wave by wave, until every cell is done or a cap is reached (returned: "calls", "tokens"
    or "")."""
    with ThreadPoolExecutor(concurrency) as pool, tqdm(total=sum(r.quota for r in runs), desc="generate",
                                                         unit="sample") as bar:
        while wave := _wave(runs, concurrency, inputs.round_name):
            if any(rec is None for *_, rec in wave) and (stopped := budget.reached(counts)):
                return stopped
            # every new attempt of the wave sees the state before the wave: the result does not depend on
            # which thread finishes first
            skip = {id(run): state.used | run.tried for run, *_ in wave}
            made = list(pool.map(lambda w: None if w[3] is not None else
                                 attempt(inputs, w[0].cell, w[1], skip[id(w[0])], w[2]), wave))
            for (run, attempt_id, _, recorded), out in zip(wave, made):
                if recorded is None:
                    recorded = _settle(inputs, state, run.cell, attempt_id, out)
                    journal.record(*recorded)
                row, sample = recorded
                _count(counts, row, budget)
                if sample is None:
                    if row.source_image_id:
                        run.tried.add(row.source_image_id)
                    continue
                state.used.add(row.source_image_id)
                state.seen.add(_seen_entry(inputs, state, sample))
                run.accepted += 1
                bar.update()
    return ""


def generate(quotas: dict[str, int], inputs: RoundInputs, max_attempts_per_sample: int,
             journal: Journal | None = None, budget: Budget | None = None, concurrency: int = 1,
             state: RoundState | None = None) -> tuple[list[Sample], list[Attempt], dict[str, int]]:
    """(samples, attempt log rows, counts): each cell tried until its quota is met or its attempts run out,
    or the budget is spent; waves of up to ``concurrency`` attempts made at once in threads. Attempts the
    journal already holds (a resumed run) are read back, not remade. ``state`` (the dedup index of earlier
    rounds) ends holding this round's accepted samples too. An endpoint that refuses the round
    (``structured.EndpointRefused``) stops it, with every attempt finished before kept in the journal."""
    journal, budget, state = journal or Journal(), budget or Budget(), state or RoundState()
    done = journal.done()
    runs = [CellRun(cell, quota, quota * max_attempts_per_sample, iter(done.get(cell, [])))
            for cell, quota in sorted(quotas.items())]
    counts: Counter[str] = Counter()
    try:
        stopped = _run(runs, inputs, state, journal, budget, concurrency, counts)
    finally:
        journal.flush()
    for run in runs:
        counts["accepted"] += run.accepted
        if run.accepted < run.quota:
            counts["unfilled"] += run.quota - run.accepted
            log.warning("cell %s: %d of %d filled after %d attempts", run.cell, run.accepted, run.quota,
                        run.counter)
    counts.update(per_accepted(counts))
    counts.update(quality(journal.samples, journal.attempts, dict(inputs.probe_answers), inputs.search, inputs.seed))
    if stopped:
        counts[f"stopped.{stopped}"] = 1
        log.warning("generation stopped: the round's %s budget is spent; %d samples kept", stopped,
                    counts["accepted"])
    return journal.samples, journal.attempts, dict(counts)
