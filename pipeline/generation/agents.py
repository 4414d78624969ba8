"""The agent roles and the interface every backend implements.

Roles (METHOD.md §3): the planner turns a weakness cell and the brief into a plan (a retrieval query,
edits, the kind of question); the retriever is the pool-search tool; the editor applies recorded
edit ops; the writer looks at the final image and writes a question with a verifiable answer; the
validator checks it independently. The orchestration lives in ``pipeline/generation/generate.py``.

Backends are picked by name in ``generate.backend`` (``pipeline.registry.BACKENDS``); each is built from
the whole params by its own ``from_params``, reading its own section (``generate.<name>``), so a new backend
adds a section rather than arguments every backend must accept.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from PIL import Image

from pipeline.registry import BACKENDS
from pipeline.schemas import Call


@dataclass(frozen=True)
class Plan:
    cell: str
    category: str
    image_type: str
    query: str
    edits: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Draft:
    question: str
    answer: str
    answer_type: str
    options: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


class AgentBackend(ABC):
    """One backend serves the three LLM roles; every method also reports the calls it made."""

    name = ""

    @classmethod
    @abstractmethod
    def from_params(cls, params) -> "AgentBackend":
        """The backend, configured from its own params section."""

    @abstractmethod
    def plan(self, cell: str, brief: str, rng: random.Random) -> tuple[Plan, list[Call]]: ...

    @abstractmethod
    def write(self, plan: Plan, image_id: str, image: Image.Image, rng: random.Random
              ) -> tuple[Draft | None, str, list[Call]]:
        """A draft, or None with the reason no question could be written."""

    @abstractmethod
    def validate(self, plan: Plan, image_id: str, image: Image.Image, draft: Draft) -> tuple[Verdict, list[Call]]: ...


def make_backend(params) -> AgentBackend:
    return BACKENDS.load(params.generate.backend).from_params(params)
