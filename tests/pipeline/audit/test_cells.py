"""The audit's table: counts per cell, accuracy before and after paired over items, the control, verdicts."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.audit.cells import audit_cells, paired_items, sample_counts, verdict_counts
from pipeline.audit.summary import summary
from pipeline.storage import schemas


def results(correct: dict[str, int], n: int = 40) -> pa.Table:
    """An evaluation table: for each cell, the first ``correct[cell]`` of its ``n`` items right."""
    rows = [{"item_id": f"{cell}-{i}", "category": cell.split("/")[0], "image_type": cell.split("/")[1],
             "correct": i < k} for cell, k in correct.items() for i in range(n)]
    return pa.Table.from_pylist(rows, schemas.RESULTS)


def rows_of(table: pa.Table) -> dict[str, dict]:
    return {r["key"]: r for r in table.to_pylist()}


def counts() -> dict[str, dict]:
    attempts = pa.Table.from_pylist([{"attempt_id": f"a{i}", "cell": c} for i, c in
                                     enumerate(["text/document"] * 5 + ["size/shapes"] * 2)], schemas.ATTEMPTS)
    samples = pa.Table.from_pylist([{"sample_id": f"s{i}", "cell": c} for i, c in
                                    enumerate(["text/document"] * 4 + ["size/shapes"] * 2)], schemas.SAMPLES)
    trainset = pa.Table.from_pylist([{"sample_id": s, "cell": c} for s, c in
                                     (("s0", "text/document"), ("s2", "text/document"), ("s4", "size/shapes"))],
                                    schemas.TRAINSET)
    return sample_counts({"text/document": 4, "size/shapes": 2}, attempts, samples, trainset, ablated=["size"])


def test_sample_counts_follow_a_cell_from_quota_to_training_and_respect_an_ablation():
    got = counts()
    assert got["text/document"] == {"quota": 4, "attempts": 5, "accepted": 4, "kept": 2, "trained": 2,
                                    "trained_ids": ["s0", "s2"]}
    assert got["size/shapes"]["kept"] == 1 and got["size/shapes"]["trained"] == 0  # left out by train.ablate


def test_a_cell_is_fixed_only_when_it_beats_the_control_and_regressed_when_it_drops():
    before = results({"text/document": 10, "size/shapes": 30, "colour/shapes": 20})
    after = results({"text/document": 30, "size/shapes": 18, "colour/shapes": 21})
    control_after = results({"text/document": 12, "size/shapes": 30, "colour/shapes": 20})
    rerun = results({"text/document": 29, "size/shapes": 18, "colour/shapes": 21})  # the round, another seed
    table = audit_cells("r1", counts(), paired_items(before, after, before, control_after, reruns=[rerun]))
    rows = rows_of(table)
    text = rows["text/document"]
    assert (text["before"], text["after"], text["change"]) == (0.25, 0.75, 0.5)
    assert text["before_low"] < 0.25 < text["before_high"] and text["change_low"] > 0
    assert text["control_change"] == 0.05 and text["vs_control"] == 0.45 and text["verdict"] == "fixed"
    assert rows["size/shapes"]["verdict"] == "regressed" and rows["colour/shapes"]["verdict"] == "unchanged"
    assert rows["colour/shapes"]["quota"] == 0  # evaluated but not targeted: its side effects are audited too
    assert rows["text"]["level"] == "category" and rows["text"]["trained_ids"] == ["s0", "s2"]
    without = rows_of(audit_cells("r1", counts(), paired_items(before, after)))
    assert without["text/document"]["verdict"] == "improved" and without["text/document"]["vs_control"] is None
    assert verdict_counts(table)["cell.fixed"] == 1


def test_a_cell_that_recovers_only_part_of_an_earlier_loss_is_not_fixed():
    start = results({"text/document": 34})  # r0: 0.85
    before = results({"text/document": 10})  # an earlier round lost it
    after = results({"text/document": 30})  # this round brings it back to 0.75, beating the control
    control_after = results({"text/document": 12})
    reruns = [results({"text/document": 30})]
    rows = rows_of(audit_cells("r2", counts(), paired_items(before, after, before, control_after, start, reruns)))
    assert rows["text/document"]["start"] == 0.85 and rows["text/document"]["verdict"] == "improved"
    above = rows_of(audit_cells("r2", counts(), paired_items(before, after, before, control_after,
                                                             results({"text/document": 20}), reruns)))
    assert above["text/document"]["verdict"] == "fixed"


def test_a_margin_over_the_control_within_retraining_noise_fixes_nothing():
    before, after = results({"text/document": 10}), results({"text/document": 30})
    control_after = results({"text/document": 25})  # the control gains too: the margin is 0.125 (5 items)

    def text_row(*reruns):
        return rows_of(audit_cells("r1", counts(), paired_items(before, after, before, control_after,
                                                                reruns=list(reruns))))["text/document"]

    assert text_row()["noise"] is None and text_row()["verdict"] == "improved"  # noise not measured
    wild = text_row(results({"text/document": 20}))  # another seed lands at 0.50: two retrainings differ a lot
    assert wild["vs_control"] == 0.125 and wild["vs_control_bound"] > 0 and wild["noise"] > 0.125
    assert wild["verdict"] == "improved"
    # 95% quantile of two retrainings' difference: t(2 df) × √2 × the sd of 0.75, 0.725, 0.75
    near = text_row(results({"text/document": 29}), results({"text/document": 30}))
    assert near["noise"] == pytest.approx(2.919986 * 2**0.5 * 0.0144338, abs=1e-4)
    assert near["noise"] > near["vs_control_bound"] and near["verdict"] == "improved"
    steady = text_row(results({"text/document": 30}), results({"text/document": 30}))
    assert steady["noise"] == 0 and steady["vs_control_bound"] > 0 and steady["verdict"] == "fixed"


def test_the_summary_names_the_verdicts_and_the_control():
    before, after = results({"text/document": 10}), results({"text/document": 30})
    table = audit_cells("r1", counts(), paired_items(before, after))
    text = summary("r1", "r0", table, "no control arm", 6)
    assert "# Audit of round r1 (from r0)" in text and "improved: text" in text and "Control: no control arm" in text
    assert "| text/document | 4 | 5 | 4 | 2 | 2 | 0.250 | 0.750 | +0.500" in text
    assert "not measured, so no verdict is `fixed`; `dpe audit --ablate --round r1`" in text
    measured = summary("r1", "r0", audit_cells("r1", counts(), paired_items(before, after, reruns=[after])),
                       "no control arm", 6, reruns=1)
    assert "Retraining noise: 1 reseeded rerun(s)" in measured and "| ±0.000 | improved |" in measured
