"""Question families: turn a scene record into a question whose answer follows from the record.

Each family serves one capability category on one image type and returns ``None`` when the scene
cannot support it (for example no shape with a unique colour). Cells of the diagnosis are
(category, image_type) pairs, so ``CELLS`` lists exactly the pairs some family can produce.

Every family asks about something a ~1.6M-parameter VLM at 112 px can learn from a few thousand
examples: colours, counts, sizes, coarse positions and heights. Families that need reading a glyph
(a word, a digit, an operator sign) stayed at chance at this scale whatever their share of the
warm-up (measured for first word, first number, table cell, formula result and operator, 2,000
steps), so they are not part of the embedded world: a category the model cannot partly learn gives
diagnosis nothing to find and GRPO nothing to reward. Bring such benchmarks in as probe sources.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from pipeline.world.scenes import Scene


@dataclass(frozen=True)
class Question:
    category: str
    image_type: str
    question: str
    answer: str
    answer_type: str  # "choice" (a letter), "integer" or "word"
    options: list[str] = field(default_factory=list)


Family = Callable[[Scene, random.Random], "Question | None"]


def _unique(items: list[dict], key: str) -> list[dict]:
    counts = Counter(it[key] for it in items)
    return [it for it in items if counts[it[key]] == 1]


def _majority_colour(things: list[dict]) -> str | None:
    """The colour most of ``things`` have, or None on a tie."""
    top = Counter(t["colour"] for t in things).most_common()
    return None if len(top) > 1 and top[0][1] == top[1][1] else top[0][0]


def _pick_unique_colour(items: list[dict], rng: random.Random, axis: str | None = None) -> dict | None:
    """A shape whose colour no other shape has (so the colour names it), off the grid's middle along
    ``axis`` when given; None when the scene has none."""
    cands = [it for it in _unique(items, "colour") if axis is None or it[axis] != 1]
    return rng.choice(cands) if cands else None


def _desc(it: dict) -> str:
    return f"{it['colour']} {it['shape']}"


def shapes_count(s: Scene, rng: random.Random) -> Question:
    return Question("counting", "shapes", "How many shapes are there?", str(len(s["items"])), "integer")


def shapes_colour(s: Scene, rng: random.Random) -> Question | None:
    colour = _majority_colour(s["items"])
    if colour is None:
        return None
    return Question("colour", "shapes", "Which colour do most of the shapes have?", colour, "word")


def _side(axis: str, names: tuple[str, str], noun: str) -> Family:
    """Binary coarse position (the two outer rows or columns of the grid): left/right, top/bottom."""
    def family(s: Scene, rng: random.Random) -> Question | None:
        it = _pick_unique_colour(s["items"], rng, axis)
        if it is None:
            return None
        return Question("spatial", "shapes", f"Is the {it['colour']} shape on the {names[0]} or the {names[1]}?",
                        names[it[axis] // 2], "word")
    family.__name__ = f"shapes_{noun}"
    return family


shapes_side = _side("col", ("left", "right"), "side")
shapes_level = _side("row", ("top", "bottom"), "level")


def shapes_size(s: Scene, rng: random.Random) -> Question | None:
    it = _pick_unique_colour(s["items"], rng)
    if it is None:
        return None
    return Question("size", "shapes", f"Is the {it['colour']} shape small or large?", it["size"], "word")


def shapes_large(s: Scene, rng: random.Random) -> Question:
    return Question("size", "shapes", "How many large shapes are there?",
                    str(sum(it["size"] == "large" for it in s["items"])), "integer")


def shapes_empty(s: Scene, rng: random.Random) -> Question:
    return Question("arithmetic", "shapes", "The shapes sit on a 3 by 3 grid. How many places are empty?",
                    str(9 - len(s["items"])), "integer")


def shapes_relation(s: Scene, rng: random.Random) -> Question | None:
    counts = Counter(_desc(it) for it in s["items"])
    uniq = [it for it in s["items"] if counts[_desc(it)] == 1]
    pairs = [(a, b) for a in uniq for b in uniq if a is not b]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    if a["col"] != b["col"]:
        ans = "left" if a["col"] < b["col"] else "right"
        q = f"Is the {_desc(a)} left or right of the {_desc(b)}?"
    else:
        ans = "above" if a["row"] < b["row"] else "below"
        q = f"Is the {_desc(a)} above or below the {_desc(b)}?"
    return Question("spatial", "shapes", q, ans, "word")


def objects_count(s: Scene, rng: random.Random) -> Question:
    colour = rng.choice(sorted({d["colour"] for d in s["dots"]}))
    n = sum(d["colour"] == colour for d in s["dots"])
    return Question("counting", "objects", f"How many {colour} dots are there?", str(n), "integer")


def objects_colour(s: Scene, rng: random.Random) -> Question | None:
    colour = _majority_colour(s["dots"])
    if colour is None:
        return None
    return Question("colour", "objects", "Which colour has the most dots?", colour, "word")


def objects_remaining(s: Scene, rng: random.Random) -> Question | None:
    counts = Counter(d["colour"] for d in s["dots"])
    if len(counts) < 2:
        return None
    colour = rng.choice(sorted(counts))
    return Question("arithmetic", "objects", f"If the {colour} dots were taken away, how many dots would be left?",
                    str(len(s["dots"]) - counts[colour]), "integer")


def bar_count(s: Scene, rng: random.Random) -> Question:
    return Question("chart", "bar_chart", "How many bars are there?", str(len(s["values"])), "integer")


def bar_value(s: Scene, rng: random.Random) -> Question:
    i = rng.randrange(len(s["values"]))
    return Question("chart", "bar_chart", f"What is the value of bar {s['labels'][i]}?", str(s["values"][i]), "integer")


def line_points(s: Scene, rng: random.Random) -> Question:
    return Question("chart", "line_chart", "How many points does the line have?", str(len(s["values"])), "integer")


def line_trend(s: Scene, rng: random.Random) -> Question | None:
    first, last = s["values"][0], s["values"][-1]
    if abs(first - last) < 2:
        return None
    return Question("chart", "line_chart", "Does the line end higher or lower than it starts?",
                    "higher" if last > first else "lower", "word")


def document_lines(s: Scene, rng: random.Random) -> Question:
    return Question("counting", "document", "How many lines of text are there?", str(len(s["lines"])), "integer")


def document_words(s: Scene, rng: random.Random) -> Question:
    return Question("text", "document", "How many words are there?", str(sum(map(len, s["lines"]))), "integer")


def table_rows(s: Scene, rng: random.Random) -> Question:
    return Question("table", "table", "How many rows of numbers are there?", str(len(s["cells"])), "integer")


def table_columns(s: Scene, rng: random.Random) -> Question:
    return Question("table", "table", "How many columns of numbers are there?", str(len(s["cells"][0])), "integer")


def table_cells(s: Scene, rng: random.Random) -> Question:
    return Question("table", "table", "How many numbers are in the table?", str(len(s["cells"]) * len(s["cells"][0])),
                    "integer")


FAMILIES: dict[tuple[str, str], tuple[Family, ...]] = {
    ("colour", "shapes"): (shapes_colour,),
    ("colour", "objects"): (objects_colour,),
    ("counting", "shapes"): (shapes_count,),
    ("counting", "objects"): (objects_count,),
    ("counting", "document"): (document_lines,),
    ("spatial", "shapes"): (shapes_relation, shapes_side, shapes_level),
    ("size", "shapes"): (shapes_size, shapes_large),
    ("chart", "bar_chart"): (bar_count, bar_value),
    ("chart", "line_chart"): (line_points, line_trend),
    ("table", "table"): (table_rows, table_columns, table_cells),
    ("text", "document"): (document_words,),
    ("arithmetic", "objects"): (objects_remaining,),
    ("arithmetic", "shapes"): (shapes_empty,),
}
CELLS: tuple[tuple[str, str], ...] = tuple(sorted(FAMILIES))
CATEGORIES: tuple[str, ...] = tuple(sorted({c for c, _ in FAMILIES}))


def ask(scene: Scene, category: str, rng: random.Random) -> Question | None:
    """A question of ``category`` about ``scene``, or None if no family of that cell fits the scene."""
    families = FAMILIES.get((category, scene["image_type"]), ())
    for family in rng.sample(families, len(families)):
        q = family(scene, rng)
        if q is not None:
            return q
    return None
