"""Ablation arithmetic: what an experiment must share to be reused, and when an effect counts."""

from __future__ import annotations

import copy

from pipeline.audit.ablation import attribution, mean_run, retraining_noise, stage_inputs


def lock(trainset_md5: str, ablate: dict, reseed: int = 0) -> dict:
    train = {"deps": [{"path": "data/rounds/r1/trainset.parquet", "md5": trainset_md5},
                      {"path": "data/rounds/r0/model", "md5": "m0"}],
             "params": {"params.yaml": {"seed": 0, "train": {"max_steps": 60, "ablate": ablate, "reseed": reseed}}}}
    evaluate = {"deps": [{"path": "data/rounds/r1/model", "md5": "whatever it trained"},
                         {"path": "pipeline/diagnosis", "md5": "code"}], "params": {"params.yaml": {}}}
    return {"stages": {"train@r1": train, "evaluate@r1": evaluate}}


def test_an_experiment_is_reused_only_when_it_started_from_the_same_inputs():
    here = stage_inputs(lock("t1", {}), "r1")
    assert stage_inputs(lock("t1", {"r1": ["text/document"]}, reseed=2), "r1") == here  # what the run sets
    assert stage_inputs(lock("t2", {}), "r1") != here  # another training set
    other = copy.deepcopy(lock("t1", {}))
    other["stages"]["train@r1"]["params"]["params.yaml"]["train"]["max_steps"] = 30
    assert stage_inputs(other, "r1") != here


def run(right: int) -> dict:
    """60 text items, the first ``right`` of them answered correctly."""
    return {f"i{k}": ("text", k < right) for k in range(60)}


def test_an_effect_counts_only_beyond_the_items_noise_and_the_retraining_noise():
    steady = [run(30), run(31), run(29)]  # three full-data runs a seed apart
    quiet = attribution(mean_run(steady), run(15), retraining_noise(steady))
    assert quiet["text"]["effect"] == 0.25 and quiet["text"]["excludes_zero"] and quiet["text"]["significant"]
    shaky = [run(30), run(50), run(10)]  # retraining alone moves text by a third
    noisy = attribution(mean_run(shaky), run(15), retraining_noise(shaky))
    assert noisy["text"]["excludes_zero"] and not noisy["text"]["significant"]
    assert retraining_noise([run(30)]) == {}  # one run measures no noise
