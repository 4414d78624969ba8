"""The report's progress section: overall accuracy per round with intervals, and each round's paired change."""

from __future__ import annotations

import json

import polars as pl
import pytest

from pipeline.audit.report import progress_section, round_points


def _graded(folder, correct: list[int]) -> None:
    folder.mkdir(parents=True)
    pl.DataFrame({"item_id": [f"i{i}" for i in range(len(correct))], "correct": [bool(c) for c in correct]}
                 ).write_parquet(folder / "evaluation.parquet")


def test_round_points_pair_each_round_with_the_previous_over_the_same_items(tmp_path):
    _graded(tmp_path / "r0", [1] * 50 + [0] * 50)
    _graded(tmp_path / "r1", [1] * 50 + [1] * 10 + [0] * 40)  # +10 items, nothing lost
    _graded(tmp_path / "r2", [0] * 5 + [1] * 45 + [1] * 10 + [0] * 40)  # 5 of r1's right answers lost
    points = round_points(["r0", "r1", "r2"], tmp_path)
    assert [p["accuracy"] for p in points] == [0.5, 0.6, 0.55]
    assert points[0]["change"] is None and points[0]["low"] < 0.5 < points[0]["high"]
    assert points[1]["change"] == pytest.approx(0.1) and points[1]["change_low"] > 0  # a real gain
    assert points[2]["change"] == pytest.approx(-0.05) and points[2]["change_high"] < 0


def test_progress_section_names_the_gate_decision(tmp_path):
    _graded(tmp_path / "rounds/r0", [1, 0, 1, 0])
    _graded(tmp_path / "rounds/r1", [1, 0, 1, 0])
    (tmp_path / "metrics/r1").mkdir(parents=True)
    (tmp_path / "metrics/r1/train.json").write_text(json.dumps({"gate.step": 0.0, "gate.accepted": 0}))
    html = progress_section(["r0", "r1"], tmp_path / "rounds", tmp_path / "metrics")
    assert "<svg" in html and "carried over" in html and "+0.000" in html


def test_the_quality_table_shows_agreement_diversity_and_label_precision(tmp_path):
    from pipeline.audit.report import quality_rows

    (tmp_path / "r1").mkdir()
    (tmp_path / "r1/generate.json").write_text(json.dumps({
        "agreement": 0.9, "diversity.sources": 1.0, "diversity.questions": 0.75, "diversity.clip_spread": 0.8,
        "label_precision.accepted": 0.92, "label_precision.accepted.low": 0.9, "label_precision.accepted.high": 0.94}))
    (tmp_path / "r1/audit.json").write_text(json.dumps({"review.all.precision": 0.5, "review.all.low": 0.1,
                                                         "review.all.high": 0.9, "review.all.n": 2}))
    (row,) = quality_rows(["r1"], tmp_path)
    assert row == ["r1", "0.900", "1.000", "0.750", "0.800", "0.920 [0.900, 0.940]", "—", "0.500 [0.100, 0.900] of 2"]
