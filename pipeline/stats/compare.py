"""Per-category accuracy of several runs side by side, from their graded evaluation results.

Each run's accuracy gets a Wilson 95% interval over its items; each run after the first gets its difference
from the first, paired over the items both graded (the same evaluation set: pairing removes the items'
difficulty, which is most of the spread), with a 95% interval over those items. Pure functions over result
tables; `dpe compare` reads the tables of DVC experiments and prints this.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipeline.stats.evidence import Interval, interval, paired_differences, wilson

OVERALL = "overall"


@dataclass(frozen=True)
class Score:
    correct: int
    n: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.n)


def accuracy_of(metrics: dict) -> dict[str, float]:
    """Per-category accuracy from an evaluate stage's metrics (``accuracy.<category>`` keys).

    >>> accuracy_of({"accuracy.text": 0.5, "accuracy.overall": 0.6, "items": 10})
    {'text': 0.5, 'overall': 0.6}
    """
    return {k.split(".", 1)[1]: v for k, v in metrics.items() if k.startswith("accuracy.")}


def graded(results: pa.Table) -> dict[str, tuple[str, bool]]:
    """item id -> (category, correct)."""
    return {i: (c, bool(ok)) for i, c, ok in zip(results.column("item_id").to_pylist(),
                                                   results.column("category").to_pylist(),
                                                   results.column("correct").to_pylist())}


def scores(items: dict[str, tuple[str, bool]]) -> dict[str, Score]:
    """Per category and overall."""
    out: dict[str, list[int]] = {OVERALL: [0, 0]}
    for category, ok in items.values():
        for key in (category, OVERALL):
            out.setdefault(key, [0, 0])
            out[key][0] += ok
            out[key][1] += 1
    return {k: Score(*v) for k, v in out.items()}


def paired_difference(run: dict[str, tuple[str, bool]], base: dict[str, tuple[str, bool]],
                      category: str = OVERALL) -> Interval | None:
    """``run`` − ``base`` accuracy over the items both graded (of ``category``); None with fewer than two."""
    diffs = paired_differences({i: ok for i, (cat, ok) in run.items() if category in (OVERALL, cat)},
                               {i: ok for i, (_, ok) in base.items()})
    return interval(diffs) if len(diffs) >= 2 else None


@dataclass(frozen=True)
class Row:
    category: str
    scores: list[Score | None]  # per run, None where the run has no item of the category
    differences: list[Interval | None]  # per run after the first, against the first


def compare(runs: list[dict[str, tuple[str, bool]]]) -> list[Row]:
    """One row per category (overall last) across ``runs``, the first being the reference."""
    per_run = [scores(r) for r in runs]
    categories = sorted({c for s in per_run for c in s if c != OVERALL}) + [OVERALL]
    return [Row(c, [s.get(c) for s in per_run], [paired_difference(r, runs[0], c) for r in runs[1:]])
            for c in categories]
