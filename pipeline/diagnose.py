"""Diagnosis: grade the model on the probe set, attribute failures, and aggregate per weakness cell.

Departures from the reference: judge failures are kept apart and excluded from accuracy (not counted
as model errors), and every cell's accuracy is shrunk towards the global mean with a Beta prior of
strength ``prior_strength``, with a Wilson 95% interval, so one wrong answer in a tiny cell cannot
steer a whole round.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from pipeline.grading import is_correct, parse_answer
from pipeline.judges import Judge, Verdict, WorldJudge


def grade_items(items: list[dict], completions: list[str], judge: Judge | None = None) -> list[dict]:
    """Per-item results (the results.parquet rows); failures get an error type from ``judge``."""
    judge = judge or WorldJudge()
    results = []
    for item, text in zip(items, completions, strict=True):
        parsed = parse_answer(text, item["answer_type"], item["options"])
        correct = is_correct(text, item["answer"], item["answer_type"], item["options"])
        verdict = Verdict("ok") if correct else judge.judge(item, text, parsed)
        results.append({
            "item_id": item["item_id"], "category": item["category"], "image_type": item["image_type"],
            "question": item["question"], "reference": item["answer"], "answer_text": text,
            "parsed": parsed or "", "correct": correct, "error_type": verdict.error_type,
            "judge_status": verdict.status, "judge_detail": verdict.detail,
        })
    return results


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials.

    >>> [round(x, 3) for x in wilson(0, 4)]
    [0.0, 0.49]
    """
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def shrink(k: int, n: int, prior_mean: float, strength: float) -> float:
    """Posterior mean under a Beta(strength·m, strength·(1-m)) prior.

    >>> shrink(0, 1, 0.5, 4.0)
    0.4
    """
    return (k + strength * prior_mean) / (n + strength) if n + strength > 0 else prior_mean


@dataclass
class Cell:
    category: str
    image_type: str
    n: int
    correct: int
    accuracy: float
    shrunk_accuracy: float
    interval: tuple[float, float]
    reliable: bool = True
    error_types: dict[str, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.category}/{self.image_type}"


def error_cells(cells: list[Cell]) -> list[dict]:
    """The finer view: for each cell and error type, the share of the cell's items failed that way."""
    rows = []
    for c in cells:
        for error, k in sorted(c.error_types.items()):
            rows.append({"key": f"{c.key}/{error}", "category": c.category, "image_type": c.image_type,
                         "error_type": error, "n": c.n, "failures": k, "rate": k / c.n, "interval": wilson(k, c.n)})
    return rows


def aggregate(results: list[dict], prior_strength: float, n_examples: int = 3, min_n: int = 1,
              by_error_type: bool = False) -> dict:
    """The diagnosis: overall and per-category accuracy, and the per-cell table (judge failures excluded).

    A cell with fewer than ``min_n`` graded items is marked unreliable and its shrunk accuracy is the
    global mean: the mixture then gives it an average share instead of reading noise."""
    graded = [r for r in results if r["judge_status"] == "ok"]
    n = len(graded)
    overall = sum(r["correct"] for r in graded) / n if n else 0.0
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for r in graded:
        by_cell[(r["category"], r["image_type"])].append(r)
        by_cat[r["category"]].append(r["correct"])
    cells = []
    for (cat, itype), rows in sorted(by_cell.items()):
        k = sum(r["correct"] for r in rows)
        fails = [r for r in rows if not r["correct"]]
        cells.append(Cell(
            category=cat, image_type=itype, n=len(rows), correct=k, accuracy=k / len(rows),
            shrunk_accuracy=shrink(k, len(rows), overall, prior_strength) if len(rows) >= min_n else overall,
            interval=wilson(k, len(rows)), reliable=len(rows) >= min_n,
            error_types=dict(Counter(r["error_type"] for r in fails)),
            examples=[{"question": r["question"], "reference": r["reference"], "answer": r["answer_text"]}
                      for r in fails[:n_examples]],
        ))
    out = {
        "items": len(results), "graded": n, "judge_failures": len(results) - n,
        "accuracy": overall,
        "categories": {c: sum(v) / len(v) for c, v in sorted(by_cat.items())},
        "cells": [asdict(c) | {"key": c.key} for c in cells],
    }
    return out | {"error_cells": error_cells(cells)} if by_error_type else out


def weakness_brief(diagnosis: dict, n_cells: int) -> str:
    """Short prose for the generating agents: the weakest cells, how they fail, an example each."""
    cells = sorted(diagnosis["cells"], key=lambda c: c["shrunk_accuracy"])[:n_cells]
    lines = [f"Overall probe accuracy {diagnosis['accuracy']:.0%} on {diagnosis['graded']} graded items.",
             "Weakest cells (category / image type):"]
    for c in cells:
        errors = ", ".join(f"{k} ×{v}" for k, v in sorted(c["error_types"].items(), key=lambda kv: -kv[1])) or "none"
        line = (f"- {c['key']}: {c['correct']}/{c['n']} correct (shrunk {c['shrunk_accuracy']:.0%}, "
                f"95% CI {c['interval'][0]:.0%}–{c['interval'][1]:.0%}); errors: {errors}.")
        if c["examples"]:
            ex = c["examples"][0]
            line += f" e.g. \"{ex['question']}\" expected {ex['reference']!r}, got {ex['answer']!r}."
        lines.append(line)
    return "\n".join(lines) + "\n"
