"""The agent roles and the interface every backend implements.

Roles: the planner turns a weakness cell, the brief and the model's failures there into a
plan (retrieval queries, the kind of question, an edit intent); the retriever is the pool-search tool;
the selector picks the candidate image that fits the plan; the editor chooses replayable edit operations
(applied by the pipeline, so the image rebuilds from its source); the writer looks at the final image
and writes a question with a verifiable answer; the validator answers it on its own. The orchestration
lives in ``pipeline/generation/attempt.py`` (one attempt) and ``generate.py`` (the round).

Every role returns a ``Reply``: its value, or None with the reason (recorded as the attempt's rejection
reason), and the calls it made either way. Backends are picked by name in ``generate.backend``
(``pipeline.config.registry.BACKENDS``); each is built from the whole params by its own ``from_params``, reading
its own section (``generate.<name>``), so a new backend adds a section rather than arguments every
backend must accept.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from PIL import Image

from pipeline.config.registry import BACKENDS
from pipeline.storage.schemas import Call

T = TypeVar("T")


@dataclass(frozen=True)
class PlanRequest:
    """What the planner is told about a weak cell."""

    cell: str
    brief: str
    failures: tuple[dict, ...] = ()  # {question, reference, answer} of probe items the model got wrong
    target: str = ""  # the answer this attempt aims at ("": any), where the backend can aim (``answer_space``)

    @property
    def category(self) -> str:
        return self.cell.split("/")[0]

    @property
    def image_type(self) -> str:
        return self.cell.split("/", 1)[1]


@dataclass(frozen=True)
class Plan:
    cell: str
    category: str
    image_type: str
    query: str
    edits: list[dict] = field(default_factory=list)
    answer_type: str = ""
    question_kind: str = ""
    edit_intent: str = ""
    more_queries: tuple[str, ...] = ()  # further retrieval queries, tried when the first finds nothing
    target: str = ""  # the answer the sample should have ("": any)


@dataclass(frozen=True)
class Draft:
    question: str
    answer: str
    answer_type: str
    options: list[str] = field(default_factory=list)
    truth: str | None = None  # the right answer, when the backend knows it (ground truth): sets label_correct
    cell: str | None = None  # the cell the question is really about, when the backend knows it


@dataclass(frozen=True)
class Reply(Generic[T]):
    """A role's result: ``value``, or None and the ``reason``; ``calls`` spent either way."""

    value: T | None
    reason: str = ""
    calls: list[Call] = field(default_factory=list)
    score: float | None = None  # the selector's fit score, when it gives one


class AgentBackend(ABC):
    """One backend serves the model roles; the retriever is the pipeline's search tool."""

    name = ""

    @classmethod
    @abstractmethod
    def from_params(cls, params) -> "AgentBackend":
        """The backend, configured from its own params section."""

    def prompt_hashes(self) -> dict[str, str]:
        """Role -> hash of the prompt template it uses, for the lineage (none for rule-based roles)."""
        return {}

    def answer_space(self, cell: str) -> tuple[str, ...] | None:
        """The answers a cell's questions can have, when this backend can aim an attempt at one of them: the
        round then spreads each cell's attempts over its answers, so the kept labels are balanced and a prior
        earns nothing. None (the default): it cannot aim, and the filter's label cap alone balances. A backend
        of real writers should say yes only after its label precision on aimed answers is measured."""
        return None

    def fits(self, plan: Plan, image_id: str) -> bool:
        """Can the pool image ``image_id`` give ``plan.target``? Only a backend that aims (``answer_space``) can
        tell; the default says yes, so the search's first hits are used as they are."""
        return True

    @abstractmethod
    def plan(self, request: PlanRequest, rng: random.Random) -> Reply[Plan]: ...

    def select(self, plan: Plan, candidates: list, rng: random.Random) -> Reply:
        """The candidate to build on (``attempt.Candidate``: a search hit, its bytes and ``image``). By default
        one drawn at random: the search already ranked them for the plan's query."""
        return Reply(rng.choice(candidates))

    def edit(self, plan: Plan, image: Image.Image, rng: random.Random,
             others: tuple[str, ...] = ()) -> Reply[list[dict]]:
        """Edit specs (``{"op": name, **args}``) for the pipeline to apply to the selected image, checked
        against each op's ranges (``others``: ids of the attempt's other candidates, which ops such as ``paste``
        may draw on); by default the plan's. A ``generative`` spec carries its prompt: the pipeline sends it to
        ``paint`` while applying."""
        return Reply(list(plan.edits))

    def paint(self, image: Image.Image, prompt: str) -> Reply[tuple[bytes, str]]:
        """A generative edit's image: (its bytes, the image model's name), or None and why. Backends without
        an image model refuse it."""
        return Reply(None, "no_image_editor")

    @abstractmethod
    def write(self, plan: Plan, image_id: str, image: Image.Image, rng: random.Random) -> Reply[Draft]: ...

    @abstractmethod
    def validate(self, plan: Plan, image_id: str, image: Image.Image, draft: Draft, vote: int = 0) -> Reply[str]:
        """The validator's own answer (whether it agrees with the draft is the grader's call, in
        ``attempt.agreement``), or None and the reason it could not check the draft. ``vote``: which of the
        ``generate.validators`` independent checks of the draft this is."""


def make_backend(params) -> AgentBackend:
    return BACKENDS.load(params.generate.backend).from_params(params)
