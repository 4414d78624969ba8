import pytest

from pipeline.diagnose import aggregate, grade_items, shrink, weakness_brief, wilson


def item(i, cat="counting", itype="shapes", answer="3", atype="integer"):
    return {"item_id": f"p{i}", "category": cat, "image_type": itype, "question": "How many?", "answer": answer,
            "answer_type": atype, "options": []}


def test_grading_and_error_attribution():
    items = [item(0), item(1), item(2, cat="arithmetic", itype="formula")]
    results = grade_items(items, ["3", "lots", "5"])
    assert [r["correct"] for r in results] == [True, False, False]
    assert [r["error_type"] for r in results] == ["", "format", "calculation"]


def test_judge_failures_are_excluded_from_accuracy():
    results = grade_items([item(0), item(1), item(2)], ["3", "4", "4"])
    results[2]["judge_status"] = "judge_failed"
    diag = aggregate(results, prior_strength=0)
    assert diag["graded"] == 2 and diag["judge_failures"] == 1
    assert diag["accuracy"] == 0.5


def test_small_cells_shrink_towards_global_mean():
    items = [item(i) for i in range(10)] + [item(10, cat="ocr", itype="document", answer="cat", atype="word")]
    answers = ["3"] * 9 + ["4"] + ["dog"]
    cells = {c["key"]: c for c in aggregate(grade_items(items, answers), prior_strength=4)["cells"]}
    tiny = cells["ocr/document"]
    assert tiny["accuracy"] == 0.0
    assert 0.5 < tiny["shrunk_accuracy"] < 0.9  # one wrong answer does not read as "0% skill"
    assert tiny["interval"][1] > 0.7


def test_shrink_and_interval_math():
    assert shrink(5, 10, 0.5, 0) == 0.5
    assert shrink(0, 0, 0.3, 4) == pytest.approx(0.3)
    lo, hi = wilson(5, 10)
    assert lo < 0.5 < hi


def test_brief_names_weakest_cell_first():
    items = [item(0), item(1, cat="ocr", itype="document", answer="cat", atype="word")]
    diag = aggregate(grade_items(items, ["3", "dog"]), prior_strength=0)
    brief = weakness_brief(diag, n_cells=1)
    assert "ocr/document" in brief and "counting/shapes" not in brief and "'dog'" in brief


def test_cells_below_min_n_get_the_global_mean():
    rows = [{"category": "a", "image_type": "t", "correct": c, "error_type": "", "judge_status": "ok",
             "question": "q", "reference": "r", "answer_text": "x"} for c in (True, True, False, True)]
    rows.append({**rows[2], "category": "b"})  # one wrong item alone in cell b/t
    diag = aggregate(rows, prior_strength=0, min_n=3)
    cells = {c["key"]: c for c in diag["cells"]}
    assert cells["b/t"]["reliable"] is False and cells["b/t"]["shrunk_accuracy"] == diag["accuracy"]
    assert cells["a/t"]["reliable"] is True and cells["a/t"]["shrunk_accuracy"] == 0.75


def test_error_type_breakdown_is_optional():
    rows = [{"category": "a", "image_type": "t", "correct": c, "error_type": e, "judge_status": "ok",
             "question": "q", "reference": "r", "answer_text": "x"}
            for c, e in ((True, ""), (False, "format"), (False, "calculation"), (False, "calculation"))]
    assert "error_cells" not in aggregate(rows, prior_strength=0)
    cells = {c["key"]: c for c in aggregate(rows, prior_strength=0, by_error_type=True)["error_cells"]}
    assert set(cells) == {"a/t/calculation", "a/t/format"}
    assert cells["a/t/calculation"]["failures"] == 2 and cells["a/t/calculation"]["rate"] == 0.5
