"""The world's agents make mistakes on purpose (pipeline/world/mistakes.py): plausible wrong answers, correlated
between writer and validator, off-cell questions; each sample says whether its label is right. At rates 0 the
world stays a perfect oracle."""

import random

from pipeline.generation.attempt import RoundInputs
from pipeline.generation.generate import generate
from pipeline.generation.params import DEFAULT_EDITS, WorldErrorsConfig
from pipeline.pool.search import PoolSearch
from pipeline.world.agents import WorldBackend
from pipeline.world.mistakes import wrong_answer

QUOTAS = {"counting/document": 4, "grid/table": 4, "chart/bar_chart": 4, "colour/objects": 4}


def run(world_pool, validators=1, **errors):
    out, clip_dir, pool_manifest, vectors = world_pool
    backend = WorldBackend(out / "scenes.parquet", list(DEFAULT_EDITS), WorldErrorsConfig(**errors), seed=5)
    inputs = RoundInputs(backend=backend, search=PoolSearch(vectors, str(clip_dir)), pool_manifest=pool_manifest,
                         brief="", diagnosis_hash="d" * 16, round_name="r1", seed=7, top_k=8, validators=validators)
    return generate(QUOTAS, inputs, max_attempts_per_sample=6)


def test_wrong_answers_are_plausible():
    rng = random.Random(0)
    scene = {"values": [3, 7, 4], "items": [{"colour": "red"}, {"colour": "blue"}]}
    assert {wrong_answer("5", "integer", [], {}, rng) for _ in range(40)} == {"4", "6"}  # off by one
    assert wrong_answer("0", "integer", [], {}, rng) == "1"  # never a negative count
    assert {wrong_answer("two", "word", [], {}, rng) for _ in range(40)} == {"one", "three"}  # in words too
    assert wrong_answer("left", "word", [], scene, rng) == "right" and wrong_answer("large", "word", [], {}, rng) == "small"
    assert wrong_answer("red", "word", [], scene, rng) == "blue"  # a colour from the same picture
    assert wrong_answer("B", "choice", ["x", "y", "z"], {}, rng) in {"A", "C"}


def test_at_rates_zero_the_world_is_an_oracle_and_says_so(world_pool):
    samples, _, counts = run(world_pool)
    clean, _, _ = run(world_pool, writer=0.0, validator=0.0, shared=0.0, off_cell=0.0)
    assert [s.sample_id for s in samples] == [s.sample_id for s in clean] and len(samples) == 16
    assert all(s.label_correct is True and s.validator_answer == s.answer for s in samples)
    assert "rejected.validator_disagrees" not in counts


def test_the_validator_catches_independent_mistakes_but_not_shared_ones(world_pool):
    caught, attempts, counts = run(world_pool, writer=1.0)  # every draft wrong, the validator never
    assert not caught and counts["rejected.validator_disagrees"] > len(attempts) // 3
    shared, _, _ = run(world_pool, writer=1.0, shared=1.0)  # the validator repeats the writer's mistake
    assert len(shared) == 16 and not any(s.label_correct for s in shared)
    assert all(s.validator_answer == s.answer for s in shared)
    noisy, _, counts = run(world_pool, writer=0.3, validator=0.2, shared=0.5, off_cell=0.2)
    again, _, _ = run(world_pool, writer=0.3, validator=0.2, shared=0.5, off_cell=0.2)
    assert [(s.sample_id, s.answer) for s in noisy] == [(s.sample_id, s.answer) for s in again]  # reproducible
    assert counts["rejected.validator_disagrees"] > 0 and counts["rejected.off_cell"] > 0
    assert 0 < sum(s.label_correct for s in noisy) < len(noisy)


def test_an_off_cell_question_is_caught_unless_the_validator_errs(world_pool):
    samples, _, counts = run(world_pool, off_cell=1.0)
    assert {s.cell for s in samples} <= {"chart/bar_chart"}  # a bar chart supports no other skill: on cell
    assert counts["rejected.off_cell"] > 0 and all(s.label_correct for s in samples)
    passed, _, _ = run(world_pool, off_cell=1.0, validator=0.5)  # the cell check missed, the answer right
    assert any(s.label_correct is False and s.cell != "chart/bar_chart" for s in passed)


def test_the_rounds_metrics_measure_agreement_diversity_and_label_precision(world_pool):
    _, _, clean = run(world_pool)
    assert clean["agreement"] == 1.0 and clean["label_precision.accepted"] == 1.0
    assert clean["label_precision.accepted.n"] == 16 and clean["diversity.sources"] == 1.0
    assert 0 < clean["diversity.clip_spread"] < 2 and clean["entropy.counting/document"] >= 0
    noisy, _, counts = run(world_pool, writer=0.3, validator=0.2, shared=0.5, off_cell=0.2)
    right = sum(s.label_correct for s in noisy)
    assert counts["label_precision.accepted"] == right / len(noisy) < 1.0
    assert counts["label_precision.accepted.low"] < right / len(noisy) < counts["label_precision.accepted.high"]
    assert counts["agreement"] < 1.0


def test_a_second_validator_stops_mistakes_the_first_repeated(world_pool):
    one, _, _ = run(world_pool, writer=1.0, shared=0.5)
    two, _, counts = run(world_pool, validators=2, writer=1.0, shared=0.5)
    assert len(two) < len(one) and not any(s.label_correct for s in one + two)  # every draft was wrong
    assert counts["calls.validator"] >= 2 * len(two) > 0  # each accepted draft passed two calls
