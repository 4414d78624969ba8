"""The statistics of a comparison over seeds: 95% intervals, paired differences, samples to reach a level.

Pure functions over plain numbers, so the data-efficiency benchmark and the audit agree on what an interval
is. With a handful of seeds the interval is Student's t, not the normal one: five seeds widen it by 1.42×.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided 95% quantiles of Student's t by degrees of freedom (beyond 30 the normal 1.96 is within 4%).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
       20: 2.086, 25: 2.060, 30: 2.042}


def t95(df: int) -> float:
    """The t quantile for ``df`` degrees of freedom (the nearest tabled df at or below it).

    >>> t95(4), t95(22), t95(100)
    (2.776, 2.086, 1.96)
    """
    if df < 1:
        raise ValueError("an interval needs at least two values")
    if df > 30:
        return 1.96
    return T95[max(k for k in T95 if k <= df)]


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% interval over ``n`` values (low = high = mean when n is 1: no spread known)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        return self.n > 1 and (self.low > 0 or self.high < 0)

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.mean:.3f} (n=1)"
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def interval(values: list[float]) -> Interval:
    """Mean and t interval of ``values`` (seeds).

    >>> interval([0.2, 0.4])
    Interval(mean=0.3, low=-0.9706, high=1.5706, n=2)
    """
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return Interval(round(mean, 6), round(mean, 6), round(mean, 6), 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    return Interval(round(mean, 6), round(mean - half, 6), round(mean + half, 6), n)


def paired(treated: dict, control: dict) -> Interval:
    """The interval of ``treated − control`` over the keys (seeds) both have: pairing removes what the two
    share per seed (the probe draw, the round's generation seed), which is most of the noise.

    >>> paired({0: 0.5, 1: 0.6, 2: 0.7}, {0: 0.4, 1: 0.5, 2: 0.6, 3: 0.9}).mean
    0.1
    """
    keys = sorted(set(treated) & set(control))
    if not keys:
        raise ValueError("no seed in common")
    return interval([treated[k] - control[k] for k in keys])


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials.

    >>> [round(x, 3) for x in wilson(0, 4)]
    [0.0, 0.49]
    """
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


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
    """Holm's step-down adjustment of ``pvalues`` (one family): compare each adjusted value with the level.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = round(running, 6)
    return adjusted


def holm_levels(pvalues: list[float], alpha: float = 0.05) -> list[float]:
    """Each test's own level under Holm (alpha / (m − rank)): an interval drawn at it is the corrected one.

    >>> holm_levels([0.01, 0.04, 0.03])
    [0.016667, 0.05, 0.025]
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    levels = [0.0] * m
    for rank, i in enumerate(order):
        levels[i] = round(alpha / (m - rank), 6)
    return levels


def two_way_bootstrap(diffs, strata: list, reps: int = 2000, seed: int = 0):
    """Replicates of the mean of ``diffs`` (seeds × items: a per-item change for each seed's run, or any paired
    score) resampling both what varies: seeds with replacement, and items with replacement within each stratum
    (a cell), so the interval covers a new draw of seeds *and* of items. Returns a numpy array of ``reps``."""
    import numpy as np

    diffs = np.asarray(diffs, dtype=float)
    n_seeds, n_items = diffs.shape
    rng = np.random.default_rng(seed)
    groups: dict = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    weights = np.zeros((reps, n_items))
    for idx in groups.values():
        idx = np.asarray(idx)
        draws = rng.integers(0, len(idx), size=(reps, len(idx)))
        np.add.at(weights, (np.repeat(np.arange(reps), len(idx)), idx[draws].ravel()), 1.0)
    per_seed = diffs @ weights.T / n_items  # seeds × reps: each seed's mean on each item draw
    seeds = rng.integers(0, n_seeds, size=(reps, n_seeds))
    return per_seed[seeds, np.arange(reps)[:, None]].mean(axis=1)


def p_at_most(replicates, bound: float = 0.0) -> float:
    """One-sided bootstrap p-value of "the mean is at most ``bound``": the share of replicates at or below it."""
    import numpy as np

    r = np.asarray(replicates)
    return round(float((np.sum(r <= bound) + 1) / (len(r) + 1)), 6)


def label_precision(correct: list[bool | None], stage: str) -> dict[str, float]:
    """Label precision of a stage's samples (``label_precision.<stage>``) with its Wilson 95% interval and n,
    over the samples whose backend knew the truth (``label_correct`` not None); nothing when none did.

    >>> label_precision([True, True, False, None], "kept")["label_precision.kept.n"]
    3
    """
    known = [c for c in correct if c is not None]
    if not known:
        return {}
    low, high = wilson(sum(known), len(known))
    return {f"label_precision.{stage}": sum(known) / len(known), f"label_precision.{stage}.low": low,
            f"label_precision.{stage}.high": high, f"label_precision.{stage}.n": len(known)}
