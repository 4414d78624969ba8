"""Question templates: one per cell, each with a fixed answer space, asked about a scene record.

A cell of the diagnosis is a (category, image_type) pair and holds exactly one template, so a cell's ``k`` (the
number of answers its template can give) is known and its labels can be balanced: the labelled sets draw the
answer first and then a scene that has it (``pipeline/world/build.py``), so always giving one answer scores 1/k.

The cells come in two kinds, fixed per world version (``WORLD_VERSION``):

* **strong**: the warm-up asks them at full share; the base model should answer them (>= 0.85);
* **weak**: latent blind spots. Their question is scarce in the warm-up, but what it needs is perceived: the
  captions the warm-up trains on state it (positions, sizes, the first line's words, a line's ending), or a
  strong cell asks about the same images. Their answers share no word with a strong cell's (strong cells answer
  with colour words and digits; weak ones with left/right, small/large, number words, higher/lower,
  more/fewer), so training a weak cell cannot move a strong cell's answer prior, nor the reverse.

Every template asks about something a ~1.6M-parameter VLM at 112 px can learn: colours, counts, sizes, coarse
positions and heights. Reading a glyph (a word, a digit) stayed at chance at this scale whatever its share of the
warm-up, so no template needs it; bring such benchmarks in as probe sources.
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


def _unique(items: list[dict], key: str) -> list[dict]:
    counts = Counter(it[key] for it in items)
    return [it for it in items if counts[it[key]] == 1]


def _majority_colour(things: list[dict]) -> str | None:
    """The colour most of ``things`` have, or None on a tie."""
    top = Counter(t["colour"] for t in things).most_common()
    return None if not top or (len(top) > 1 and top[0][1] == top[1][1]) else top[0][0]


def _pick_unique_colour(items: list[dict], rng: random.Random, axis: str | None = None) -> dict | None:
    """A shape whose colour no other shape has (so the colour names it), off the grid's middle along ``axis`` when
    given; None when the scene has none."""
    cands = [it for it in _unique(items, "colour") if axis is None or it[axis] != 1]
    return rng.choice(cands) if cands else None


def shapes_colour(s: Scene, rng: random.Random):
    colour = _majority_colour(s["items"])
    return None if colour is None else ("Which colour do most of the shapes have?", colour)


def shapes_count(s: Scene, rng: random.Random):
    return "How many shapes are there?", str(len(s["items"]))


def shapes_side(s: Scene, rng: random.Random):
    it = _pick_unique_colour(s["items"], rng, "col")
    return None if it is None else (f"Is the {it['colour']} shape on the left or the right?",
                                    ("left", "right")[it["col"] // 2])


def shapes_size(s: Scene, rng: random.Random):
    it = _pick_unique_colour(s["items"], rng)
    return None if it is None else (f"Is the {it['colour']} shape small or large?", it["size"])


def objects_colour(s: Scene, rng: random.Random):
    colour = _majority_colour(s["dots"])
    return None if colour is None else ("Which colour has the most dots?", colour)


def objects_count(s: Scene, rng: random.Random):
    colour = rng.choice(sorted({d["colour"] for d in s["dots"]}))
    return f"How many {colour} dots are there?", str(sum(d["colour"] == colour for d in s["dots"]))


def objects_compare(s: Scene, rng: random.Random):
    counts = Counter(d["colour"] for d in s["dots"])
    if len(counts) < 2 or len(set(counts.values())) < 2:
        return None
    a, b = rng.sample(sorted(counts), 2)
    return f"Are there more or fewer {a} dots than {b} dots?", "more" if counts[a] > counts[b] else "fewer"


def document_lines(s: Scene, rng: random.Random):
    return "How many lines of text are there?", str(len(s["lines"]))


def document_first_line(s: Scene, rng: random.Random):
    return "How many words are on the first line?", NUMBER_WORDS[len(s["lines"][0]) - 1]


def bar_count(s: Scene, rng: random.Random):
    return "How many bars are there?", str(len(s["values"]))


def line_points(s: Scene, rng: random.Random):
    return "How many points does the line have?", str(len(s["values"]))


def line_trend(s: Scene, rng: random.Random):
    first, last = s["values"][0], s["values"][-1]
    if abs(first - last) < 2:
        return None
    return "Does the line end higher or lower than it starts?", "higher" if last > first else "lower"


def table_rows(s: Scene, rng: random.Random):
    return "How many rows of numbers are there?", str(len(s["cells"]))


def table_columns(s: Scene, rng: random.Random):
    return "How many columns of numbers are there?", NUMBER_WORDS[len(s["cells"][0]) - 1]


def objects_colours(s: Scene, rng: random.Random):
    return "How many colours of dots are there?", NUMBER_WORDS[len({d["colour"] for d in s["dots"]}) - 1]


def _digits(low: int, high: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(low, high + 1))


COLOUR_WORDS = tuple(COLOURS)
TEMPLATES: tuple[Template, ...] = (
    Template("colour", "shapes", "strong", "word", COLOUR_WORDS, shapes_colour),
    Template("colour", "objects", "strong", "word", COLOUR_WORDS, objects_colour),
    Template("counting", "shapes", "strong", "integer", _digits(1, 5), shapes_count),
    Template("counting", "objects", "strong", "integer", _digits(1, 5), objects_count),
    Template("counting", "document", "strong", "integer", _digits(2, 4), document_lines),
    Template("chart", "bar_chart", "strong", "integer", _digits(3, 5), bar_count),
    Template("chart", "line_chart", "strong", "integer", _digits(4, 6), line_points),
    Template("table", "table", "strong", "integer", _digits(2, 4), table_rows),
    Template("spatial", "shapes", "weak", "word", ("left", "right"), shapes_side),
    Template("size", "shapes", "weak", "word", ("small", "large"), shapes_size),
    Template("compare", "objects", "weak", "word", ("more", "fewer"), objects_compare),
    Template("text", "document", "weak", "word", NUMBER_WORDS, document_first_line),
    Template("trend", "line_chart", "weak", "word", ("higher", "lower"), line_trend),
    Template("grid", "table", "weak", "word", ("two", "three"), table_columns),
    Template("variety", "objects", "weak", "word", ("one", "two"), objects_colours),
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
