import polars as pl
import pytest

from pipeline.answers.results import grade
from pipeline.diagnosis.diagnose import aggregate, shrink, weakness_brief, wilson
from pipeline.world.judge import WorldJudge


def item(i, cat="counting", itype="shapes", answer="3", atype="integer"):
    return {"item_id": f"p{i}", "category": cat, "image_type": itype, "question": "How many?", "answer": answer,
            "answer_type": atype, "options": []}


def graded_rows(rows: list[dict]) -> pl.DataFrame:
    """A results table from hand-written (category, image_type, correct, error_type) rows."""
    return pl.DataFrame([{"item_id": str(i), "question": "q", "reference": "r", "answer_text": "x",
                          "judge_status": "ok", **r} for i, r in enumerate(rows)])


def test_grading_and_error_attribution():
    items = [item(0), item(1), item(2, cat="chart", itype="bar_chart")]
    results = grade(items, ["3", "lots", "5"], WorldJudge())
    assert results["correct"].to_list() == [True, False, False]
    assert results["error_type"].to_list() == ["", "format", "reasoning"]


def test_judge_failures_are_excluded_from_accuracy():
    results = grade([item(0), item(1), item(2)], ["3", "4", "4"], WorldJudge())
    results = results.with_columns(judge_status=pl.Series(["ok", "ok", "failed"]))
    diag = aggregate(results, prior_strength=0)
    assert diag.graded == 2 and diag.judge_failures == 1
    assert diag.accuracy == 0.5


def test_small_cells_shrink_towards_global_mean():
    items = [item(i) for i in range(10)] + [item(10, cat="ocr", itype="document", answer="cat", atype="word")]
    answers = ["3"] * 9 + ["4"] + ["dog"]
    cells = {c.key: c for c in aggregate(grade(items, answers, WorldJudge()), prior_strength=4).cells}
    tiny = cells["ocr/document"]
    assert tiny.accuracy == 0.0
    assert 0.5 < tiny.shrunk_accuracy < 0.9  # one wrong answer does not read as "0% skill"
    assert tiny.interval[1] > 0.7


def test_shrink_and_interval_math():
    assert shrink(5, 10, 0.5, 0) == 0.5
    assert shrink(0, 0, 0.3, 4) == pytest.approx(0.3)
    lo, hi = wilson(5, 10)
    assert lo < 0.5 < hi


def test_brief_names_weakest_cell_first():
    items = [item(0), item(1, cat="ocr", itype="document", answer="cat", atype="word")]
    diag = aggregate(grade(items, ["3", "dog"], WorldJudge()), prior_strength=0)
    brief = weakness_brief(diag, n_cells=1)
    assert "ocr/document" in brief and "counting/shapes" not in brief and "'dog'" in brief


def test_cells_below_min_n_get_the_global_mean():
    rows = [{"category": "a", "image_type": "t", "correct": c, "error_type": ""} for c in (True, True, False, True)]
    rows.append({**rows[2], "category": "b"})  # one wrong item alone in cell b/t
    diag = aggregate(graded_rows(rows), prior_strength=0, min_n=3)
    cells = {c.key: c for c in diag.cells}
    assert cells["b/t"].reliable is False and cells["b/t"].shrunk_accuracy == diag.accuracy
    assert cells["a/t"].reliable is True and cells["a/t"].shrunk_accuracy == 0.75


def test_error_types_and_examples_per_cell_in_the_order_seen():
    rows = [{"category": "a", "image_type": "t", "correct": c, "error_type": e}
            for c, e in ((True, ""), (False, "format"), (False, "calculation"), (False, "calculation"))]
    diag = aggregate(graded_rows(rows), prior_strength=0, n_examples=2)
    (cell,) = diag.cells
    assert list(cell.error_types.items()) == [("format", 1), ("calculation", 2)]
    assert len(cell.examples) == 2
    assert diag.error_cells is None
    cells = {c.key: c for c in aggregate(graded_rows(rows), prior_strength=0, by_error_type=True).error_cells}
    assert set(cells) == {"a/t/calculation", "a/t/format"}
    assert cells["a/t/calculation"].failures == 2 and cells["a/t/calculation"].rate == 0.5
