"""Runs side by side: per-category scores with Wilson intervals, differences paired over the same items."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.stats.compare import OVERALL, compare, graded, paired_difference, scores


def run(correct: dict[str, bool]) -> dict[str, tuple[str, bool]]:
    return {i: (i.split("-")[0], ok) for i, ok in correct.items()}


def test_graded_reads_a_results_table():
    table = pa.table({"item_id": ["a", "b"], "category": ["text", "size"], "correct": [True, False]})
    assert graded(table) == {"a": ("text", True), "b": ("size", False)}


def test_scores_count_per_category_and_overall():
    got = scores(run({"text-1": True, "text-2": False, "size-1": True}))
    assert (got["text"].correct, got["text"].n, got[OVERALL].n) == (1, 2, 3)
    low, high = got["text"].interval
    assert low < 0.5 < high


def test_pairing_over_the_same_items_narrows_the_difference():
    # 40 items: the reference gets the first 20 right, the other run the same 20 and 4 more
    base = run({f"text-{i}": i < 20 for i in range(40)})
    better = run({f"text-{i}": i < 24 for i in range(40)})
    diff = paired_difference(better, base, "text")
    assert diff.mean == pytest.approx(0.1) and diff.excludes_zero()
    assert diff.half_width < 0.1  # unpaired Wilson intervals of 0.5 and 0.6 at n=40 overlap widely
    assert paired_difference(better, base, "size") is None


def test_compare_rows_follow_categories_with_overall_last():
    rows = compare([run({"text-1": True, "size-1": False}), run({"text-1": True, "size-1": True, "chart-1": True})])
    assert [r.category for r in rows] == ["chart", "size", "text", OVERALL]
    chart = rows[0]
    assert chart.scores[0] is None and chart.scores[1].correct == 1 and chart.differences == [None]
