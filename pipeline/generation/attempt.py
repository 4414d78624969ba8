"""One attempt at a sample, as plain steps that pass data one way: plan → retrieve (the candidates and their
bytes, in one batched read of the pinned pool) → select → edit specs → apply them → write → validate → the
typed ``Sample``.

The steps read the round's fixed inputs (``RoundInputs``) and the images their wave may not use (``skip``);
none of them writes round state (``generate.py`` settles each outcome into ``RoundState`` in order), and no
backend calls back into the pipeline: a backend answers each role with data (a plan, a choice among the
candidates it was handed, edit specs, a draft, an answer), and the pipeline checks the edit specs and applies
them once. The one model-made edit (``generative``) is a tool the pipeline calls while applying
(``AgentBackend.paint``).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from itertools import zip_longest
from typing import Callable, Mapping

from PIL import Image

from pipeline.answers.grading import is_correct, parse_answer
from pipeline.generation.agents import AgentBackend, Draft, PlanRequest, Reply
from pipeline.generation.edits import GENERATED, from_spec
from pipeline.pool.search import Hit, PoolSearch
from pipeline.storage import lake
from pipeline.storage.images import decode_rgb, encode_png, image_id
from pipeline.storage.schemas import Call, EditOutput, Manifest, Sample


def now() -> str:
    """A UTC timestamp for the lineage (when an attempt ran; never part of an id)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RoundInputs:
    """What every attempt of a round reads, fixed for the round."""

    backend: AgentBackend
    search: PoolSearch
    pool_manifest: Manifest
    brief: str
    diagnosis_hash: str
    round_name: str
    seed: int
    top_k: int
    failures: Mapping[str, tuple[dict, ...]] = field(default_factory=dict)  # cell -> probe items it got wrong
    failure_images: Mapping[str, bytes] = field(default_factory=dict)  # probe item id -> its image
    image_queries: int = 1  # failed probe images searched by image per attempt (beside the text queries)
    probe_answers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # cell -> the probe's answers
    validators: int = 1  # validator calls per draft, each of which must agree with the writer

    @cached_property
    def pool(self):
        """The pinned pool table (opened once per round, on first use)."""
        return lake.open_pinned(self.pool_manifest)

    def images(self, ids: list[str]) -> dict[str, bytes]:
        """Pool images by id, in one batched read (the pool's scalar index on image_id finds the rows)."""
        rows = lake.fetch_rows(self.pool, ids, ["image_id", "image"])
        return dict(zip(rows["image_id"].to_pylist(), rows["image"].to_pylist()))


@dataclass(frozen=True)
class Candidate:
    """A retrieved pool image: the search hit and the image's bytes."""

    hit: Hit
    data: bytes = field(repr=False)

    @property
    def image_id(self) -> str:
        return self.hit.image_id

    @cached_property
    def image(self) -> Image.Image:
        """The image as the models see it (decoded once, when a step first looks)."""
        return decode_rgb(self.data)


@dataclass
class Outcome:
    """One attempt: an accepted sample, or the reason it was rejected; the calls it spent either way."""

    sample: Sample | None
    reason: str
    image_id: str
    calls: list[Call]
    notes: list[str] = field(default_factory=list)  # extra counters (e.g. retrieval.untagged)
    started: str = field(default_factory=now)


@dataclass(frozen=True)
class Applied:
    """Edit specs applied to a source image: the result (None and ``reason`` when a generative edit failed),
    the specs as recorded (generative ones completed with their model and output), and their outputs."""

    image: Image.Image | None
    specs: list[dict]
    outputs: list[EditOutput]
    calls: list[Call]
    reason: str = ""


def apply_edits(source: Image.Image, specs: list[dict], fetch: Callable[[str], Image.Image],
                paint: Callable[[Image.Image, str], Reply]) -> Applied:
    """Apply ``specs`` in order, once. ``fetch``: pool images by id (``paste``); ``paint``: the image model
    a ``generative`` spec without an output is sent to (its reply: the bytes and the model's name)."""
    image, done, outputs, calls = source, [], {}, []

    def read(ref: str) -> Image.Image:
        return decode_rgb(outputs[ref]) if ref in outputs else fetch(ref)

    for spec in specs:
        if spec["op"] == "generative" and not spec.get("output"):
            painted = paint(image, spec["prompt"])
            calls += painted.calls
            if painted.value is None:
                return Applied(None, done, [], calls, painted.reason)
            data, model = painted.value
            ref = GENERATED + image_id(data)
            outputs[ref] = data
            spec = spec | {"model": model, "output": ref}
        image = from_spec(spec).render(image, read)
        done.append(spec)
    return Applied(image, done, [EditOutput(ref, data) for ref, data in sorted(outputs.items())], calls)


