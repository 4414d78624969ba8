"""The data-efficiency benchmark's arithmetic: the overrides each arm runs with, and a report that tells a
winning arm from a losing one (on made-up runs whose answer is known)."""

from __future__ import annotations

import pytest

from benchmarks.data_efficiency import current_runs, curve, markdown, overrides, run_key, summarize, weak_categories

BASE = {"overall": 0.5, "text": 0.3, "arithmetic": 0.3, "colour": 0.9}
WEAK = ["arithmetic", "text"]


def test_overrides_append_rounds_hold_the_trained_budget_and_give_static_the_weak_categories():
    sets = overrides("trained", "static", 3, 3, 32, WEAK, {"r1", "r2"})
    assert "mixture.strategy=static" in sets and "round_seed=3" in sets
    assert "++rounds.r3={prev: r2}" in sets and not any("rounds.r1" in s for s in sets)
    assert "++mixture.static={arithmetic: 0.5, text: 0.5}" in sets
    assert {"filter.min_keep=32", "filter.max_keep=32"} <= set(sets)
    generated = overrides("generated", "uniform", 0, 2, 32, WEAK, {"r1", "r2"})
    assert generated == ["mixture.strategy=uniform", "round_seed=0"]


def test_weak_categories_come_from_the_bootstrap_profile():
    metrics = {"vlm.probe_accuracy.overall": 0.3, "vlm.probe_accuracy.text": 0.31,
               "vlm.probe_accuracy.colour": 0.9, "vlm.probe_accuracy.size": 0.91, "vlm.distinct_answers.text": 4}
    assert weak_categories(metrics) == ["text"]  # below the strong line
    checked = metrics | {"vlm.checks.size.normalised": 0.3, "vlm.checks.text.normalised": 0.2}
    assert weak_categories(checked) == ["size", "text"]  # the world's own weak categories, checked at r0


def fake_run(arm: str, seed: int, lift: float, noise: float, kept: int = 40) -> dict:
    rounds = {}
    for i in (1, 2, 3):
        weak = 0.3 + lift * i + noise
        rounds[f"r{i}"] = {"accuracy": {"overall": 0.5 + noise, "text": weak, "arithmetic": weak, "colour": 0.9},
                           "weak_quota_share": 0.8 if arm != "uniform" else 0.2, "generated": 64,
                           "generated_by_category": {"text": 26, "arithmetic": 26, "colour": 12},
                           "kept": kept, "kept_by_category": {"text": 20, "arithmetic": 15, "colour": 5}}
    return {"budget": "generated", "arm": arm, "seed": seed, "seconds": 60.0, "rounds": rounds}


def test_a_targeted_arm_that_lifts_the_weak_categories_faster_wins_with_a_paired_interval():
    noise = {0: 0.0, 1: 0.03, 2: -0.02}
    runs = {f"{a}-{s}": fake_run(a, s, lift, n) for a, lift in (("uniform", 0.01), ("dpe_step", 0.04))
            for s, n in noise.items()}
    out = summarize(runs, BASE, WEAK, "generated")
    dpe, uniform = out["dpe_step"], out["uniform"]
    assert uniform["vs_control_weak"] is None
    assert dpe["vs_control_weak"].mean == pytest.approx(0.09) and dpe["vs_control_weak"].excludes_zero()
    assert dpe["weak"].half_width > dpe["vs_control_weak"].half_width  # pairing removes the shared seed noise
    # uniform ends at 0.3333 (its seeds mean); dpe_step reaches 0.3433 after its first 64 samples
    assert dpe["samples_to_control_final"] == pytest.approx(64 * 10 / 13)  # (1/30) / (0.04 + 1/300) of 64
    assert dpe["samples_ratio"] == pytest.approx(dpe["samples_to_control_final"] / 192)
    assert dpe["weak_quota_share"] == pytest.approx(0.8) and dpe["weak_survival"] == pytest.approx(35 / 52)


def test_an_arm_that_never_reaches_the_control_says_so():
    runs = {f"{a}-{s}": fake_run(a, s, lift, 0.0) for a, lift in (("uniform", 0.03), ("dro", -0.01)) for s in (0, 1)}
    out = summarize(runs, BASE, WEAK, "generated")
    assert out["dro"]["samples_to_control_final"] is None and out["dro"]["vs_control_weak"].mean < 0


def test_a_control_that_ends_below_r0_sets_no_level_to_reach():
    runs = {f"{a}-{s}": fake_run(a, s, lift, -0.2) for a, lift in (("uniform", 0.01), ("static", 0.05)) for s in (0, 1)}
    out = summarize(runs, BASE, WEAK, "generated")
    assert out["static"]["samples_to_control_final"] is None and not out["static"]["control_gained"]
    report = markdown({"generated": out}, BASE, WEAK, {"r0": "abc", "rounds": 3})
    assert "uniform ends at or below r0" in report and "0 (0.00)" not in report


def test_the_trained_budget_counts_kept_samples():
    run = fake_run("uniform", 0, 0.01, 0.0, kept=32)
    assert [x for x, _ in curve(run, BASE, WEAK, "trained")] == [0, 32, 64, 96]
    assert [x for x, _ in curve(run, BASE, WEAK, "generated")] == [0, 64, 128, 192]


def test_runs_of_another_r0_never_mix_into_the_report():
    sets = overrides("generated", "uniform", 0, 2, 32, WEAK, {"r1", "r2"})
    rounds = {"r1": {}, "r2": {}}
    store = {"r0": "new", "rounds": 2, "runs": {
        "kept": {"overrides": sets, "key": run_key("new", sets), "rounds": rounds},
        "old r0": {"overrides": sets, "key": run_key("old", sets), "rounds": rounds},
        "unfinished": {"overrides": sets, "key": run_key("new", sets), "rounds": {"r1": {}}}}}
    assert list(current_runs(store)) == ["kept"]


def test_the_dev_set_table_pairs_every_arm_with_the_control():
    runs = {f"{a}-{s}": fake_run(a, s, 0.01, 0.0) for a in ("uniform", "dro") for s in (0, 1, 2)}
    for name, run in runs.items():
        lift = 0.1 if run["arm"] == "dro" else 0.0
        run["dev"] = {"overall": 0.5, "text": 0.3 + lift + 0.01 * run["seed"], "arithmetic": 0.3, "colour": 0.9}
    out = summarize(runs, BASE, WEAK, "generated")
    assert out["dro"]["dev"]["vs_control_weak"].mean == pytest.approx(0.05)
    assert out["dro"]["dev"]["vs_control_weak"].excludes_zero() and out["uniform"]["dev"]["vs_control_weak"] is None
    dev_base = {"overall": 0.45, "text": 0.2, "arithmetic": 0.3, "colour": 0.9}
    report = markdown({"generated": out}, BASE, WEAK, {"r0": "abc", "rounds": 3, "dev_base": dev_base,
                                                       "dev_items": 624})
    assert "dev set (`probe.source`, 624 items" in report and "dev weak (r0: 0.250)" in report
    del runs["dro-1"]["dev"]  # an arm not yet graded on the dev set gets no row
    assert summarize(runs, BASE, WEAK, "generated")["dro"]["dev"] is None
