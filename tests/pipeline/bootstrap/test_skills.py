import pytest

from pipeline.answers.results import grade, grade_sampled
from pipeline.bootstrap.checks import category_checks, summary
from pipeline.bootstrap.skills import TOP_SHARE_MAX, profile, uneven, window_margins
from pipeline.diagnosis.shuffle import gaps


def item(i: int, cat: str, answer: str) -> dict:
    return {"item_id": f"i{i}", "category": cat, "image_type": "t", "question": "q", "answer": answer,
            "answer_type": "integer", "options": []}


def test_profile_measures_weak_categories_against_chance_on_balanced_labels():
    # "counting": balanced answers 1-4, the model right on 2 of 8 and spread; "text": always "3"
    items = [item(i, "counting" if i < 8 else "text", a) for i, a in enumerate("1234123412341234")]
    greedy = ["1", "3", "4", "2", "2", "1", "1", "4"] + ["3"] * 8
    sampled = [[g, g, "9", "9"] for g in greedy]
    p = profile(grade(items, greedy), grade_sampled(items, sampled, "item_id"))
    assert p["answer_space"] == {"counting": 4, "text": 4}
    assert p["probe_accuracy"]["counting"] == p["probe_accuracy"]["text"] == 0.25
    assert p["normalised_accuracy"] == {"counting": 0.0, "text": 0.0}  # both at chance
    assert p["top_answer_share"] == {"counting": 3 / 8, "text": 1.0}  # text has collapsed onto one answer
    assert p["answer_shares"]["counting"] == {"1": 3 / 8, "2": 2 / 8, "3": 1 / 8, "4": 2 / 8}
    assert p["answer_shares"]["text"] == {"1": 0.0, "2": 0.0, "3": 1.0, "4": 0.0}  # the answers it never gives
    assert p["zero_pass_share"]["counting"] == 6 / 8  # only the items it got right sample right
    assert p["valid_answer_rate"] == 1.0


def _profile(acc: dict, norm: dict, top: dict, zero: dict, k: int = 4) -> dict:
    overall = sum(acc.values()) / len(acc)
    return {"probe_accuracy": {"overall": overall} | acc, "normalised_accuracy": norm,
            "answer_space": dict.fromkeys(acc, k), "top_answer_share": top, "zero_pass_share": zero}


def test_uneven_needs_every_other_category_strong_and_every_weak_one_in_its_window():
    acc = {"colour": 0.9, "counting": 0.88, "text": 0.45, "size": 0.5}
    norm = {"text": 0.27, "size": 0.33}
    top, zero = dict.fromkeys(acc, 0.3), dict.fromkeys(norm, 0.1)
    good = uneven(_profile(acc, norm, top, zero), ["size", "text"])
    assert good == {"strong": 2, "weak": 2, "weak_in_window": 2, "met": 1}
    assert uneven(_profile(acc, norm, top | {"text": 0.5}, zero), ["size", "text"])["met"] == 0  # collapsed
    assert uneven(_profile(acc, norm, top, zero | {"size": 0.4}), ["size", "text"])["met"] == 0  # nothing to sharpen
    assert uneven(_profile(acc, norm | {"text": 0.5}, top, zero), ["size", "text"])["met"] == 0  # past the window
    one_short = uneven(_profile(acc | {"counting": 0.8}, norm, top, zero), ["size", "text"])
    assert one_short["strong"] == 1 and one_short["met"] == 0


def test_window_margins_measure_the_distance_inside_the_chance_normalised_window():
    prof = {"normalised_accuracy": {"a": 0.2, "b": 0.1, "c": 0.5, "d": 0.3}, "answer_space": dict.fromkeys("abcd", 2),
            "top_answer_share": {"a": 0.6, "b": 0.6, "c": 0.6, "d": TOP_SHARE_MAX / 2 + 0.01}}
    margins = window_margins(prof, list("abcd"))
    assert margins["a"] == pytest.approx(0.05) and margins["b"] == pytest.approx(-0.05)
    assert margins["c"] == pytest.approx(-0.05)
    assert margins["d"] == pytest.approx(-0.01)  # collapsed: the distance past the top share's ceiling, not a cliff
    spread = window_margins(prof | {"top_answer_share": {"d": TOP_SHARE_MAX / 2 - 0.1}}, ["d"])
    assert spread["d"] > margins["d"]  # fewer answers on the favourite one is progress the top-up can see


def test_world_checks_pass_a_latent_blind_spot_and_fail_a_prior():
    """A weak category answered from the image (right 70% with the true image, 50% with another) passes; one
    answered by always giving one of two answers fails above_prior, top_share and shuffle_gap."""
    n = 400
    items = [item(i, "size", "small" if i % 2 else "large") | {"answer_type": "word"} for i in range(n)]
    items += [item(n + i, "text", "one" if i % 2 else "two") | {"answer_type": "word"} for i in range(n)]
    items += [item(2 * n + i, "colour", "red") | {"answer_type": "word"} for i in range(n)]
    looked = [r["answer"] if i % 10 < 7 else ("large" if r["answer"] == "small" else "small")
              for i, r in enumerate(items[:n])]
    greedy = looked + ["one"] * n + ["red"] * (n - 20) + ["blue"] * 20
    shuffled = [r["answer"] if i % 2 else ("large" if r["answer"] == "small" else "small")
                for i, r in enumerate(items[:n])] + ["one"] * n + greedy[2 * n:]
    results = grade(items, greedy)
    sampled = grade_sampled(items[:2 * n], [[g, g, "x"] for g in greedy[:2 * n]], "item_id")
    cell_gaps = gaps(results, grade(items, shuffled))
    checks = category_checks(results, sampled, {k: g for k, g in cell_gaps.items() if k != "overall"},
                             ["size", "text"])
    assert checks["colour"]["pass.strong"] == 1
    size, text = checks["size"], checks["text"]
    assert size["k"] == 2 and size["normalised"] == pytest.approx(0.4)
    assert all(size[f"pass.{c}"] for c in ("above_prior", "top_share", "shuffle_gap", "window"))
    assert size["zero_pass"] == pytest.approx(0.3) and size["pass.zero_pass"] == 1  # 30% with none right: the limit
    assert not text["pass.above_prior"] and not text["pass.top_share"] and not text["pass.shuffle_gap"]
    flat = summary(checks)
    assert flat["checks.met"] == 0 and "text.above_prior" in flat["checks.failed"].split(",")
