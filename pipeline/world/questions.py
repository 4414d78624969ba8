"""Question families: turn a scene record into a question whose answer follows from the record.

Each family serves one capability category on one image type and returns ``None`` when the scene
cannot support it (for example no shape with a unique colour). Cells of the diagnosis are
(category, image_type) pairs, so ``CELLS`` lists exactly the pairs some family can produce.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable

from pipeline.world.scenes import LETTERS, SHAPES, Scene, formula_result


@dataclass(frozen=True)
class Question:
    category: str
    image_type: str
    question: str
    answer: str
    answer_type: str  # "choice" (a letter), "integer" or "word"
    options: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


Family = Callable[[Scene, random.Random], "Question | None"]


def _unique(items: list[dict], key: str) -> list[dict]:
    counts = Counter(it[key] for it in items)
    return [it for it in items if counts[it[key]] == 1]


def _desc(it: dict) -> str:
    return f"{it['colour']} {it['shape']}"


def shapes_count(s: Scene, rng: random.Random) -> Question:
    return Question("counting", "shapes", "How many shapes are there?", str(len(s["items"])), "integer")


def shapes_colour(s: Scene, rng: random.Random) -> Question | None:
    cands = _unique(s["items"], "shape")
    if not cands:
        return None
    it = rng.choice(cands)
    return Question("colour", "shapes", f"What colour is the {it['shape']}?", it["colour"], "word")


def shapes_shape(s: Scene, rng: random.Random) -> Question | None:
    cands = _unique(s["items"], "colour")
    if not cands:
        return None
    it = rng.choice(cands)
    options = list(SHAPES)
    return Question("shape", "shapes", f"Which shape is {it['colour']}?",
                    LETTERS[options.index(it["shape"])], "choice", options)


def shapes_spatial(s: Scene, rng: random.Random) -> Question | None:
    counts = Counter(_desc(it) for it in s["items"])
    uniq = [it for it in s["items"] if counts[_desc(it)] == 1]
    pairs = [(a, b) for a in uniq for b in uniq if a["col"] != b["col"] or a["row"] != b["row"]]
    pairs = [(a, b) for a, b in pairs if a is not b]
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
    top = Counter(d["colour"] for d in s["dots"]).most_common()
    if len(top) > 1 and top[0][1] == top[1][1]:
        return None
    return Question("colour", "objects", "Which colour has the most dots?", top[0][0], "word")


def bar_tallest(s: Scene, rng: random.Random) -> Question | None:
    vals = s["values"]
    if vals.count(max(vals)) > 1:
        return None
    return Question("chart", "bar_chart", "Which bar is the tallest?",
                    LETTERS[vals.index(max(vals))], "choice", list(s["labels"]))


def bar_value(s: Scene, rng: random.Random) -> Question:
    i = rng.randrange(len(s["values"]))
    return Question("chart", "bar_chart", f"What is the value of bar {s['labels'][i]}?", str(s["values"][i]), "integer")


def bar_sum(s: Scene, rng: random.Random) -> Question:
    i, j = rng.sample(range(len(s["values"])), 2)
    lab = s["labels"]
    return Question("arithmetic", "bar_chart", f"What is bar {lab[i]} plus bar {lab[j]}?",
                    str(s["values"][i] + s["values"][j]), "integer")


def line_trend(s: Scene, rng: random.Random) -> Question | None:
    first, last = s["values"][0], s["values"][-1]
    if abs(first - last) < 2:
        return None
    return Question("chart", "line_chart", "Does the line end higher or lower than it starts?",
                    "higher" if last > first else "lower", "word")


def line_peak(s: Scene, rng: random.Random) -> Question | None:
    vals = s["values"]
    if vals.count(max(vals)) > 1:
        return None
    return Question("chart", "line_chart", "At which point is the line highest?", str(vals.index(max(vals)) + 1),
                    "integer")


def document_word(s: Scene, rng: random.Random) -> Question:
    i = rng.randrange(len(s["lines"]))
    return Question("ocr", "document", f"What is the first word of line {i + 1}?", s["lines"][i][0], "word")


def document_lines(s: Scene, rng: random.Random) -> Question:
    return Question("counting", "document", "How many lines of text are there?", str(len(s["lines"])), "integer")


def table_lookup(s: Scene, rng: random.Random) -> Question:
    r = rng.randrange(len(s["cells"]))
    c = rng.randrange(len(s["cells"][0]))
    return Question("table", "table", f"What is the value in row {s['row_labels'][r]}, column {c + 1}?",
                    str(s["cells"][r][c]), "integer")


def table_row_sum(s: Scene, rng: random.Random) -> Question:
    r = rng.randrange(len(s["cells"]))
    return Question("arithmetic", "table", f"What is the sum of row {s['row_labels'][r]}?", str(sum(s["cells"][r])),
                    "integer")


def formula_result_q(s: Scene, rng: random.Random) -> Question:
    return Question("arithmetic", "formula", "What is the result of the formula?", str(formula_result(s)), "integer")


def formula_read(s: Scene, rng: random.Random) -> Question:
    return Question("ocr", "formula", "What is the first number on the card?", str(s["a"]), "integer")


FAMILIES: dict[tuple[str, str], tuple[Family, ...]] = {
    ("counting", "shapes"): (shapes_count,),
    ("colour", "shapes"): (shapes_colour,),
    ("shape", "shapes"): (shapes_shape,),
    ("spatial", "shapes"): (shapes_spatial,),
    ("counting", "objects"): (objects_count,),
    ("colour", "objects"): (objects_colour,),
    ("chart", "bar_chart"): (bar_tallest, bar_value),
    ("arithmetic", "bar_chart"): (bar_sum,),
    ("chart", "line_chart"): (line_trend, line_peak),
    ("ocr", "document"): (document_word,),
    ("counting", "document"): (document_lines,),
    ("table", "table"): (table_lookup,),
    ("arithmetic", "table"): (table_row_sum,),
    ("arithmetic", "formula"): (formula_result_q,),
    ("ocr", "formula"): (formula_read,),
}
CELLS: tuple[tuple[str, str], ...] = tuple(sorted(FAMILIES))
CATEGORIES: tuple[str, ...] = tuple(sorted({c for c, _ in FAMILIES}))


def categories_for(image_type: str) -> list[str]:
    return [c for c, t in CELLS if t == image_type]


def ask(scene: Scene, category: str, rng: random.Random) -> Question | None:
    """A question of ``category`` about ``scene``, or None if no family of that cell fits the scene."""
    families = FAMILIES.get((category, scene["image_type"]), ())
    for family in rng.sample(families, len(families)):
        q = family(scene, rng)
        if q is not None:
            return q
    return None
