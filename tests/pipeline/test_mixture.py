import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.config import MixtureConfig, ParamsError, parse_params
from pipeline.mixture import STRATEGIES, DPEStep, capped, largest_remainder, make_mixture


def cells(accs):
    return [{"key": f"c{i}/t", "shrunk_accuracy": a} for i, a in enumerate(accs)]


@pytest.mark.parametrize("acc,weight", [(0.0, 2.0), (0.69, 2.0), (0.70, 1.5), (0.74, 1.5), (0.75, 1.0),
                                        (0.84, 1.0), (0.85, 0.8), (0.89, 0.8), (0.90, 0.5), (1.0, 0.5)])
def test_reference_step_rule(acc, weight):
    assert DPEStep.step_weight(acc) == weight


def test_step_quotas_follow_weights():
    assert DPEStep().quotas(cells([0.5, 0.95]), budget=10) == {"c0/t": 8, "c1/t": 2}


def test_uniform_ignores_diagnosis():
    mix = make_mixture({"cells": cells([0.1, 0.99, 0.5])}, MixtureConfig(strategy="uniform", budget=9))
    assert mix["quotas"] == {"c0/t": 3, "c1/t": 3, "c2/t": 3}


def test_softmax_temperature_concentrates():
    accs = cells([0.2, 0.5, 0.9])
    hot = STRATEGIES["softmax_error"](temperature=10.0).shares(accs)
    cold = STRATEGIES["softmax_error"](temperature=0.05).shares(accs)
    assert max(hot.values()) - min(hot.values()) < 0.05  # near uniform
    assert cold["c0/t"] > 0.99


def test_dro_keeps_raising_a_persistent_weakness_and_starts_uniform():
    dro = STRATEGIES["dro"](step=2.0)
    accs = cells([0.2, 0.8, 0.8])
    first = dro.shares(accs, previous={})
    second = dro.shares(accs, previous=first)
    assert first["c0/t"] == pytest.approx(math.exp(1.6) / (math.exp(1.6) + 2 * math.exp(0.4)))
    assert second["c0/t"] > first["c0/t"] > 1 / 3
    fixed = dro.shares(cells([0.95, 0.2, 0.2]), previous=second)  # c0 got fixed: it loses budget
    assert fixed["c0/t"] < second["c0/t"]


def test_static_shares_by_cell_or_category():
    cs = [{"key": "colour/shapes", "shrunk_accuracy": 0.1}, {"key": "colour/objects", "shrunk_accuracy": 0.9},
          {"key": "ocr/document", "shrunk_accuracy": 0.5}]
    mix = make_mixture({"cells": cs}, MixtureConfig(strategy="static", budget=12,
                                                    static={"colour": 2, "ocr/document": 1}))
    assert mix["quotas"] == {"colour/shapes": 4, "colour/objects": 4, "ocr/document": 4}


def test_bad_mixture_params_fail_early():
    with pytest.raises(ParamsError, match="static"):
        parse_params({"mixture": {"strategy": "static"}})
    with pytest.raises(ParamsError, match="mixture.cap"):
        parse_params({"mixture": {"cap": 1.5}})
    with pytest.raises(ValueError, match="mixture.cap"):
        DPEStep().quotas(cells([0.1, 0.2]), 10, cap=0.3)
    with pytest.raises(ValueError, match="mixture.floor"):
        DPEStep().quotas(cells([0.5, 0.5]), budget=3, floor=2)


def test_cap_spreads_the_excess():
    assert capped({"a": 0.9, "b": 0.05, "c": 0.05}, 0.4) == pytest.approx({"a": 0.4, "b": 0.3, "c": 0.3})
    q = make_mixture({"cells": cells([0.0, 0.95, 0.95, 0.95])},
                     MixtureConfig(strategy="softmax_error", budget=100, cap=0.4))["quotas"]
    assert q["c0/t"] == 40 and sum(q.values()) == 100


accuracies = st.lists(st.floats(0, 1), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(accuracies, st.integers(0, 500), st.integers(0, 3), st.sampled_from(sorted(STRATEGIES)),
       st.floats(0.05, 1.0), st.floats(0.02, 5.0))
def test_quotas_sum_exactly_and_respect_floor_and_cap(accs, budget, floor, name, cap, temperature):
    assume(floor * len(accs) <= budget and cap * len(accs) >= 1)
    strategy = STRATEGIES[name](temperature=temperature, static={"c0": 1.0})
    q = strategy.quotas(cells(accs), budget, floor, cap)
    assert sum(q.values()) == budget
    assert min(q.values()) >= floor
    rest = budget - floor * len(accs)
    assert max(q.values()) <= floor + math.ceil(cap * rest + 1e-9) + 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=20), st.integers(1, 500),
       st.sampled_from(["dpe_step", "softmax_error"]), st.floats(0.05, 1.0))
def test_lower_accuracy_never_gets_a_smaller_share(accs, budget, name, cap):
    assume(cap * len(accs) >= 1)
    strategy = STRATEGIES[name](temperature=0.2)
    shares = strategy.shares(cells(accs), cap=cap)
    q = strategy.quotas(cells(accs), budget, cap=cap)
    for i, a in enumerate(accs):
        for j, b in enumerate(accs):
            if a < b:
                assert shares[f"c{i}/t"] >= shares[f"c{j}/t"] - 1e-12
                assert q[f"c{i}/t"] >= q[f"c{j}/t"] - 1  # integer rounding moves at most one unit


def test_largest_remainder_is_exact():
    assert sum(largest_remainder({"a": 0.5, "b": 0.25, "c": 0.25}, 7).values()) == 7