AIM_WIDTHS = (4, 16, 64)  # an aimed attempt's search: this many times generate.top_k hits, widened in turn


def retrieve(inputs: RoundInputs, plan, cell: str, skip: set[str], rng: random.Random, notes: list[str],
             lane: int = 0, top: int | None = None) -> list[Hit]:
    """``top`` (default ``generate.top_k``) search hits for the plan: text→image hits for its first query that
    finds any, interleaved with image→image hits from probe items the model failed in the cell, best first, each
    image once. ``lane`` (the attempt's place among its cell's attempts running at once) drops that many best
    hits, so concurrent attempts of a cell do not all pick the same image."""
    top = top or inputs.top_k
    k = top + lane
    text: list[Hit] = []
    for query in (plan.query, *plan.more_queries):
        text = [replace(h, query=query) for h in inputs.search.by_text(query, k, image_type=plan.image_type,
                                                                      exclude=skip)]
        if text:
            break
    if not text:  # the zero-shot type tag is a hint: when no image carries it, search untagged
        notes.append("retrieval.untagged")
        text = [replace(h, query=plan.query) for h in inputs.search.by_text(plan.query, k, exclude=skip)]
    probes = [f["item_id"] for f in inputs.failures.get(cell, ()) if f.get("item_id") in inputs.failure_images]
    lists = [text]
    for item in rng.sample(probes, min(inputs.image_queries, len(probes))):
        image = decode_rgb(inputs.failure_images[item])
        lists.append([replace(h, query=f"image:{item}") for h in
                      inputs.search.by_image(image, k, image_type=plan.image_type, exclude=skip)])
    hits, taken = [], set()
    for group in zip_longest(*lists):
        for hit in group:
            if hit is not None and hit.image_id not in taken:
                taken.add(hit.image_id)
                hits.append(hit)
    return hits[lane:][:top] or hits[:top]


def aimed(inputs: RoundInputs, plan, cell: str, skip: set[str], rng: random.Random, notes: list[str],
          lane: int = 0) -> list[Hit]:
    """The hits an attempt chooses from. One aimed at an answer (``plan.target``) keeps only hits whose image
    can give it (``backend.fits``), searching ``AIM_WIDTHS`` times ``generate.top_k`` deep in turn until some
    can: a search ranks by likeness to the query and the failed probe images, which can leave an answer out of
    the first hundred hits altogether (in the embedded world's CLIP no table of four columns is among a table
    query's first 64), and a cell's samples would then never have that answer. Notes ``aim.widened`` when the
    first depth had none, ``aim.missed`` when no depth had one (the first depth's hits are used)."""
    target = getattr(plan, "target", "")
    if not target:
        return retrieve(inputs, plan, cell, skip, rng, notes, lane)
    first = None
    for depth, width in enumerate(AIM_WIDTHS):
        hits = retrieve(inputs, plan, cell, skip, rng, notes, lane, inputs.top_k * width)
        first = first or hits
        fitting = [h for h in hits if inputs.backend.fits(plan, h.image_id)]
        if fitting:
            notes.extend(["aim.widened"] if depth else [])
            return fitting[:inputs.top_k * AIM_WIDTHS[0]]
        if len(hits) < inputs.top_k * width:  # the search has nothing deeper
            break
    notes.append("aim.missed")
    return first


def candidates(inputs: RoundInputs, hits: list[Hit]) -> list[Candidate]:
    """The hits with their images, read in one batch (a hit whose row the pin lacks is dropped)."""
    data = inputs.images([h.image_id for h in hits])
    return [Candidate(h, data[h.image_id]) for h in hits if h.image_id in data]


def agreement(draft: Draft, answer: str) -> str:
    """"" when the draft's answer is well formed and the validator's own answer matches it under the grader,
    else the rejection reason."""
    if parse_answer(draft.answer, draft.answer_type, draft.options) is None:
        return "malformed_answer"
    if not is_correct(answer, draft.answer, draft.answer_type, draft.options):
        return "validator_disagrees"
    return ""


def true_answer(draft: Draft, cell: str) -> str | None:
    """The right answer for a sample of ``cell`` when the backend knows it: "" for a question off the cell (no
    answer is right as filed), None when the backend does not know."""
    if draft.truth is None:
        return None
    return draft.truth if draft.cell in (None, cell) else ""


