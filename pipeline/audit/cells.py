"""The audit's table: per weakness cell and per category, what the round made for it and what changed.

For each cell (category/image_type) and each category: the quota, attempts, accepted, kept and trained
samples (with their ids), the evaluation accuracy before and after the round (Wilson 95% intervals), the
change paired over the items (95% interval), the same change in the control arm, the difference between the
two paired over the items, and a verdict at a stated error rate: one-sided bounds at 0.05 Bonferroni-corrected
over the round's verdicts (about 21: 13 cells and 8 categories), and a margin over the control that must clear
the 95% quantile of retraining noise. Pure polars over the round's artifacts.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from pipeline.stats.evidence import Interval, interval, one_sided, wilson
from pipeline.training.params import left_out

FIXED, IMPROVED, UNCHANGED, REGRESSED = "fixed", "improved", "unchanged", "regressed"

CELLS = pa.schema([
    ("round", pa.string()), ("level", pa.string()), ("key", pa.string()), ("category", pa.string()),
    ("quota", pa.int64()), ("attempts", pa.int64()), ("accepted", pa.int64()), ("kept", pa.int64()),
    ("trained", pa.int64()), ("trained_ids", pa.list_(pa.string())), ("items", pa.int64()),
    ("before", pa.float64()), ("before_low", pa.float64()), ("before_high", pa.float64()),
    ("after", pa.float64()), ("after_low", pa.float64()), ("after_high", pa.float64()),
    ("change", pa.float64()), ("change_low", pa.float64()), ("change_high", pa.float64()),
    # the control arm's own change over the same items, and this round's change minus it (null: no control)
    ("control_change", pa.float64()), ("control_change_low", pa.float64()), ("control_change_high", pa.float64()),
    ("vs_control", pa.float64()), ("vs_control_low", pa.float64()), ("vs_control_high", pa.float64()),
    # accuracy at the run's start (r0): a round cannot "fix" what it only brings back to below where it began
    ("start", pa.float64()),
    # the 95% quantile of the difference two retrainings make (the round's reseeded reruns; null: no reruns)
    ("noise", pa.float64()),
    # vs_control's one-sided lower bound at the round's corrected level (Bonferroni over its verdicts)
    ("vs_control_bound", pa.float64()),
    ("verdict", pa.string()),
])


FAMILY_ALPHA = 0.05  # the error rate of a round's verdicts together (Bonferroni over its rows)
NOISE_QUANTILE = 0.95  # the quantile of retraining noise a margin over the control must clear


def verdict(change: tuple[float, float] | None, vs_control: tuple[float, float] | None,
            after: float | None = None, start: float | None = None, noise: float | None = None) -> str:
    """What the bounds support, each bound one-sided at the round's corrected level (``FAMILY_ALPHA`` over the
    round's verdicts). fixed: the change's lower bound is above zero, the lower bound of its margin over the
    control arm's change is above ``noise`` (the ``NOISE_QUANTILE`` quantile of how far two retrainings of a
    round apart, the control's own counted; unmeasured, nothing is fixed), and the cell ends above its
    accuracy at the run's start (``start``: a round that recovers part of an earlier loss fixed nothing);
    improved: it improved, but nothing shows the targeting did it; regressed: the upper bound is below zero;
    unchanged: neither.

    >>> verdict((0.02, 0.18), (0.05, 0.15), noise=0.02), verdict((0.02, 0.18), (0.01, 0.15), noise=0.02)
    ('fixed', 'improved')
    >>> verdict((0.02, 0.18), (0.05, 0.15)), verdict((0.02, 0.18), None), verdict((-0.2, -0.01), None)
    ('improved', 'improved', 'regressed')
    >>> verdict((-0.02, 0.12), (0.1, 0.3), noise=0.0), verdict((0.02, 0.18), (0.05, 0.15), 0.318, 0.359, 0.02)
    ('unchanged', 'improved')
    """
    if change is None:
        return UNCHANGED
    if change[1] < 0:
        return REGRESSED
    if change[0] <= 0:
        return UNCHANGED
    above_start = start is None or after is None or after > start
    beyond_noise = noise is not None and vs_control is not None and vs_control[0] > noise
    return FIXED if beyond_noise and above_start else IMPROVED


def _graded(results: pa.Table, name: str) -> pl.DataFrame:
    frame = pl.from_arrow(results.select(["item_id", "category", "image_type", "correct"]))
    return frame.select("item_id", "category", pl.concat_str("category", pl.lit("/"), "image_type").alias("cell"),
                        pl.col("correct").cast(pl.Int64).alias(name))


def paired_items(before: pa.Table, after: pa.Table, control_before: pa.Table | None = None,
                 control_after: pa.Table | None = None, start: pa.Table | None = None,
                 reruns: list[pa.Table] = ()) -> pl.DataFrame:
    """One row per evaluation item graded by every run given: item_id, category, cell, before, after (0/1) and,
    with a control, control_before and control_after; with the run's start (r0), start; with the round's
    reseeded reruns (the same round retrained with other GRPO seeds), rerun_1, rerun_2, ..."""
    items = _graded(before, "before").join(_graded(after, "after").select("item_id", "after"), on="item_id")
    if start is not None:
        items = items.join(_graded(start, "start").select("item_id", "start"), on="item_id")
    for k, table in enumerate(reruns, 1):
        items = items.join(_graded(table, f"rerun_{k}").select("item_id", f"rerun_{k}"), on="item_id")
    if control_before is not None and control_after is not None:
        for table, name in ((control_before, "control_before"), (control_after, "control_after")):
            items = items.join(_graded(table, name).select("item_id", name), on="item_id")
    return items


def _interval(values: list[int]) -> Interval | None:
    return interval(values) if len(values) > 1 else None


def retraining_noise(items: pl.DataFrame, quantile: float = NOISE_QUANTILE) -> float | None:
    """The ``quantile`` quantile of the accuracy difference between two independent retrainings of the round
    over ``items``: the standard deviation of the round's run (``after``) and its reseeded reruns (``rerun_k``),
    times √2 (the control arm, one run, has retraining noise of its own), times Student's t over the reruns'
    degrees of freedom (None without reruns).

    >>> retraining_noise(pl.DataFrame({"after": [1, 1, 0, 0], "rerun_1": [1, 0, 0, 0]}))
    1.578438
    """
    runs = ["after"] + [c for c in items.columns if c.startswith("rerun_")]
    if len(runs) < 2 or not items.height:
        return None
    from scipy import stats

    accuracies = [float(items[r].mean()) for r in runs]
    mean = sum(accuracies) / len(accuracies)
    sd = (sum((a - mean) ** 2 for a in accuracies) / (len(runs) - 1)) ** 0.5
    return round(float(stats.t.ppf(quantile, len(runs) - 1)) * 2**0.5 * sd, 6)


def _accuracy_row(items: pl.DataFrame, alpha: float) -> dict:
    n = items.height
    row = {"items": n}
    for name in ("before", "after"):
        correct = int(items[name].sum()) if n else 0
        low, high = wilson(correct, n)
        row |= {name: correct / n if n else None, f"{name}_low": low if n else None, f"{name}_high": high if n else None}
    diff = (items["after"] - items["before"]).to_list() if n else []
    change = _interval(diff) if n else None
    control = vs = vs_values = None
    if "control_after" in items.columns and n:
        control_diff = items["control_after"] - items["control_before"]
        control = _interval(control_diff.to_list())
        vs_values = ((items["after"] - items["before"]) - control_diff).to_list()
        vs = _interval(vs_values)
    for name, value in (("change", change), ("control_change", control), ("vs_control", vs)):
        row |= {name: value.mean if value else None, f"{name}_low": value.low if value else None,
                f"{name}_high": value.high if value else None}
    start = None
    if "start" in items.columns and n:
        start = float(items["start"].mean())
    noise = retraining_noise(items)
    change_bounds, vs_bounds = one_sided(diff, alpha), one_sided(vs_values, alpha) if vs_values else None
    return row | {"start": start, "noise": noise, "vs_control_bound": vs_bounds[0] if vs_bounds else None,
                  "verdict": verdict(change_bounds, vs_bounds, row["after"], start, noise)}


def sample_counts(quotas: dict[str, int], attempts: pa.Table, samples: pa.Table, trainset: pa.Table,
                  ablated: list[str]) -> dict[str, dict]:
    """cell -> quota, attempts, accepted, kept, trained (kept and not left out by train.ablate), trained_ids."""
    tried = pl.from_arrow(attempts.select(["cell"]))["cell"].value_counts()
    made = pl.from_arrow(samples.select(["cell"]))["cell"].value_counts()
    kept = pl.from_arrow(trainset.select(["sample_id", "cell"]))
    cells = set(quotas) | set(tried["cell"]) | set(made["cell"]) | set(kept["cell"])
    out = {}
    for cell in sorted(cells):
        ids = sorted(kept.filter(pl.col("cell") == cell)["sample_id"].to_list())
        gone = left_out(ablated, cell)
        out[cell] = {"quota": int(quotas.get(cell, 0)),
                     "attempts": int(dict(tried.iter_rows()).get(cell, 0)),
                     "accepted": int(dict(made.iter_rows()).get(cell, 0)),
                     "kept": len(ids), "trained": 0 if gone else len(ids),
                     "trained_ids": [] if gone else ids}
    return out


def audit_cells(round_name: str, counts: dict[str, dict], items: pl.DataFrame) -> pa.Table:
    """The CELLS table: a row per cell (quota or evaluation items) and per category, cells first."""
    rows = []
    cells = sorted(set(counts) | set(items["cell"].unique().to_list()))
    categories = sorted({c.split("/")[0] for c in cells})
    alpha = FAMILY_ALPHA / max(1, len(cells) + len(categories))  # Bonferroni over the round's verdicts
    empty = {"quota": 0, "attempts": 0, "accepted": 0, "kept": 0, "trained": 0, "trained_ids": []}
    for cell in cells:
        rows.append({"round": round_name, "level": "cell", "key": cell, "category": cell.split("/")[0],
                     **counts.get(cell, empty), **_accuracy_row(items.filter(pl.col("cell") == cell), alpha)})
    for category in categories:
        mine = [counts[c] for c in counts if c.split("/")[0] == category]
        summed = {k: sum(m[k] for m in mine) for k in ("quota", "attempts", "accepted", "kept", "trained")}
        rows.append({"round": round_name, "level": "category", "key": category, "category": category, **summed,
                     "trained_ids": sorted(i for m in mine for i in m["trained_ids"]),
                     **_accuracy_row(items.filter(pl.col("category") == category), alpha)})
    return pa.Table.from_pylist(rows, CELLS)


def verdict_counts(cells: pa.Table) -> dict[str, int]:
    """``<level>.<verdict>`` -> rows, for the stage's metrics."""
    counts: dict[str, int] = {}
    for level, said in zip(cells.column("level").to_pylist(), cells.column("verdict").to_pylist()):
        counts[f"{level}.{said}"] = counts.get(f"{level}.{said}", 0) + 1
    return dict(sorted(counts.items()))
