"""The round gate: a trained round replaces the previous model only if a dev check says it did not make the
model worse, overall and in every category beyond the check's own noise.

The check grades the previous model and each candidate greedily on the same held-out items (the gate half of
``train.gate.source``, never read by a diagnosis, a search or a choice of default), so every difference is
paired. Candidates are the trained model interpolated towards the previous one (``θ_prev + step·(θ_new −
θ_prev)`` for each step of ``train.gate.steps``): a step that overshoots often lands better halfway. The best
candidate that gains overall by more than ``min_gain`` and loses no category significantly (one-sided at
``alpha``, Bonferroni over the categories) wins; none: the previous model is carried over (step 0). The math
here is pure; the stage evaluates and saves.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

log = logging.getLogger(__name__)

CARRY = 0.0  # the step that keeps the previous model


@dataclass(frozen=True)
class Change:
    """A paired change of accuracy over ``n`` items, with its standard error."""

    diff: float
    se: float
    n: int

    def loses_beyond(self, z: float) -> bool:
        return self.diff + z * self.se < 0


def paired_change(before: list[bool], after: list[bool]) -> Change:
    """Mean of ``after − before`` over the same items and its standard error (the paired, per-item one).

    >>> paired_change([True, False, False, True], [True, True, False, False])
    Change(diff=0.0, se=0.408248, n=4)
    """
    if len(before) != len(after):
        raise ValueError("a paired change needs the same items before and after")
    n = len(before)
    if n == 0:
        return Change(0.0, 0.0, 0)
    deltas = [int(a) - int(b) for a, b in zip(after, before)]
    mean = sum(deltas) / n
    var = sum((d - mean) ** 2 for d in deltas) / max(1, n - 1)
    return Change(round(mean, 6), round(math.sqrt(var / n), 6), n)


@dataclass(frozen=True)
class Check:
    """One candidate against the previous model: its overall change and each category's."""

    step: float
    overall: Change
    categories: dict[str, Change]
    z: float

    @property
    def losing(self) -> list[str]:
        """Categories that lose beyond the noise (z paired standard errors)."""
        return sorted(c for c, ch in self.categories.items() if ch.loses_beyond(self.z))

    def passes(self, min_gain: float) -> bool:
        return self.overall.diff > min_gain and not self.losing


def category_z(alpha: float, categories: int) -> float:
    """The one-sided critical value at ``alpha`` with Bonferroni over ``categories`` tests.

    >>> round(category_z(0.05, 1), 3), round(category_z(0.05, 8), 3)
    (1.645, 2.498)
    """
    return NormalDist().inv_cdf(1 - alpha / max(1, categories))


def check(step: float, before: list[bool], after: list[bool], categories: list[str], z: float) -> Check:
    """Compare a candidate's per-item correctness with the previous model's on the same items."""
    by_cat: dict[str, tuple[list[bool], list[bool]]] = {}
    for b, a, c in zip(before, after, categories, strict=True):
        pair = by_cat.setdefault(c, ([], []))
        pair[0].append(b)
        pair[1].append(a)
    return Check(step, paired_change(before, after), {c: paired_change(*p) for c, p in sorted(by_cat.items())}, z)


def decide(checks: list[Check], min_gain: float) -> Check | None:
    """The passing candidate with the largest overall gain (ties: the larger step); None carries over.

    >>> ok = Change(0.02, 0.01, 100)
    >>> a, b = Check(1.0, ok, {"x": ok}, 1.645), Check(0.5, Change(0.03, 0.01, 100), {"x": ok}, 1.645)
    >>> decide([a, b], 0.0).step, decide([a], 0.05)
    (0.5, None)
    """
    passing = [c for c in checks if c.passes(min_gain)]
    return max(passing, key=lambda c: (c.overall.diff, c.step), default=None)


def interpolate(previous: dict, trained: dict, step: float) -> dict:
    """``previous + step·(trained − previous)`` for every floating tensor (others, and missing keys, from
    ``trained``): a weaker step of the same update."""
    out = {}
    for name, value in trained.items():
        before = previous.get(name)
        if before is not None and value.is_floating_point() and before.shape == value.shape:
            out[name] = before + step * (value - before)
        else:
            out[name] = value
    return out


def metrics(checks: list[Check], chosen: Check | None, before: float, items: int, seconds: float) -> dict:
    """What the round's metrics record of the gate: the decision, and every candidate's numbers."""
    out = {"gate.step": chosen.step if chosen else CARRY, "gate.accepted": int(chosen is not None),
           "gate.items": items, "gate.before": round(before, 6),
           "gate.gain": chosen.overall.diff if chosen else 0.0, "gate.seconds": round(seconds, 1)}
    for c in checks:
        key = f"gate.candidates.{c.step:g}"
        out[f"{key}.gain"], out[f"{key}.se"] = c.overall.diff, c.overall.se
        out[f"{key}.losing"] = ",".join(c.losing)
        out |= {f"{key}.category.{name}": ch.diff for name, ch in c.categories.items()}
    return out


def describe(check_: Check) -> str:
    return f"step {check_.step:g}: {asdict(check_.overall)}, losing {check_.losing or 'none'}"