def label_correct(draft: Draft, cell: str) -> bool | None:
    """Whether the draft's label is right for a sample of ``cell``; None when the backend does not know."""
    truth = true_answer(draft, cell)
    return None if truth is None else bool(truth) and is_correct(draft.answer, truth, draft.answer_type, draft.options)


def target(answers: tuple[str, ...] | None, attempt_id: str, seed: int) -> str:
    """The answer an attempt aims at: a cell's attempts cycle through its answers from a seeded offset ("" when
    the backend cannot aim).

    >>> [target(("two", "three"), f"r1/grid/table/{i:05d}", 0) for i in range(4)].count("two")
    2
    """
    if not answers:
        return ""
    cell, number = attempt_id.split("/", 1)[1].rsplit("/", 1)
    offset = random.Random(f"{seed}:{cell}:targets").randrange(len(answers))
    return answers[(int(number) + offset) % len(answers)]


def attempt(inputs: RoundInputs, cell: str, attempt_id: str, skip: set[str], lane: int = 0) -> Outcome:
    """Plan, retrieve (never the images in ``skip``), select, edit, write and validate one sample."""
    rng = random.Random(f"{inputs.seed}:{attempt_id}")
    backend, notes = inputs.backend, []
    aim = target(backend.answer_space(cell), attempt_id, inputs.seed)
    planned = backend.plan(PlanRequest(cell, inputs.brief, inputs.failures.get(cell, ()), aim), rng)
    calls = list(planned.calls)
    if planned.value is None:
        return Outcome(None, planned.reason or "no_reply", "", calls, notes)
    plan = planned.value
    found = candidates(inputs, aimed(inputs, plan, cell, skip, rng, notes, lane))
    if not found:
        return Outcome(None, "no_retrieval", "", calls, notes)
    selected = backend.select(plan, found, rng)
    calls += selected.calls
    if selected.value is None:
        return Outcome(None, selected.reason or "no_reply", "", calls, notes)
    chosen: Candidate = selected.value
    by_id = {c.image_id: c for c in found}
    edited = backend.edit(plan, chosen.image, rng, tuple(i for i in by_id if i != chosen.image_id))
    calls += edited.calls
    if edited.value is None:
        return Outcome(None, edited.reason or "no_reply", chosen.image_id, calls, notes)
    applied = apply_edits(chosen.image, edited.value, lambda ref: by_id[ref].image, backend.paint)
    calls += applied.calls
    if applied.image is None:
        return Outcome(None, applied.reason, chosen.image_id, calls, notes)
    written = backend.write(plan, chosen.image_id, applied.image, rng)
    calls += written.calls
    if written.value is None:
        return Outcome(None, written.reason or "no_reply", chosen.image_id, calls, notes)
    draft = written.value
    for vote in range(inputs.validators):  # every validator must agree; the first that does not rejects
        checked = backend.validate(plan, chosen.image_id, applied.image, draft, vote)
        calls += checked.calls
        reason = checked.reason or "no_reply" if checked.value is None else agreement(draft, checked.value)
        if reason:
            return Outcome(None, reason, chosen.image_id, calls, notes)
    data = encode_png(applied.image)
    sample = Sample(
        sample_id=hashlib.sha256(f"{attempt_id}:{chosen.image_id}:{draft.question}".encode()).hexdigest()[:16],
        round=inputs.round_name, cell=cell, category=plan.category, image_type=plan.image_type,
        diagnosis_hash=inputs.diagnosis_hash, source_image_id=chosen.image_id,
        pool_version=inputs.pool_manifest.version, vectors_version=inputs.search.version,
        retrieval_query=chosen.hit.query, retrieval_score=chosen.hit.score, edits=json.dumps(applied.specs),
        question=draft.question, answer=draft.answer, answer_type=draft.answer_type, options=list(draft.options),
        image=data, image_hash=image_id(data), attempt_id=attempt_id, backend=backend.name,
        role_models=json.dumps({c.role: c.model for c in calls}, sort_keys=True),
        prompt_hashes=json.dumps(backend.prompt_hashes(), sort_keys=True), selector_score=selected.score,
        validator_answer=checked.value, created_at=now(), edit_outputs=applied.outputs,
        label_correct=label_correct(draft, cell), true_answer=true_answer(draft, cell))
    return Outcome(sample, "", chosen.image_id, calls, notes)
