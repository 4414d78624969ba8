"""The forgetting benchmark's pieces: replay rows replace part of the targeted rows, and the change it reports."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.forgetting import change, settings, training_rows
from pipeline.training.params import TrainConfig


def test_replay_replaces_a_share_of_the_weak_rows_with_other_categories():
    rows = training_rows(["text", "grid"], ["colour", "table"], 10, 0.3, 0, 64, set())
    assert Counter(r["category"] for r in rows) == {"text": 4, "grid": 3, "colour": 2, "table": 1}
    plain = training_rows(["text", "grid"], ["colour", "table"], 10, 0.0, 0, 64, set())
    assert {r["category"] for r in plain} == {"text", "grid"} and len(plain) == 10
    with pytest.raises(ValueError, match="arithmetic"):
        training_rows(["arithmetic"], ["colour"], 4, 0.0, 0, 64, set())


def test_change_separates_the_weak_gain_from_what_the_others_lost():
    before = {"overall": 0.5, "text": 0.2, "arithmetic": 0.4, "colour": 0.9, "size": 0.6}
    after = {"overall": 0.55, "text": 0.5, "arithmetic": 0.4, "colour": 0.8, "size": 0.6}
    got = change(before, after, ["text", "arithmetic"])
    assert got["weak_gain"] == pytest.approx(0.15) and got["others_change"] == pytest.approx(-0.05)
    assert got["worst_other"] == pytest.approx(-0.1) and got["overall"] == pytest.approx(0.05)


def test_the_settings_differ_from_the_default_in_one_thing_each():
    train = TrainConfig()
    named = settings(train, 0.5)
    assert named["default"] == ({}, 0.0) and named["replay 0.5"] == ({}, 0.5)
    assert named["half steps"][0] == {"max_steps": train.max_steps // 2}
    assert named["lora r16"][0]["learning_rate"] == pytest.approx(train.learning_rate * 10)
