"""Mixture: turn a diagnosis into integer quotas per weakness cell that sum exactly to the budget.

A strategy is a small class with one method, ``weights``; the base class owns normalising, the
floor and cap, and the integer rounding. Strategies are picked by name in params (``mixture.strategy``,
``pipeline.config.registry.STRATEGIES``):

* ``dpe_step``: the reference step rule on each cell's *shrunk* accuracy (a one-item cell cannot
  swing the round).
* ``softmax_error``: shares ∝ exp(error / temperature): smooth where the step rule jumps.
* ``dro``: a multiplicative-weights (group-DRO style) update of the previous round's shares,
  ``share_prev · exp(step · error)``, so a weakness that persists keeps gaining budget.
* ``uniform``: the control arm, ignoring the diagnosis.
* ``static``: fixed shares per cell or per category from params.

Every mixture also records the shares it used, which the next round's ``dro`` starts from.
"""

from __future__ import annotations

import math
from collections import Counter

from pipeline.config.registry import STRATEGIES
from pipeline.mixture.params import MixtureConfig
from pipeline.storage.schemas import Diagnosis, Mixture


def largest_remainder(shares: dict[str, float], total: int) -> dict[str, int]:
    """Integer parts of ``shares·total`` that sum to ``total`` exactly (ties broken by key).

    >>> largest_remainder({"a": 1/3, "b": 1/3, "c": 1/3}, 10)
    {'a': 4, 'b': 3, 'c': 3}
    """
    raw = {k: s * total for k, s in shares.items()}
    base = {k: math.floor(v) for k, v in raw.items()}
    left = total - sum(base.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - base[k]), k))[:left]:
        base[k] += 1
    return base


def capped(shares: dict[str, float], cap: float) -> dict[str, float]:
    """Shares with none above ``cap``: the excess is spread over the uncapped cells in proportion
    (water-filling), so the order of the shares is kept and they still sum to 1.

    >>> {k: round(v, 3) for k, v in capped({"a": 0.8, "b": 0.15, "c": 0.05}, 0.5).items()}
    {'a': 0.5, 'b': 0.375, 'c': 0.125}
    """
    if cap * len(shares) < 1 - 1e-9:
        raise ValueError(f"mixture.cap={cap} × {len(shares)} cells < 1: the quotas cannot fill the budget; "
                         "raise the cap")
    fixed: dict[str, float] = {}
    while True:
        free = {k: v for k, v in shares.items() if k not in fixed}
        room = 1.0 - cap * len(fixed)
        total = sum(free.values())
        scaled = {k: (v / total * room if total > 0 else room / len(free)) for k, v in free.items()}
        over = [k for k, v in scaled.items() if v > cap + 1e-12]
        if not over:
            return fixed | scaled
        fixed.update({k: cap for k in over})


class Strategy:
    """Maps each cell's shrunk accuracy (and the previous round's shares) to non-negative weights."""

    def __init__(self, temperature: float = 0.1, step: float = 2.0, static: dict[str, float] | None = None):
        self.temperature = temperature
        self.step = step
        self.static = static or {}

    def weights(self, accuracy: dict[str, float], previous: dict[str, float]) -> dict[str, float]:
        raise NotImplementedError

    def shares(self, accuracy: dict[str, float], previous: dict[str, float] | None = None,
               cap: float = 1.0) -> dict[str, float]:
        weights = self.weights(accuracy, previous or {})
        total = sum(weights.values())
        shares = {k: w / total for k, w in weights.items()} if total > 0 else {k: 1 / len(weights) for k in weights}
        return capped(shares, cap) if cap < 1.0 else shares


def check_floor(cells: int, budget: int, floor: int) -> None:
    if floor * cells > budget:
        raise ValueError(f"mixture.floor={floor} × {cells} cells exceeds mixture.budget={budget}; "
                         "lower the floor or raise the budget")


def allot(shares: dict[str, float], budget: int, floor: int) -> dict[str, int]:
    """``floor`` for every cell, the rest of the budget by ``shares``: integers summing to ``budget``."""
    rest = largest_remainder(shares, budget - floor * len(shares))
    return {k: floor + q for k, q in rest.items()}


class DPEStep(Strategy):
    """The reference rule: accuracy below 0.70 → 2.0, 0.75 → 1.5, 0.85 → 1.0, 0.90 → 0.8, else 0.5."""

    STEPS = ((0.70, 2.0), (0.75, 1.5), (0.85, 1.0), (0.90, 0.8))

    @classmethod
    def step_weight(cls, accuracy: float) -> float:
        return next((w for bound, w in cls.STEPS if accuracy < bound), 0.5)

    def weights(self, accuracy, previous):
        return {k: self.step_weight(a) for k, a in accuracy.items()}


class SoftmaxError(Strategy):
    """Shares ∝ exp((1 − accuracy) / temperature); a low temperature concentrates on the worst cells."""

    def weights(self, accuracy, previous):
        errors = {k: 1.0 - a for k, a in accuracy.items()}
        top = max(errors.values())
        return {k: math.exp((e - top) / self.temperature) for k, e in errors.items()}


class DRO(Strategy):
    """Multiplicative weights from the previous round's shares (uniform in round 1): cells that stay
    weak round after round keep gaining budget, cells that were fixed lose it gradually."""

    def weights(self, accuracy, previous):
        start = 1.0 / len(accuracy)
        return {k: (previous.get(k) or start) * math.exp(self.step * (1.0 - a)) for k, a in accuracy.items()}


class Uniform(Strategy):
    """The control arm: the same budget spread evenly, ignoring the diagnosis."""

    def weights(self, accuracy, previous):
        return {k: 1.0 for k in accuracy}


class Static(Strategy):
    """Fixed shares from params, keyed by cell (``category/image_type``) or by category (split evenly over
    its cells); cells not named get 0."""

    def weights(self, accuracy, previous):
        category = {k: k.split("/")[0] for k in accuracy}
        per_category = Counter(category.values())
        return {k: self.static.get(k, self.static.get(cat, 0.0) / per_category[cat]) for k, cat in category.items()}


def make_mixture(diagnosis: Diagnosis, cfg: MixtureConfig, previous: dict[str, float] | None = None) -> Mixture:
    """The mixture artifact: quotas that sum to the budget, and the shares behind them."""
    strategy = STRATEGIES.load(cfg.strategy)(temperature=cfg.temperature, step=cfg.dro_step, static=dict(cfg.static))
    every = {c.key: c.shrunk_accuracy for c in diagnosis.cells}
    accuracy = {k: a for k, a in every.items() if not excluded(k, cfg.exclude)}
    if not accuracy:
        raise ValueError(f"mixture.exclude {cfg.exclude} leaves no cell of the diagnosis to target")
    check_floor(len(accuracy), cfg.budget, cfg.floor)
    shares = strategy.shares(accuracy, previous, cfg.cap)
    quotas = allot(shares, cfg.budget, cfg.floor)
    left = {k: 0 for k in every if k not in accuracy}
    return Mixture(strategy=cfg.strategy, budget=cfg.budget, quotas=quotas | left,
                   shares={k: round(v, 6) for k, v in shares.items()} | {k: 0.0 for k in left})


def excluded(cell: str, names: list[str]) -> bool:
    """Whether ``names`` (cells or categories) name ``cell``.

    >>> excluded("arithmetic/shapes", ["arithmetic"]), excluded("text/document", ["arithmetic/shapes"])
    (True, False)
    """
    return cell in names or cell.split("/")[0] in names
