"""Question templates: one per cell, each with a fixed answer space, asked about a scene record.

A cell of the diagnosis is a (category, image_type) pair and holds exactly one template, so a cell's ``k`` (the
number of answers its template can give) is known and its labels can be balanced: the labelled sets draw the
answer first and then a scene that has it (``pipeline/world/world.py``), so always giving one answer scores 1/k.

The cells come in two kinds, fixed per world version (``WORLD_VERSION``):

* **strong**: the warm-up asks them at full share; the base model should answer them (>= 0.85);
* **weak**: latent blind spots. Their question is scarce in the warm-up, but what it needs is perceived: a strong
  cell asks about the same images (lines of a document, rows of a table, the dots' colours), and
  the captions the warm-up trains on state it. Their answers share no word with any other cell's (strong cells
  answer with colour words and digits; the weak ones with number words, table widths and single/mixed), so
  training one cell cannot move another's answer prior.

Every cell is one the architecture can learn: trained at full share of every cell, each reaches 0.85 within 3x
the warm-up's steps (``python -m benchmarks.world_checks ceiling``). Cells that did not were left out: the colour most
shapes have, shapes and dots of a colour counted, a shape's side or size, a line's ending, which of two dot
colours is more frequent (0.52-0.78 at 6,000 steps); so were glyph reading (a word, a digit), at chance at this
scale, and more or fewer than five points (learnt from a handful of warm-up examples or not at all: no share of
the warm-up left it partly learnt). Shapes images stay in the pool as pictures no cell asks about.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Literal

from pipeline.world.scenes import COLOURS, Scene

WORLD_VERSION = 3


@dataclass(frozen=True)
class Question:
    category: str
    image_type: str
    question: str
    answer: str
    answer_type: str  # "choice" (a letter), "integer" or "word"
    options: list[str] = field(default_factory=list)


Ask = Callable[[Scene, random.Random], "tuple[str, str] | None"]  # scene -> (question, answer), None: unsupported


@dataclass(frozen=True)
class Template:
    """One cell's question: its answer space (``answers``, the k labels) and how to ask it of a scene."""

    category: str
    image_type: str
    kind: Literal["strong", "weak"]
    answer_type: str
    answers: tuple[str, ...]
    ask: Ask

    @property
    def cell(self) -> tuple[str, str]:
        return self.category, self.image_type

    @property
    def k(self) -> int:
        return len(self.answers)

    def question(self, scene: Scene, rng: random.Random) -> Question | None:
        asked = self.ask(scene, rng)
        if asked is None or asked[1] not in self.answers:
            return None
        return Question(self.category, self.image_type, asked[0], asked[1], self.answer_type)


NUMBER_WORDS = ("one", "two", "three")
WIDTHS = ("narrow", "medium", "wide")  # a table of 2, 3 or 4 columns of numbers
MIXES = ("single", "mixed")  # dots of one colour, or of two


def _majority_colour(things: list[dict]) -> str | None:
    """The colour most of ``things`` have, or None on a tie."""
    top = Counter(t["colour"] for t in things).most_common()
    return None if not top or (len(top) > 1 and top[0][1] == top[1][1]) else top[0][0]


def objects_colour(s: Scene, rng: random.Random):
    colour = _majority_colour(s["dots"])
    return None if colour is None else ("Which colour has the most dots?", colour)


def objects_mix(s: Scene, rng: random.Random):
    return "Are the dots a single colour or mixed?", MIXES[len({d["colour"] for d in s["dots"]}) - 1]


def document_lines(s: Scene, rng: random.Random):
    return "How many lines of text are there?", str(len(s["lines"]))


def document_first_line(s: Scene, rng: random.Random):
    return "How many words are on the first line?", NUMBER_WORDS[len(s["lines"][0]) - 1]


def bar_count(s: Scene, rng: random.Random):
    return "How many bars are there?", str(len(s["values"]))


def line_points(s: Scene, rng: random.Random):
    return "How many points does the line have?", str(len(s["values"]))


def table_rows(s: Scene, rng: random.Random):
    return "How many rows of numbers are there?", str(len(s["cells"]))


def table_width(s: Scene, rng: random.Random):
    return "Is the table narrow, medium or wide?", WIDTHS[len(s["cells"][0]) - 2]


def _digits(low: int, high: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(low, high + 1))


COLOUR_WORDS = tuple(COLOURS)
TEMPLATES: tuple[Template, ...] = (
    Template("colour", "objects", "strong", "word", COLOUR_WORDS, objects_colour),
    Template("counting", "document", "strong", "integer", _digits(2, 4), document_lines),
    Template("chart", "bar_chart", "strong", "integer", _digits(3, 5), bar_count),
    Template("series", "line_chart", "strong", "integer", _digits(4, 6), line_points),
    Template("table", "table", "strong", "integer", _digits(2, 4), table_rows),
    Template("text", "document", "weak", "word", NUMBER_WORDS, document_first_line),
    Template("grid", "table", "weak", "word", WIDTHS, table_width),
    Template("variety", "objects", "weak", "word", MIXES, objects_mix),
)
BY_CELL: dict[tuple[str, str], Template] = {t.cell: t for t in TEMPLATES}
CELLS: tuple[tuple[str, str], ...] = tuple(sorted(BY_CELL))
CATEGORIES: tuple[str, ...] = tuple(sorted({c for c, _ in BY_CELL}))
WEAK_CELLS: tuple[tuple[str, str], ...] = tuple(sorted(t.cell for t in TEMPLATES if t.kind == "weak"))
WEAK_CATEGORIES: tuple[str, ...] = tuple(sorted({c for c, _ in WEAK_CELLS}))


def ask(scene: Scene, category: str, rng: random.Random) -> Question | None:
    """The question of ``category`` about ``scene``, or None if its cell's template does not fit the scene."""
    template = BY_CELL.get((category, scene["image_type"]))
    return template.question(scene, rng) if template else None
