"""The agent roles as typed steps: each has a pydantic input (what its prompt is filled with) and output
(what its reply must parse into), and its own prompt template file in ``prompts/``, whose hash goes into
every sample's lineage so a changed prompt is visible in the data it made.

The retriever is a tool, not a model (``pipeline/pool/search.py``); the other five roles are calls.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipeline.generation.params import ROLES  # noqa: F401  (the model roles, named once in the params schema)

PROMPTS = Path(__file__).parent / "prompts"
AnswerType = Literal["choice", "integer", "word"]


class Step(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def fields(self) -> dict:
        """What the prompt template is filled with."""
        return self.model_dump()


class Failure(Step):
    """A probe item the model got wrong in the cell: what the planner targets."""

    question: str
    reference: str
    answer: str


class PlannerIn(Step):
    cell: str
    category: str
    image_type: str
    brief: str
    failures: list[Failure] = []

    def fields(self) -> dict:
        lines = [f"- {f.question} / {f.reference} / {f.answer}" for f in self.failures] or ["(none recorded)"]
        return self.model_dump() | {"failures": "\n".join(lines)}


class PlannerOut(Step):
    queries: list[Annotated[str, Field(max_length=80)]] = Field(min_length=1, max_length=3,
                                                              description="short descriptions of images to find")
    answer_type: AnswerType
    question_kind: str = Field("", max_length=80, description="the kind of question to ask, in a few words")
    edit_intent: str = Field("", max_length=120, description="what an edit should change, or empty")


class SelectorIn(Step):
    category: str
    question_kind: str
    candidates: int


class SelectorOut(Step):
    choice: int = Field(description="index of the best candidate image, or -1 when none fits")
    score: float = Field(0.0, ge=0.0, le=1.0)


class EditorIn(Step):
    edit_intent: str
    operations: str  # the registry's operations and their parameter ranges, one per line


class EditOp(Step):
    op: str
    args: dict[str, float | str] = {}


class EditorOut(Step):
    """What an editor's reply is parsed into: any op name and arguments, so the pipeline can say which
    was wrong (``editor_unknown_operation``, ``editor_bad_arguments``)."""

    edits: list[EditOp] = Field(default_factory=list, max_length=3)


def editor_schema(operations: dict[str, type]) -> type[BaseModel]:
    """The editor's reply schema built from the registry's operations (name -> Edit class): each edit is
    one of the given ops, with exactly that op's parameters and their ranges. Sent as the response format,
    so a server with structured outputs can only choose operations the pipeline can replay."""
    variants = []
    for name, op in operations.items():
        fields = {key: (float, Field(ge=lo, le=hi)) for key, (lo, hi) in op.PARAMS.items()}
        fields |= {key: (str, Field(min_length=1, max_length=n)) for key, n in op.TEXT_PARAMS.items()}
        title = "".join(part.title() for part in name.split("_"))
        args = create_model(f"{title}Args", __config__=ConfigDict(extra="forbid"), **fields)
        variants.append(create_model(f"{title}Edit", op=(Literal[name], ...), args=(args, ...)))
    edit = Union[tuple(variants)] if variants else EditOp  # noqa: UP007 (a tuple of types)
    return create_model("EditorReply", edits=(list[edit], Field(default_factory=list, max_length=3)))


class WriterIn(Step):
    category: str
    question_kind: str
    answer_type: AnswerType


class WriterOut(Step):
    description: str = Field(description="what the image shows, observed before asking")
    question: str = Field(min_length=3)
    answer_type: AnswerType
    options: list[str] = Field(default_factory=list, description="the choices, when answer_type is choice")
    answer: str = Field(min_length=1, description="a letter for choice, digits for integer, one word for word")


class ValidatorIn(Step):
    question: str
    options: str  # lettered, one per line, or "none"
    answer_type: AnswerType


class ValidatorOut(Step):
    answer: str


@cache
def template(role: str) -> str:
    return (PROMPTS / f"{role}.md").read_text()


def template_hash(role: str) -> str:
    return hashlib.sha256(template(role).encode()).hexdigest()[:16]


def render(role: str, step: Step) -> str:
    """The role's prompt filled with its input's fields."""
    return template(role).format_map(step.fields())
