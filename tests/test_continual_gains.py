"""The continual-gains benchmark's report on made-up runs whose answer is known: an arm that gains every round
shows it, with an interval over seeds (Student's t) and items; a category that loses is caught; the default's lead
over the controls is Holm-corrected."""

from __future__ import annotations

import random
from pathlib import Path

from benchmarks.answer_drift import answer_profile, mean_profile
from benchmarks.continual_gains import arm_sets, report


def _bits(p: float, n: int, rng: random.Random) -> str:
    return "".join("1" if rng.random() < p else "0" for _ in range(n))


def _store(gain: dict[str, float], seeds: int = 5) -> dict:
    """Two categories of 200 items each; arm -> per-round accuracy rise of category a (b stays at 0.5)."""
    rng = random.Random(0)
    cats = ["a"] * 200 + ["b"] * 200
    store = {"r0": "m0", "rounds": 2, "runs": {}, "items": {"test": {"categories": cats, "cells": cats}},
             "grades": {"test": {"m0": _bits(0.5, 400, rng)}}}
    for arm, g in gain.items():
        for s in range(seeds):
            rounds = {}
            for k in (1, 2):
                md5 = f"{arm}-{s}-{k}"
                a = _bits(0.5 + g * k, 200, rng)
                b = _bits(0.5 - (0.2 * k if arm == "forgets" else 0.0), 200, rng)
                store["grades"]["test"][md5] = a + b
                rounds[f"r{k}"] = {"model": md5, "gate_step": 1.0}
            store["runs"][f"{arm}-{s}"] = {"arm": arm, "seed": s, "rounds": rounds}
    return store


def test_the_report_shows_a_gain_and_its_interval_and_catches_a_losing_category():
    text = report(_store({"default": 0.1, "uniform": 0.0, "forgets": 0.1}), "test", ["default", "uniform", "forgets"])
    row = next(line for line in text.splitlines() if line.startswith("| default |"))
    gain = float(row.split("|")[-3].split()[0])
    low = float(row.split("[")[1].split(",")[0])
    assert 0.07 < gain < 0.13 and low > 0  # +0.1 overall (a rises 0.2 on half the items)
    cat_row = next(line for line in text.splitlines() if line.startswith("| forgets |") and "≥" in line)
    b_bound = float(cat_row.split("|")[3].split("≥")[1].split()[0].strip(" )"))
    assert b_bound < -0.3 and "loses?" in cat_row.split("|")[3]  # b fell 0.4: far below the −0.03 margin
    holm = next(line for line in text.splitlines() if "default − uniform" in line)
    assert float(holm.split("lower bound")[1].split()[0].strip(",")) > 0


def test_a_screen_compares_the_arms_it_names_with_holm_over_them():
    store = _store({"default": 0.0, "lever": 0.1, "other": 0.0, "uniform": 0.0})
    text = report(store, "test", ["default", "lever", "other", "uniform"], "lever", ["default", "other"])
    compared = [line for line in text.splitlines() if line.startswith("* lever − ")]
    assert [line.split(":")[0] for line in compared] == ["* lever − default", "* lever − other"]
    assert "Holm over ['default', 'other']" in text and "lever − uniform" not in text
    assert all(float(line.split("lower bound")[1].split()[0].strip(",")) > 0 for line in compared)


def test_a_set_the_runs_were_not_graded_on_is_named_with_those_they_were():
    import pytest

    with pytest.raises(SystemExit, match="--set choose: these runs were not graded on it .graded: test."):
        report(_store({"default": 0.1}), "choose", ["default"])


def test_an_arm_that_builds_its_own_base_is_measured_from_its_own_r0():
    store = _store({"default": 0.0})
    rng = random.Random(1)
    rounds = {"r0": {"model": "big0"}}
    store["grades"]["test"]["big0"] = _bits(0.8, 400, rng)
    for k in (1, 2):
        store["grades"]["test"][f"big{k}"] = _bits(0.8, 400, rng)
        rounds[f"r{k}"] = {"model": f"big{k}", "gate_step": 1.0}
    for s in range(5):
        store["runs"][f"bigbase-{s}"] = {"arm": "bigbase", "seed": s, "rounds": rounds}
    row = next(line for line in report(store, "test", ["bigbase"]).splitlines() if line.startswith("| bigbase |"))
    cells = [c.strip() for c in row.split("|")]
    assert 0.75 < float(cells[3]) < 0.85  # r0 is its own base at 0.8, not the shared one at 0.5
    assert abs(float(cells[6].split()[0])) < 0.05  # and r2 − r0 is measured from it: level


