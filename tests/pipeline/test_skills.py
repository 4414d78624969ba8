from pipeline.skills import accuracy_by_category, distinct_answers, profile, uneven


def item(cat: str, answer: str) -> dict:
    return {"category": cat, "answer": answer, "answer_type": "integer", "options": []}


def test_profile_tells_partly_learned_from_collapsed():
    # "counting": the model spreads its answers and is right 2 of 6; "text": always "3", right 2 of 6
    items = [item("counting", a) for a in "123456"] + [item("text", a) for a in "334567"]
    greedy = ["1", "2", "4", "5", "1", "2"] + ["3"] * 6
    sampled = [[g, g, "9", "9"] for g in greedy]
    p = profile(items, greedy, sampled)
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
    out_of_band = uneven(_profile(acc, distinct, band | {"arithmetic": 0.4}, majority))
    assert out_of_band["met"] == 0
    at_baseline = uneven(_profile(acc, distinct, band, majority | {"text": 0.2}))
    assert at_baseline["met"] == 0
    one_strong = uneven(_profile(acc | {"counting": 0.6}, distinct, band, majority))
    assert one_strong["strong"] == 1 and one_strong["met"] == 0


def test_accuracy_by_category():
    items = [item("a", "1"), item("a", "2"), item("b", "3")]
    assert accuracy_by_category(items, ["1", "1", "three"]) == {"overall": 2 / 3, "a": 0.5, "b": 1.0}


def test_distinct_answers_counts_parsed_answers_not_spellings():
    items = [item("a", "3")] * 4 + [item("b", "1")] * 2
    # "3" and " 3." parse to the same integer; "lots" is no answer at all
    assert distinct_answers(items, ["3", " 3.", "4", "lots", "1", "1"]) == {"a": 2, "b": 1}
