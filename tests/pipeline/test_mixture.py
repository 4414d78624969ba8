import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.mixture import STRATEGIES, DPEStep, largest_remainder, make_quotas


def cells(accs):
    return [{"key": f"c{i}/t", "shrunk_accuracy": a} for i, a in enumerate(accs)]


@pytest.mark.parametrize("acc,weight", [(0.0, 2.0), (0.69, 2.0), (0.70, 1.5), (0.74, 1.5), (0.75, 1.0),
                                        (0.84, 1.0), (0.85, 0.8), (0.89, 0.8), (0.90, 0.5), (1.0, 0.5)])
def test_reference_step_rule(acc, weight):
    assert DPEStep.step(acc) == weight


def test_step_quotas_follow_weights():
    q = DPEStep().quotas(cells([0.5, 0.95]), budget=10)
    assert q == {"c0/t": 8, "c1/t": 2}


def test_uniform_ignores_diagnosis():
    q = make_quotas({"cells": cells([0.1, 0.99, 0.5])}, "uniform", 9, 0)
    assert q == {"c0/t": 3, "c1/t": 3, "c2/t": 3}


def test_floor_too_big_is_a_clear_error():
    with pytest.raises(ValueError, match="mixture.floor"):
        DPEStep().quotas(cells([0.5, 0.5]), budget=3, floor=2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20), st.integers(0, 500), st.integers(0, 3),
       st.sampled_from(sorted(STRATEGIES)))
def test_quotas_sum_exactly_and_respect_floor(accs, budget, floor, name):
    if floor * len(accs) > budget:
        return
    q = STRATEGIES[name]().quotas(cells(accs), budget, floor)
    assert sum(q.values()) == budget
    assert min(q.values()) >= floor


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=20), st.integers(1, 500))
def test_step_rule_never_gives_lower_accuracy_a_smaller_share(accs, budget):
    q = DPEStep().quotas(cells(accs), budget)
    w = DPEStep().weights(cells(accs))
    for i, a in enumerate(accs):
        for j, b in enumerate(accs):
            if a < b:
                assert w[f"c{i}/t"] >= w[f"c{j}/t"]
                assert q[f"c{i}/t"] >= q[f"c{j}/t"] - 1  # integer rounding moves at most one unit


def test_largest_remainder_is_exact():
    assert sum(largest_remainder({"a": 0.5, "b": 0.25, "c": 0.25}, 7).values()) == 7
