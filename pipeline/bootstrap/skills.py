"""A model's skill profile on a labelled item set: what a base model must show before RL can help.

Beyond per-category accuracy it measures whether a weak category is *partly learned* rather than
collapsed: how many distinct answers the model gives, what always giving its most frequent answer
would score, and whether sampled pass rates sit in the band GRPO learns from. Every number is a
group-by over the graded results (``pipeline/results.py``).
"""

from __future__ import annotations

import polars as pl

from pipeline import results as res
from pipeline.answering import answer, greedy_results

WEAK_BELOW = 0.40  # a category at or below this greedy accuracy is weak (strong: 0.70 or more)
ABOVE_MAJORITY = 0.10  # a partly learned weak category beats always giving its most frequent answer by this
MIN_DISTINCT = 3  # ... and gives at least this many different answers
# ... and more than this share of its items have a sampled pass rate in the band. 0.5 sat in the middle of
# what the accuracy window gives: five kept top-up chunks here had band shares 0.46-0.51 for a category at
# 0.27-0.33, so met or missed came down to one item of 384. The filter needs survivors, not a majority.
IN_BAND_MOST = 0.35


def profile(results: pl.DataFrame, sampled: pl.DataFrame, weak_below: float = WEAK_BELOW,
            band: tuple[float, float] = (0.2, 0.8)) -> dict:
    """Pure aggregation of the greedy results and the graded sampled answers (``results.grade_sampled``,
    keyed by ``item_id``) into the skill metrics."""
    accuracy = res.accuracy_table(results)
    rates = res.pass_rates(sampled, "item_id").join(results.select("item_id", "category"), on="item_id")
    weak = [c for c, a in accuracy.items() if c != "overall" and a <= weak_below]
    in_band = (rates.filter(pl.col("category").is_in(weak))
               .group_by("category").agg(pl.col("pass_rate").is_between(*band).mean()).sort("category"))
    return {"probe_accuracy": accuracy, "valid_answer_rate": res.valid_answer_rate(results),
            "distinct_answers": res.distinct_answers(results), "majority_baseline": res.majority_baseline(results),
            "weak_in_band_share": dict(in_band.iter_rows())}


def window_margins(accuracy: dict[str, float], majority: dict[str, float], distinct: dict[str, int],
                   categories: list[str], weak_below: float = WEAK_BELOW) -> dict[str, float]:
    """Per category, how far its accuracy sits inside the weak-but-partly-learned window [majority baseline +
    ABOVE_MAJORITY, weak_below]: the distance to the nearer edge, negative outside, -1 when it has collapsed to
    fewer than MIN_DISTINCT answers. The top-up keeps the chunk whose worst margin is largest, so the profile
    survives the noise of another CPU's floats and of the probe's sampling.

    >>> window_margins({"a": 0.3}, {"a": 0.15}, {"a": 5}, ["a"])
    {'a': 0.05}
    """
    out = {}
    for c in categories:
        inside = min(accuracy[c] - (majority[c] + ABOVE_MAJORITY), weak_below - accuracy[c])
        out[c] = round(inside, 10) if distinct[c] >= MIN_DISTINCT else -1.0
    return out


def profile_margins(profile_: dict, categories: list[str]) -> dict[str, float]:
    """Per category, how far a measured profile sits inside every bound ``uneven`` checks a weak category
    against: the accuracy window (``window_margins``) and the share of items in the pass-rate band.

    >>> profile_margins({"probe_accuracy": {"a": 0.3}, "majority_baseline": {"a": 0.15}, "distinct_answers": {"a": 5},
    ...                  "weak_in_band_share": {"a": 0.37}}, ["a"])
    {'a': 0.02}

    A category above the weak line has no band share: its margin is how far it sits above the line, so a chunk
    that brings it closer counts as progress.

    >>> profile_margins({"probe_accuracy": {"a": 0.47}, "majority_baseline": {"a": 0.15}, "distinct_answers": {"a": 5},
    ...                  "weak_in_band_share": {}}, ["a"])
    {'a': -0.07}
    """
    window = window_margins(profile_["probe_accuracy"], profile_["majority_baseline"], profile_["distinct_answers"],
                            categories)
    band = profile_["weak_in_band_share"]  # measured for weak categories only: above the weak line, the window says
    return {c: round(min(m, band[c] - IN_BAND_MOST) if c in band else m, 10) for c, m in window.items()}


def uneven(profile_: dict, weak_below: float = WEAK_BELOW, strong_at: float = 0.70, overall: tuple = (0.35, 0.65),
           margin: float = ABOVE_MAJORITY) -> dict:
    """Does a skill profile give RL something to fix? At least two strong and two weak categories, overall
    in range, and every weak category *partly learned*: at least 3 distinct answers, more than ``IN_BAND_MOST`` of
    its items in the pass-rate band, and accuracy at least ``margin`` above always giving its most frequent answer."""
    acc = {c: a for c, a in profile_["probe_accuracy"].items() if c != "overall"}
    weak = [c for c, a in acc.items() if a <= weak_below]
    partly = [c for c in weak if profile_["distinct_answers"][c] >= MIN_DISTINCT
              and profile_["weak_in_band_share"][c] > IN_BAND_MOST
              and acc[c] >= profile_["majority_baseline"][c] + margin]
    strong = [c for c, a in acc.items() if a >= strong_at]
    ok = (len(strong) >= 2 and len(weak) >= 2 and len(partly) == len(weak)
          and overall[0] <= profile_["probe_accuracy"]["overall"] <= overall[1])
    return {"strong": len(strong), "weak": len(weak), "weak_partly_learned": len(partly), "met": int(ok)}


def measure(model, processor, items: list[dict], *, samples: int = 8, seed: int = 0, max_new_tokens: int = 8,
            batch_size: int = 32) -> dict:
    results = greedy_results(model, processor, items, max_new_tokens=max_new_tokens, batch_size=batch_size)
    sampled = answer(model, processor, items, batch_size=max(1, batch_size // samples), samples=samples, seed=seed,
                     max_new_tokens=max_new_tokens, desc="probe sampled")
    out = profile(results, res.grade_sampled(items, sampled, "item_id"))
    return out | {"uneven": uneven(out)}
