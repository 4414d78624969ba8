"""The image-shuffle gap: how much of a cell's accuracy comes from looking at the image.

Each probe item is asked a second time with the image of another item of its cell (same question, same
reference). A model that answers from the image loses accuracy; one that answers from the question alone (a
prior) scores the same either way. GRPO sharpens what a model already does with the image, so a weak cell
whose gap is not above zero is one no amount of its own data is likely to lift, and a gain that leaves the gap
where it was is a shifted prior, not a learned skill. It works for any model and any probe source: it needs
nothing but two distinct images per cell.
"""

from __future__ import annotations

import random

import polars as pl

from pipeline.answers import results as res
from pipeline.stats.evidence import interval, one_sided
from pipeline.storage.schemas import ShuffleGap


def shuffled(items: list[dict], seed: int | str) -> list[dict]:
    """Every item with another item's image of the same (category, image type) cell: a seeded cyclic shift of
    the cell's items, passing over partners whose image is the same picture. Items of a cell with a single
    distinct image are left out (nothing to swap in)."""
    cells: dict[tuple[str, str], list[int]] = {}
    for i, it in enumerate(items):
        cells.setdefault((it["category"], it["image_type"]), []).append(i)
    rng = random.Random(f"{seed}:shuffle")
    out: dict[int, dict] = {}
    for key in sorted(cells):
        order = rng.sample(cells[key], len(cells[key]))
        for j, i in enumerate(order):
            partner = next((order[(j + step) % len(order)] for step in range(1, len(order))
                            if items[order[(j + step) % len(order)]]["image"] != items[i]["image"]), None)
            if partner is not None:
                out[i] = items[i] | {"image": items[partner]["image"]}
    return [out[i] for i in sorted(out)]


def gaps(results: pl.DataFrame, shuffled_results: pl.DataFrame) -> dict[str, ShuffleGap]:
    """Per cell (``category/image_type``) and ``overall``: accuracy with the true image, with a shuffled one, and
    their paired difference with a 95% t interval over the items and a one-sided 95% lower bound (judge failures
    of the true pass left out)."""
    true = res.graded(results).select("item_id", "category", "image_type", true=pl.col("correct").cast(pl.Float64))
    pairs = true.join(shuffled_results.select("item_id", shuf=pl.col("correct").cast(pl.Float64)), on="item_id")
    pairs = pairs.with_columns(key=pl.col("category") + "/" + pl.col("image_type"), diff=pl.col("true") - pl.col("shuf"))
    out = {}
    for key, group in [("overall", pairs), *sorted(pairs.group_by("key"), key=lambda kv: kv[0])]:
        key = key[0] if isinstance(key, tuple) else key
        diffs = group["diff"].to_list()
        gap, bounds = interval(diffs), one_sided(diffs, 0.05)
        out[key] = ShuffleGap(n=group.height, accuracy=group["true"].mean(), shuffled_accuracy=group["shuf"].mean(),
                              gap=gap.mean, interval=(gap.low, gap.high),
                              low_one_sided=None if bounds is None else round(bounds[0], 6))
    return out


def shuffle_gaps(engine, items: list[dict], results: pl.DataFrame, seed: int, max_new_tokens: int,
                 round_name: str = "") -> dict[str, ShuffleGap]:
    """Ask ``items`` again with shuffled images (graded by rule: no judge sees an image it was not asked about)
    and return :func:`gaps` against their true-image ``results``."""
    again = shuffled(items, seed)
    if not again:
        return {}
    shuffled_results = engine.greedy_results(again, max_new_tokens=max_new_tokens, seed=seed, round_name=round_name,
                                             desc=f"shuffled images {round_name}".strip())
    return gaps(results, shuffled_results)
