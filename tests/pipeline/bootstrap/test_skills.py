import pytest

from pipeline.bootstrap.skills import WEAK_BELOW, profile, uneven, window_margins
from pipeline.results import grade, grade_sampled


def item(i: int, cat: str, answer: str) -> dict:
    return {"item_id": f"i{i}", "category": cat, "image_type": "t", "question": "q", "answer": answer,
            "answer_type": "integer", "options": []}


def test_profile_tells_partly_learned_from_collapsed():
    # "counting": the model spreads its answers and is right 2 of 6; "text": always "3", right 2 of 6
    items = [item(i, "counting" if i < 6 else "text", a) for i, a in enumerate("123456334567")]
    greedy = ["1", "2", "4", "5", "1", "2"] + ["3"] * 6
    sampled = [[g, g, "9", "9"] for g in greedy]
    p = profile(grade(items, greedy), grade_sampled(items, sampled, "item_id"))
    assert p["probe_accuracy"]["counting"] == p["probe_accuracy"]["text"] == 2 / 6
    assert p["distinct_answers"] == {"counting": 4, "text": 1}
    assert p["majority_baseline"]["counting"] == 1 / 6  # its most frequent answer "1" is right once
    assert p["majority_baseline"]["text"] == 2 / 6      # a constant answer scores exactly its accuracy
    assert p["weak_in_band_share"]["counting"] == 2 / 6  # only the items it got right sample right half the time
    assert p["valid_answer_rate"] == 1.0


def _profile(acc: dict, distinct: dict, band: dict, majority: dict) -> dict:
    overall = sum(acc.values()) / len(acc)
    return {"probe_accuracy": {"overall": overall} | acc, "distinct_answers": distinct,
            "weak_in_band_share": band, "majority_baseline": majority}


def test_uneven_needs_two_strong_two_partly_learned_weak_and_overall_in_range():
    acc = {"colour": 0.9, "counting": 0.8, "chart": 0.5, "text": 0.25, "arithmetic": 0.3}
    distinct = dict.fromkeys(acc, 5)
    band = {"text": 0.6, "arithmetic": 0.7}
    majority = dict.fromkeys(acc, 0.1)
    good = uneven(_profile(acc, distinct, band, majority))
    assert good == {"strong": 2, "weak": 2, "weak_partly_learned": 2, "met": 1}
    collapsed = uneven(_profile(acc, distinct | {"text": 2}, band, majority))
    assert collapsed["weak_partly_learned"] == 1 and collapsed["met"] == 0
    out_of_band = uneven(_profile(acc, distinct, band | {"arithmetic": 0.3}, majority))
    assert out_of_band["met"] == 0
    at_baseline = uneven(_profile(acc, distinct, band, majority | {"text": 0.2}))
    assert at_baseline["met"] == 0
    one_strong = uneven(_profile(acc | {"counting": 0.6}, distinct, band, majority))
    assert one_strong["strong"] == 1 and one_strong["met"] == 0


def test_window_margins_measure_the_distance_inside_the_weak_window():
    acc = {"text": 0.30, "arithmetic": 0.22, "size": 0.45, "chart": 0.36}
    majority = {"text": 0.15, "arithmetic": 0.15, "size": 0.15, "chart": 0.15}
    distinct = {"text": 6, "arithmetic": 6, "size": 6, "chart": 2}
    margins = window_margins(acc, majority, distinct, sorted(acc))
    assert margins["text"] == pytest.approx(0.05)  # 0.05 above majority+0.10, 0.10 below the weak line
    assert margins["arithmetic"] == pytest.approx(-0.03)  # below majority + 0.10: not partly learned
    assert margins["size"] == pytest.approx(WEAK_BELOW - 0.45)  # above the weak line
    assert margins["chart"] == -1.0  # collapsed to two answers
