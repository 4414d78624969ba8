"""The statistics only the benchmarks use: samples to reach a level, multiple-comparison corrections, and the
interval over seeds and items of a seeds × items matrix of paired scores (``tests/test_calibration.py``
measures its coverage)."""

from __future__ import annotations

import math
from dataclasses import dataclass


def samples_to_reach(curve: list[tuple[float, float]], level: float) -> float | None:
    """The cumulative sample count at which a curve of (samples, accuracy) points, in order, first reaches
    ``level``, interpolating linearly between points; None when it never does.

    >>> samples_to_reach([(0, 0.2), (64, 0.3), (128, 0.5)], 0.4)
    96.0
    >>> samples_to_reach([(0, 0.5)], 0.4), samples_to_reach([(0, 0.2), (64, 0.3)], 0.4)
    (0.0, None)
    """
    if curve and curve[0][1] >= level:
        return float(curve[0][0])
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if y1 >= level > y0:
            return x0 + (level - y0) / (y1 - y0) * (x1 - x0)
    return None


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values of one family (``statsmodels``): a test is rejected at ``alpha`` when
    its adjusted value is at most ``alpha``, which stops at the first test in order that fails.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    if not pvalues:
        return []
    from statsmodels.stats.multitest import multipletests

    return [round(float(p), 6) for p in multipletests(pvalues, method="holm")[1]]


def bonferroni(alpha: float, tests: int) -> float:
    """The per-test level of ``tests`` simultaneous one-sided bounds at family level ``alpha``: a bound drawn at
    it is a Bonferroni bound (valid for all at once; no step-down, so no ordering to respect).

    >>> bonferroni(0.05, 4)
    0.0125
    """
    return alpha / max(1, tests)


@dataclass(frozen=True)
class SeedsItems:
    """The mean of a seeds × items matrix of paired scores, with the two parts of its variance.

    ``var_seeds`` is the spread of the per-seed means over ``seeds`` (what a new seed draw moves: seed effects and
    seed × item interaction), with ``seeds − 1`` degrees of freedom; ``var_items`` the spread of the per-item
    means within strata (what a new draw of items moves) less the residual that the seed part already counts
    (two-way random-effects ANOVA), with hundreds. The interval's quantile is the variance-weighted mean of
    Student's t at ``seeds − 1`` degrees of freedom (seed part) and the normal quantile (item part): with few
    seeds it is t's, which a percentile bootstrap over 2-3 seeds cannot see (it was far too narrow), and
    Satterthwaite's pooled degrees of freedom, estimated from the same two seeds, made it too narrow as well
    (``tests/test_calibration.py`` measures all three). With one seed there is no seed part:
    ``seed_interval`` is False and the interval covers a new draw of items only.
    """

    mean: float
    var_seeds: float
    var_items: float
    seeds: int
    items: int

    @property
    def seed_interval(self) -> bool:
        return self.seeds > 1

    @property
    def se(self) -> float:
        return math.sqrt(self.var_seeds + self.var_items)

    def quantile(self, u: float) -> float:
        """The ``u`` quantile of (mean − truth) / se."""
        from scipy import stats

        total = self.var_seeds + self.var_items
        if not self.seed_interval or total == 0:
            return float(stats.norm.ppf(u))
        return float((stats.t.ppf(u, self.seeds - 1) * self.var_seeds + stats.norm.ppf(u) * self.var_items) / total)

    def bounds(self, level: float = 0.95) -> tuple[float, float]:
        """The two-sided interval at ``level``."""
        half = self.quantile(1 - (1 - level) / 2) * self.se
        return self.mean - half, self.mean + half

    def lower(self, alpha: float = 0.05) -> float:
        """The one-sided lower bound at level ``1 − alpha``."""
        return self.mean - self.quantile(1 - alpha) * self.se

    def p_at_most(self, bound: float = 0.0) -> float:
        """One-sided p-value of "the mean is at most ``bound``": the ``alpha`` whose lower bound is ``bound``."""
        from scipy.optimize import brentq

        if self.se == 0:
            return 0.0 if self.mean > bound else 1.0
        stat = (self.mean - bound) / self.se
        edge = 1e-12
        if stat >= self.quantile(1 - edge):
            return edge
        if stat <= self.quantile(edge):
            return 1 - edge
        return float(1 - brentq(lambda u: self.quantile(u) - stat, edge, 1 - edge, xtol=1e-12))

    def __str__(self) -> str:
        low, high = self.bounds()
        note = "" if self.seed_interval else " (1 seed: items only, no interval over seeds)"
        return f"{self.mean:+.3f} [{low:+.3f}, {high:+.3f}]{note}"


def seeds_and_items(diffs, strata: list) -> SeedsItems:
    """:class:`SeedsItems` of ``diffs`` (seeds × items: each seed's per-item change, or any paired score; the
    items are the same for every seed), the items drawn within ``strata`` (a cell per item).

    >>> s = seeds_and_items([[1, 0, 0, 1], [1, 1, 0, 1]], ["a", "a", "b", "b"])
    >>> round(s.mean, 3), s.seed_interval, round(s.p_at_most(0.0), 3)
    (0.625, True, 0.062)
    """
    import numpy as np

    y = np.asarray(diffs, dtype=float)
    if y.ndim != 2 or y.size == 0:
        raise ValueError("diffs must be a non-empty seeds × items matrix")
    n_seeds, n_items = y.shape
    if len(strata) != n_items:
        raise ValueError(f"{len(strata)} strata for {n_items} items")
    strata = np.asarray(strata)
    item_means = y.mean(axis=0)
    var_items = 0.0  # the stratified variance of the mean of per-item means (each stratum keeps its size)
    for s in np.unique(strata):
        group = item_means[strata == s]
        if len(group) > 1:
            var_items += (len(group) / n_items) ** 2 * group.var(ddof=1) / len(group)
    var_seeds = 0.0
    if n_seeds > 1:
        seed_means = y.mean(axis=1)
        var_seeds = float(seed_means.var(ddof=1)) / n_seeds
        if n_items > 1:
            residual = y - seed_means[:, None] - item_means[None, :] + y.mean()
            var_items = max(0.0, var_items - float((residual**2).sum()) / ((n_seeds - 1) * (n_items - 1))
                            / (n_seeds * n_items))
    return SeedsItems(float(y.mean()), var_seeds, float(var_items), n_seeds, n_items)
