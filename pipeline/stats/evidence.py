"""The statistics of a comparison: 95% intervals, paired differences, Wilson intervals, label precision.

Pure functions over plain numbers, so the gate, the audit, `dpe compare` and the benchmarks agree on what an
interval is. With a handful of seeds the interval is Student's t, not the normal one: five seeds widen it by 1.42×.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


def t95(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom (``scipy``).

    >>> round(t95(1), 3), round(t95(4), 3), round(t95(1000), 3)
    (12.706, 2.776, 1.962)
    """
    if df < 1:
        raise ValueError("an interval needs at least two values")
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


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
    Interval(mean=0.3, low=-0.97062, high=1.57062, n=2)
    """
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return Interval(round(mean, 6), round(mean, 6), round(mean, 6), 1)
    low, high = one_sided(values, 0.025)
    return Interval(round(mean, 6), round(low, 6), round(high, 6), n)


def one_sided(values: list[float], alpha: float) -> tuple[float, float] | None:
    """One-sided lower and upper bounds of the mean of ``values``, each at level ``1 − alpha`` (Student's t);
    None for fewer than two values. Two-sided at ``1 − 2·alpha`` together.

    >>> [round(x, 3) for x in one_sided([0, 1, 1, 0, 1, 1, 1, 1], 0.05)]
    [0.44, 1.06]
    """
    n = len(values)
    if n < 2:
        return None
    from scipy import stats

    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(1 - alpha, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def paired_differences(after: Mapping, before: Mapping) -> list[float]:
    """``after[k] − before[k]`` for every key both hold, in ``after``'s order: the paired differences that the
    round gate (items), ``dpe compare`` (items) and the benchmarks (seeds) summarise. Pairing removes what the
    two share per key (an item's difficulty, a seed's probe draw), which is most of the noise.

    >>> [round(d, 6) for d in paired_differences({0: 0.5, 1: 0.6, 2: 0.7}, {0: 0.4, 1: 0.5, 2: 0.6, 3: 0.9})]
    [0.1, 0.1, 0.1]
    >>> interval(paired_differences({"a": True, "b": True}, {"a": False, "b": True})).mean
    0.5
    """
    return [float(after[k]) - float(before[k]) for k in after if k in before]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials.

    >>> [round(x, 3) for x in wilson(0, 4)]
    [0.0, 0.49]
    """
    if n == 0:
        return 0.0, 1.0
    from scipy import stats
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(k, n, alpha=2 * float(stats.norm.sf(z)), method="wilson")
    return max(0.0, float(low)), min(1.0, float(high))


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