def test_static_arm_takes_r0s_weak_categories(tmp_path, monkeypatch):
    monkeypatch.setattr("benchmarks.continual_gains.weak_categories", lambda: ["arithmetic", "text"])
    assert arm_sets("static", {}) == ["mixture.strategy=static", "++mixture.static={arithmetic: 0.5, text: 0.5}"]
    assert arm_sets("lever", {"lever": ["train.beta=0.5"]}) == ["train.beta=0.5"]
    assert arm_sets("uniform", {}) == ["mixture.strategy=uniform"]


def test_answer_drift_shows_a_category_collapsing_onto_its_prior_answer():
    labels = ["1", "2", "3", "4"] * 5
    spread = [{"category": "text", "parsed": a, "reference": a, "correct": True} for a in labels]
    collapsed = [{"category": "text", "parsed": "4", "reference": a, "correct": a == "4"} for a in labels]
    before, after = answer_profile(spread)["text"], answer_profile(collapsed)["text"]
    assert (before["top_share"], before["label_top_share"], before["accuracy"]) == (0.25, 0.25, 1.0)
    assert (after["top"], after["top_share"], after["accuracy"]) == ("4", 1.0, 0.25)
    both = mean_profile([answer_profile(spread), answer_profile(collapsed)])["text"]
    assert both["top_share"] == 0.625 and both["tops"].endswith("/4")


def test_blind_arm_is_a_valid_ungated_blind_run():
    import yaml

    from pipeline.config.params import Params

    raw = yaml.safe_load(Path("params.yaml").read_text())
    sets = arm_sets("blind", {})
    for key, value in (s.split("=") for s in sets):
        *parents, leaf = key.split(".")
        node = raw
        for p in parents:
            node = node[p]
        node[leaf] = yaml.safe_load(value)
    params = Params.model_validate(raw)
    assert params.train.blind and not params.train.gate.enabled


def test_runs_accumulate_one_file_per_arm_and_seed_and_stop_within_the_budget(tmp_path, monkeypatch):
    """Each finished (arm, seed) is its own file under the key; a second call runs only what is missing; a model
    graded once is not graded again; the budget stops before a run that does not fit; the report pools the key."""
    import benchmarks.continual_gains as cg

    clock = {"t": 0.0}
    runs, graded = [], []
    cats = ["a"] * 20 + ["b"] * 20

    def fake_run(name, sets, seed, rounds, logs):  # the dvc exp run of a whole arm: minutes of CPU, not a unit test
        runs.append(name)
        clock["t"] += 100
        return {"commit": f"c-{name}", "seconds": 100,
                "rounds": {"r0": {"model": "m0"}, "r1": {"model": f"m-{name}", "gate_step": 1.0}}}

    def fake_grade(rev, round_name, which):
        graded.append((rev, round_name, which))
        return "1" * 20 + "0" * 20 if round_name == "r0" else "1" * 30 + "0" * 10

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cg, "run_one", fake_run)
    monkeypatch.setattr(cg, "grade_round", fake_grade)
    monkeypatch.setattr(cg, "store_key", lambda rounds, sets: "k1")
    monkeypatch.setattr(cg, "model_md5", lambda rev, r: "m0")
    monkeypatch.setattr(cg, "items_meta", lambda which: {"categories": cats, "cells": cats})
    monkeypatch.setattr(cg, "set_key", lambda which: which)
    monkeypatch.setattr(cg.time, "perf_counter", lambda: clock["t"])
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    folder = cg.run_units(["default"], [0, 1, 2], 1, ["choose"], {}, [], 250 / 60, tmp_path / "logs")
    assert sorted(p.name for p in folder.glob("*-s*.json")) == ["default-s0.json", "default-s1.json"]
    assert [g for g in graded if g[1] == "r0"] == [("c-cg-default-s0", "r0", "choose")]  # r0 graded once
    cg.run_units(["default"], [0, 1, 2], 1, ["choose"], {}, [], 0, tmp_path / "logs")
    assert runs == ["cg-default-s0", "cg-default-s1", "cg-default-s2"]  # the missing one only
    store = cg.load_units(folder)
    assert len(store["runs"]) == 3 and store["grades"]["choose"]["m0"] == "1" * 20 + "0" * 20
    row = next(line for line in report(store, "choose", ["default"]).splitlines() if line.startswith("| default |"))
    assert row.split("|")[2].strip() == "3" and "+0.250" in row
