"""The statistics of a comparison: intervals that widen with few seeds, pairing that removes shared noise,
Wilson intervals."""

from __future__ import annotations

import math
import random

import pytest

from pipeline.stats.evidence import interval, paired_differences, t95, wilson


def test_t_quantiles_shrink_towards_the_normal_one():
    quantiles = [t95(df) for df in range(1, 40)]
    assert all(a >= b for a, b in zip(quantiles, quantiles[1:]))
    assert quantiles[0] > 12 and 1.96 < quantiles[-1] < 2.03
    assert t95(4) == pytest.approx(2.776445, abs=1e-6)  # scipy's quantile, not a table's nearest row
    assert t95(22) == pytest.approx(2.073873, abs=1e-6)
    with pytest.raises(ValueError, match="two values"):
        t95(0)


def test_an_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = random.Random(0)
    trials, covered = 2000, 0
    for _ in range(trials):
        span = interval([rng.gauss(0.5, 0.1) for _ in range(5)])
        covered += span.low <= 0.5 <= span.high
    assert 0.93 < covered / trials < 0.97


def test_one_value_has_no_spread_and_never_excludes_zero():
    one = interval([0.3])
    assert (one.low, one.high, one.n) == (0.3, 0.3, 1) and not one.excludes_zero()
    assert str(one) == "0.300 (n=1)"
    with pytest.raises(ValueError):
        interval([])


def test_pairing_removes_the_noise_both_arms_share():
    rng = random.Random(1)
    seed_effect = {s: rng.gauss(0, 0.1) for s in range(5)}
    control = {s: 0.4 + e for s, e in seed_effect.items()}
    treated = {s: 0.45 + e + rng.gauss(0, 0.005) for s, e in seed_effect.items()}
    diff = interval(paired_differences(treated, control))
    unpaired = interval(list(treated.values()))
    assert diff.excludes_zero() and diff.low > 0
    assert diff.half_width < unpaired.half_width / 5
    assert math.isclose(diff.mean, 0.05, abs_tol=0.01)
    assert paired_differences({0: 1.0}, {1: 1.0}) == []  # nothing in common: nothing to summarise
    assert paired_differences({"b": True, "a": False}, {"a": True, "b": True}) == [0.0, -1.0]  # after's order


def test_wilson_is_statsmodels_wilson_interval():
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(0, 4), (7, 10), (96, 100), (300, 310)]:
        assert wilson(k, n) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
