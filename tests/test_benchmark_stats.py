"""The statistics only the benchmarks use: the samples a curve needs to reach a level, and the corrections for
several comparisons at once."""

from __future__ import annotations

import pytest

from benchmarks.stats import bonferroni, holm, samples_to_reach


def test_samples_to_reach_interpolates_and_says_never():
    curve = [(0, 0.30), (40, 0.34), (80, 0.42)]
    assert samples_to_reach(curve, 0.38) == pytest.approx(60.0)
    assert samples_to_reach(curve, 0.34) == pytest.approx(40.0)
    assert samples_to_reach(curve, 0.43) is None
    dip = [(0, 0.30), (40, 0.20), (80, 0.40)]
    assert samples_to_reach(dip, 0.35) == pytest.approx(80 - 40 * 0.05 / 0.20)


def test_holm_steps_down_and_stops_at_the_first_failure():
    """Holm as statsmodels computes it: 0.01 is rejected (3 × 0.01 ≤ 0.05), 0.03 is not (2 × 0.03 > 0.05), and
    the procedure stops there, so 0.04 is not rejected either, though it is below the level alpha / 1 that a
    per-rank level (the helper this replaced) would have given the last test."""
    from statsmodels.stats.multitest import multipletests

    pvalues = [0.01, 0.04, 0.03]
    assert holm(pvalues) == pytest.approx(list(multipletests(pvalues, method="holm")[1]), abs=1e-6)
    assert [p <= 0.05 for p in holm(pvalues)] == [True, False, False]
    assert holm([]) == [] and bonferroni(0.05, 4) == 0.0125
