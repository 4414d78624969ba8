import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.config.params import ParamsError, parse_params
from pipeline.config.registry import STRATEGIES
from pipeline.mixture.mixture import (
    DPEStep,
    capped,
    largest_remainder,
    make_mixture,
)
from pipeline.mixture.params import MixtureConfig
from pipeline.storage.schemas import Cell, Diagnosis


def accuracy(accs):
    return {f"c{i}/t": a for i, a in enumerate(accs)}


def diagnosis(accs: dict[str, float]) -> Diagnosis:
    """A diagnosis whose cells have the given shrunk accuracies: the only thing a mixture reads."""
    cells = [Cell(key=k, category=k.split("/")[0], image_type=k.split("/")[1], n=10, correct=0, accuracy=a,
                  shrunk_accuracy=a, interval=(0.0, 1.0), reliable=True, error_types={}, examples=[])
             for k, a in accs.items()]
    return Diagnosis(items=10, graded=10, judge_failures=0, accuracy=0.5, categories={}, cells=cells)


def mix(accs: dict[str, float], **cfg):
    return make_mixture(diagnosis(accs), MixtureConfig(**cfg))


@pytest.mark.parametrize("acc,weight", [(0.0, 2.0), (0.69, 2.0), (0.70, 1.5), (0.74, 1.5), (0.75, 1.0),
                                        (0.84, 1.0), (0.85, 0.8), (0.89, 0.8), (0.90, 0.5), (1.0, 0.5)])
def test_reference_step_rule(acc, weight):
    assert DPEStep.step_weight(acc) == weight


def test_step_quotas_follow_weights():
    assert mix(accuracy([0.5, 0.95]), budget=10, floor=0, strategy="dpe_step").quotas == {"c0/t": 8, "c1/t": 2}


def test_uniform_ignores_diagnosis():
    assert mix(accuracy([0.1, 0.99, 0.5]), strategy="uniform", budget=9).quotas == {"c0/t": 3, "c1/t": 3, "c2/t": 3}


def test_softmax_temperature_concentrates():
    accs = accuracy([0.2, 0.5, 0.9])
    hot = STRATEGIES.load("softmax_error")(temperature=10.0).shares(accs)
    cold = STRATEGIES.load("softmax_error")(temperature=0.05).shares(accs)
    assert max(hot.values()) - min(hot.values()) < 0.05  # near uniform
    assert cold["c0/t"] > 0.99


def test_dro_keeps_raising_a_persistent_weakness_and_starts_uniform():
    dro = STRATEGIES.load("dro")(step=2.0)
    accs = accuracy([0.2, 0.8, 0.8])
    first = dro.shares(accs, previous={})
    second = dro.shares(accs, previous=first)
    assert first["c0/t"] == pytest.approx(math.exp(1.6) / (math.exp(1.6) + 2 * math.exp(0.4)))
    assert second["c0/t"] > first["c0/t"] > 1 / 3
    fixed = dro.shares(accuracy([0.95, 0.2, 0.2]), previous=second)  # c0 got fixed: it loses budget
    assert fixed["c0/t"] < second["c0/t"]
    # the stage feeds the previous round's shares through make_mixture
    assert make_mixture(diagnosis(accs), MixtureConfig(strategy="dro", budget=100), first).shares["c0/t"] == \
        pytest.approx(second["c0/t"], abs=1e-6)


def test_static_shares_by_cell_or_category():
    accs = {"colour/shapes": 0.1, "colour/objects": 0.9, "ocr/document": 0.5}
    quotas = mix(accs, strategy="static", budget=12, floor=0, static={"colour": 2, "ocr/document": 1}).quotas
    assert quotas == {"colour/shapes": 4, "colour/objects": 4, "ocr/document": 4}


def test_bad_mixture_params_fail_early():
    with pytest.raises(ParamsError, match="static"):
        parse_params({"mixture": {"strategy": "static"}})
    with pytest.raises(ParamsError, match="mixture.cap"):
        parse_params({"mixture": {"cap": 1.5}})
    with pytest.raises(ValueError, match="mixture.cap"):
        mix(accuracy([0.1, 0.2]), budget=10, cap=0.3)
    with pytest.raises(ValueError, match="mixture.floor"):
        mix(accuracy([0.5, 0.5]), budget=3, floor=2)


def test_cap_spreads_the_excess():
    assert capped({"a": 0.9, "b": 0.05, "c": 0.05}, 0.4) == pytest.approx({"a": 0.4, "b": 0.3, "c": 0.3})
    q = mix(accuracy([0.0, 0.95, 0.95, 0.95]), strategy="softmax_error", budget=100, floor=0, cap=0.4).quotas
    assert q["c0/t"] == 40 and sum(q.values()) == 100


accuracies = st.lists(st.floats(0, 1), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(accuracies, st.integers(1, 500), st.integers(0, 3), st.sampled_from(sorted(STRATEGIES)),
       st.floats(0.05, 1.0), st.floats(0.02, 5.0))
def test_quotas_sum_exactly_and_respect_floor_and_cap(accs, budget, floor, name, cap, temperature):
    """Through make_mixture, the function the mixture stage calls."""
    assume(floor * len(accs) <= budget and cap * len(accs) >= 1)
    q = mix(accuracy(accs), strategy=name, budget=budget, floor=floor, cap=cap, temperature=temperature,
            static={"c0": 1.0}).quotas
    assert sum(q.values()) == budget
    assert min(q.values()) >= floor
    rest = budget - floor * len(accs)
    assert max(q.values()) <= floor + math.ceil(cap * rest + 1e-9) + 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=20), st.integers(1, 500),
       st.sampled_from(["dpe_step", "softmax_error"]), st.floats(0.05, 1.0))
def test_lower_accuracy_never_gets_a_smaller_share(accs, budget, name, cap):
    assume(cap * len(accs) >= 1)
    mixture = mix(accuracy(accs), strategy=name, budget=budget, floor=0, cap=cap, temperature=0.2)
    for i, a in enumerate(accs):
        for j, b in enumerate(accs):
            if a < b:
                # shares are stored to 6 decimals
                assert mixture.shares[f"c{i}/t"] >= mixture.shares[f"c{j}/t"] - 1e-6
                assert mixture.quotas[f"c{i}/t"] >= mixture.quotas[f"c{j}/t"] - 1  # rounding moves one unit at most


def test_largest_remainder_is_exact():
    assert sum(largest_remainder({"a": 0.5, "b": 0.25, "c": 0.25}, 7).values()) == 7


def test_excluded_cells_get_nothing_and_the_budget_goes_to_the_rest():
    diag = diagnosis({"arithmetic/shapes": 0.2, "arithmetic/objects": 0.3, "text/document": 0.3, "colour/shapes": 0.9})
    mix = make_mixture(diag, MixtureConfig(strategy="dro", budget=20, floor=1, exclude=["arithmetic"]))
    assert mix.quotas["arithmetic/shapes"] == mix.quotas["arithmetic/objects"] == 0
    assert mix.quotas["text/document"] + mix.quotas["colour/shapes"] == 20 and mix.quotas["text/document"] > 10
    again = make_mixture(diag, MixtureConfig(strategy="dro", budget=20), previous=mix.shares)
    assert again.quotas["arithmetic/shapes"] > 1  # included again: a zero share from before does not stick
    with pytest.raises(ValueError, match="leaves no cell"):
        make_mixture(diag, MixtureConfig(exclude=["arithmetic", "text", "colour"]))
