"""r0's world checks: is every weak cell a blind spot GRPO can fix, and every other cell already strong?

Judged per category on a held-out set the bootstrap never trains or selects on (the whole dev set, >= 400 items
a cell), each as an interval test at one-sided 95%:

* ``strong``: a category the world does not mark weak answers at least ``skills.STRONG_AT``;
* ``above_prior``: a weak category's accuracy minus 1/k has a lower bound of at least ``MIN_EDGE`` (Wilson);
* ``top_share``: its most frequent answer is at most ``skills.TOP_SHARE_MAX`` / k of its answers;
* ``shuffle_gap``: its image-shuffle gap (``pipeline/diagnosis/shuffle.py``) has a lower bound of at least
  ``MIN_EDGE``: it is answered from the image, so GRPO has something image-dependent to sharpen;
* ``zero_pass``: at most ``skills.ZERO_PASS_MAX`` of its items have no right sampled answer;
* ``window``: its chance-normalised accuracy lies in [``skills.NORM_LOW``, ``skills.NORM_HIGH``].

The world checks that need training (the ceiling of every cell, a weak cell's movability) are benchmarks:
``benchmarks/world_checks.py``.
"""

from __future__ import annotations

import polars as pl

from pipeline.answers import results as res
from pipeline.bootstrap import skills
from pipeline.stats.evidence import wilson
from pipeline.storage.schemas import ShuffleGap

MIN_EDGE = 0.05  # a weak category's lower bounds above chance and of its shuffle gap
Z_ONE_SIDED = 1.645


def category_checks(results: pl.DataFrame, sampled: pl.DataFrame, gaps: dict[str, ShuffleGap],
                    weak: list[str]) -> dict[str, dict]:
    """Per category: its numbers and each check's verdict (``pass.<check>``: 1 or 0). ``gaps`` are per cell
    (``category/image_type``); a weak category's worst cell decides its shuffle check."""
    prof = skills.profile(results, sampled)
    counts = {c: (n, k) for c, n, k in res.counts(results, ["category"]).iter_rows()}
    out: dict[str, dict] = {}
    for category, (n, correct) in sorted(counts.items()):
        k, acc = prof["answer_space"][category], prof["probe_accuracy"][category]
        low = wilson(correct, n, Z_ONE_SIDED)[0]
        row = {"n": n, "k": k, "accuracy": acc, "accuracy_low": low}
        if category not in weak:
            row["pass.strong"] = int(acc >= skills.STRONG_AT)
        else:
            cell_gaps = [g for key, g in gaps.items() if key.split("/")[0] == category]
            gap_low = min((g.low_one_sided for g in cell_gaps if g.low_one_sided is not None), default=None)
            norm = prof["normalised_accuracy"][category]
            row |= {"normalised": norm, "top_share": prof["top_answer_share"][category],
                    "zero_pass": prof["zero_pass_share"].get(category, 1.0), "shuffle_gap_low": gap_low,
                    "pass.above_prior": int(low - 1 / k >= MIN_EDGE),
                    "pass.top_share": int(prof["top_answer_share"][category] <= skills.TOP_SHARE_MAX / k),
                    "pass.shuffle_gap": int(gap_low is not None and gap_low >= MIN_EDGE),
                    "pass.zero_pass": int(prof["zero_pass_share"].get(category, 1.0) <= skills.ZERO_PASS_MAX),
                    "pass.window": int(skills.NORM_LOW <= norm <= skills.NORM_HIGH)}
        out[category] = row
    return out


def summary(checks: dict[str, dict]) -> dict:
    """Flat metrics: every number and verdict as ``checks.<category>.<name>``, and ``checks.failed`` (the
    failing category.check pairs, comma-separated; empty when all pass) and ``checks.met``."""
    flat, failed = {}, []
    for category, row in checks.items():
        for name, value in row.items():
            flat[f"checks.{category}.{name}"] = round(value, 6) if isinstance(value, float) else value
            if name.startswith("pass.") and not value:
                failed.append(f"{category}.{name[5:]}")
    return flat | {"checks.failed": ",".join(failed), "checks.met": int(not failed)}


def run_checks(model, processor, items: list[dict], weak: list[str], *, seed: int = 0, max_new_tokens: int = 8,
               samples: int = 8, batch_size: int = 32) -> dict:
    """Grade ``items`` (greedy, with shuffled images, and ``samples`` sampled answers on the weak categories' items)
    and return :func:`summary` of :func:`category_checks`."""
    from pipeline.answers.engines import TransformersEngine, answer
    from pipeline.diagnosis.shuffle import shuffle_gaps

    engine = TransformersEngine(model, processor, batch_size=batch_size)
    results = engine.greedy_results(items, max_new_tokens=max_new_tokens, desc="checks: greedy")
    gaps = shuffle_gaps(engine, items, results, seed, max_new_tokens, "checks")
    weak_items = [it for it in items if it["category"] in weak]
    sampled = answer(model, processor, weak_items, batch_size=max(1, batch_size // samples), samples=samples,
                     seed=seed, max_new_tokens=max_new_tokens, desc="checks: sampled")
    graded = res.grade_sampled(weak_items, sampled, "item_id")
    return summary(category_checks(results, graded, gaps, weak))
