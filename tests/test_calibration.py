"""Intervals over seeds and items that hold at any seed count, shown by simulation at the benchmarks' sizes.

Binary grades on items shared by every seed (1,248 items in 13 cells, as the evaluation set): an item effect
(some items move more easily), a seed effect (a seed's round moves many items one way) and an item × seed
interaction (which items flip is drawn per seed), tuned to the measured r0 → r1 discordance (4-5% of items)
and to the spread of per-seed gains seen in the benchmarks (a standard deviation near 0.015).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stats import seeds_and_items

ITEMS_PER_CELL, CELLS = 96, 13
BASE, UP, DOWN = 0.62, -3.35, -3.65  # r0's accuracy; logits of a wrong item turning right and a right one wrong
ITEM_SD, SEED_SD = 0.8, 0.4  # logit spread across items and across seeds


def true_change() -> float:
    """The population mean of after − before, by Gauss-Hermite quadrature over item and seed effects."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    spread = np.hypot(ITEM_SD, SEED_SD)
    up = (weights / (1 + np.exp(-(UP + spread * nodes)))).sum()
    down = (weights / (1 + np.exp(-(DOWN + spread * nodes)))).sum()  # a symmetric spread: sign does not matter
    return float((1 - BASE) * up - BASE * down)


def draw(rng, seeds: int):
    """One benchmark: per-item changes (seeds × items) and the cell of each item."""
    n = ITEMS_PER_CELL * CELLS
    before = rng.random(n) < BASE
    item = rng.normal(0, ITEM_SD, n)
    seed = rng.normal(0, SEED_SD, (seeds, 1))
    up = rng.random((seeds, n)) < 1 / (1 + np.exp(-(UP + item + seed)))
    down = rng.random((seeds, n)) < 1 / (1 + np.exp(-(DOWN + item - seed)))
    after = np.where(before, ~down, up)
    return after.astype(float) - before, np.repeat(np.arange(CELLS), ITEMS_PER_CELL)


def percentile_bootstrap(diffs, strata, reps: int, rng) -> tuple[float, float]:
    """The method the benchmarks used before: seeds and items resampled, a percentile interval."""
    n_seeds, n_items = diffs.shape
    weights = np.zeros((reps, n_items))
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        picks = idx[rng.integers(0, len(idx), (reps, len(idx)))]
        np.add.at(weights, (np.repeat(np.arange(reps), len(idx)), picks.ravel()), 1.0)
    per_seed = diffs @ weights.T / n_items
    seeds = rng.integers(0, n_seeds, (reps, n_seeds))
    replicates = per_seed[seeds, np.arange(reps)[:, None]].mean(axis=1)
    return float(np.quantile(replicates, 0.025)), float(np.quantile(replicates, 0.975))


def test_the_simulation_has_the_measured_discordance_and_seed_spread():
    rng = np.random.default_rng(11)
    diffs, _ = draw(rng, 200)
    assert 0.04 <= float(np.mean(diffs != 0)) <= 0.05
    assert 0.01 <= float(diffs.mean(axis=1).std()) <= 0.02
    assert abs(float(diffs.mean()) - true_change()) < 0.003


@pytest.mark.parametrize("seeds", [2, 3, 5, 10])
def test_the_seeds_and_items_interval_covers_the_true_change_95_percent_of_the_time(seeds):
    rng, truth, covered = np.random.default_rng(seeds), true_change(), 0
    trials = 1000
    for _ in range(trials):
        low, high = seeds_and_items(*draw(rng, seeds)).bounds()
        covered += low <= truth <= high
    assert 0.93 <= covered / trials <= 0.97, f"{seeds} seeds: coverage {covered / trials:.3f}"


@pytest.mark.parametrize("seeds", [2, 3])
def test_the_percentile_bootstrap_it_replaces_fails_at_few_seeds(seeds):
    rng, truth, covered = np.random.default_rng(100 + seeds), true_change(), 0
    trials = 300
    for _ in range(trials):
        low, high = percentile_bootstrap(*draw(rng, seeds), reps=400, rng=rng)
        covered += low <= truth <= high
    assert covered / trials < 0.85, f"{seeds} seeds: coverage {covered / trials:.3f}"


def test_one_seed_gives_no_seed_interval():
    diffs, cells = draw(np.random.default_rng(5), 1)
    one = seeds_and_items(diffs, cells)
    assert not one.seed_interval and "no interval over seeds" in str(one)
    assert seeds_and_items(*draw(np.random.default_rng(5), 2)).seed_interval
