"""Grade once, aggregate by group-by: the results table and the numbers read from it."""

import json

import polars as pl

from pipeline.answers import results as res
from pipeline.diagnosis.judges import Judge, Verdict
from pipeline.storage.schemas import Call


def item(i, cat="a", itype="t", answer="1", atype="integer", options=()):
    return {"item_id": f"i{i}", "category": cat, "image_type": itype, "question": f"q{i}", "answer": answer,
            "answer_type": atype, "options": list(options)}


class Counting(Judge):
    """Attributes every failure to calculation, once per call, and reports its tokens."""

    def __init__(self):
        self.calls = 0

    def judge(self, item, answer_text, parsed):
        self.calls += 1
        return Verdict("ok", "calculation", "", (Call(role="judge", backend="test", model="m", prompt_tokens=7),))


def test_grade_parses_once_and_asks_the_judge_only_about_wrong_answers():
    items = [item(0), item(1, answer="2"), item(2, cat="b", answer="3")]
    judge = Counting()
    results = res.grade(items, ["1", "two?", "lots"], judge, round_name="r1")
    assert judge.calls == 1  # "two?" reads as 2: right, no judge
    assert results["parsed"].to_list() == ["1", "2", None]
    assert results["correct"].to_list() == [True, True, False]
    assert results["round"].unique().to_list() == ["r1"]
    assert results["error_type"].to_list() == ["", "", "calculation"]
    assert json.loads(results["judge_calls"][2])[0]["prompt_tokens"] == 7


def test_without_a_judge_wrong_answers_are_skipped_not_failed():
    results = res.grade([item(0), item(1)], ["1", "5"])
    assert results["judge_status"].to_list() == ["ok", "skipped"]
    assert res.accuracy(results) == 0.5


def test_accuracy_table_excludes_judge_failures():
    results = res.grade([item(0), item(1, answer="2"), item(2, cat="b", answer="3")], ["1", "1", "three"])
    assert res.accuracy_table(results) == {"overall": 2 / 3, "a": 0.5, "b": 1.0}
    failed = results.with_columns(judge_status=pl.Series(["ok", "failed", "ok"]))
    assert res.accuracy_table(failed) == {"overall": 1.0, "a": 1.0, "b": 1.0}


def test_distinct_answers_counts_parsed_answers_not_spellings():
    items = [item(i, answer="3") for i in range(4)] + [item(4 + i, cat="b", answer="1") for i in range(2)]
    # "3" and " 3." parse to the same integer; "lots" is no answer at all
    results = res.grade(items, ["3", " 3.", "4", "lots", "1", "1"])
    assert res.distinct_answers(results) == {"a": 2, "b": 1}
    assert res.valid_answer_rate(results) == 5 / 6


def test_majority_baseline_goes_through_the_grader_and_breaks_ties_by_first_answer():
    items = [item(0, atype="choice", answer="B", options=("cat", "dog")),
             item(1, atype="choice", answer="A", options=("cat", "dog")),
             item(2, cat="b", atype="word", answer="Red"), item(3, cat="b", atype="word", answer="blue")]
    # category a: "dog" and "A" tie (one each): the first, "dog" = B, is the majority answer
    results = res.grade(items, ["dog", "A", "red.", "green"])
    assert res.majority_baseline(results) == {"a": 0.5, "b": 0.5}


def test_pass_rates_follow_the_first_appearance_of_each_key():
    rows = [item(1, answer="3"), item(0, answer="red", atype="word")]
    graded = res.grade_sampled(rows, [["3", "4", "3", "x"], ["red", "Red"]], "item_id")
    assert graded.height == 6 and graded["k"].to_list() == [0, 1, 2, 3, 0, 1]
    assert res.pass_rates(graded, "item_id").rows() == [("i1", 0.5), ("i0", 1.0)]
