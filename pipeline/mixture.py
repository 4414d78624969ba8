"""Mixture: turn a diagnosis into integer quotas per weakness cell that sum exactly to the budget.

A strategy is a small class with one method, ``weights``; the base class owns normalising, the
floor and the integer rounding. Strategies are picked by name in params (``mixture.strategy``).
The step rule reads the *shrunk* accuracy of a cell, so a one-item cell cannot swing the round.
"""

from __future__ import annotations

import math
from typing import Callable

STRATEGIES: dict[str, type["Strategy"]] = {}


def register(name: str) -> Callable[[type["Strategy"]], type["Strategy"]]:
    def deco(cls: type[Strategy]) -> type[Strategy]:
        STRATEGIES[name] = cls
        return cls
    return deco


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


class Strategy:
    """Maps each cell's diagnosis record to a non-negative weight."""

    def weights(self, cells: list[dict]) -> dict[str, float]:
        raise NotImplementedError

    def quotas(self, cells: list[dict], budget: int, floor: int = 0) -> dict[str, int]:
        if floor * len(cells) > budget:
            raise ValueError(f"mixture.floor={floor} × {len(cells)} cells exceeds mixture.budget={budget}; "
                             "lower the floor or raise the budget")
        weights = self.weights(cells)
        total = sum(weights.values())
        shares = {k: w / total for k, w in weights.items()} if total > 0 else {k: 1 / len(weights) for k in weights}
        rest = largest_remainder(shares, budget - floor * len(cells))
        return {k: floor + q for k, q in rest.items()}


@register("dpe_step")
class DPEStep(Strategy):
    """The reference rule: accuracy below 0.70 → 2.0, 0.75 → 1.5, 0.85 → 1.0, 0.90 → 0.8, else 0.5."""

    STEPS = ((0.70, 2.0), (0.75, 1.5), (0.85, 1.0), (0.90, 0.8))

    @classmethod
    def step(cls, accuracy: float) -> float:
        return next((w for bound, w in cls.STEPS if accuracy < bound), 0.5)

    def weights(self, cells: list[dict]) -> dict[str, float]:
        return {c["key"]: self.step(c["shrunk_accuracy"]) for c in cells}


@register("uniform")
class Uniform(Strategy):
    """The control arm: the same budget spread evenly, ignoring the diagnosis."""

    def weights(self, cells: list[dict]) -> dict[str, float]:
        return {c["key"]: 1.0 for c in cells}


def make_quotas(diagnosis: dict, strategy: str, budget: int, floor: int) -> dict[str, int]:
    return STRATEGIES[strategy]().quotas(diagnosis["cells"], budget, floor)
