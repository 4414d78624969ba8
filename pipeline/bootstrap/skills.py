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

WEAK_BELOW = 0.35  # a category at or below this greedy accuracy is weak


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


def uneven(profile_: dict, weak_below: float = WEAK_BELOW, strong_at: float = 0.70, overall: tuple = (0.35, 0.65),
           margin: float = 0.10) -> dict:
    """Does a skill profile give RL something to fix? At least two strong and two weak categories, overall
    in range, and every weak category *partly learned*: at least 3 distinct answers, most items in the
    pass-rate band, and accuracy at least ``margin`` above always giving its most frequent answer."""
    acc = {c: a for c, a in profile_["probe_accuracy"].items() if c != "overall"}
    weak = [c for c, a in acc.items() if a <= weak_below]
    partly = [c for c in weak if profile_["distinct_answers"][c] >= 3 and profile_["weak_in_band_share"][c] > 0.5
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
