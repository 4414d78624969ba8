"""A model's skill profile on a labelled item set: what a base model must show before RL can help.

A weak category is a *latent blind spot* when the model answers it from the image, partly: above chance by a
margin, not collapsed onto one answer, and with items the sampled answers sometimes get right. Chance is 1/k for a
category whose k answers are balanced (the world draws every answer equally often), so accuracy is compared on the
chance-normalised scale ``(acc - 1/k) / (1 - 1/k)``: 0 is a constant answer, 1 is every item right. Every number
is a group-by over the graded results (``pipeline/answers/results.py``).
"""

from __future__ import annotations

import polars as pl

from pipeline.answers import results as res
from pipeline.answers.engines import answer, greedy_results

STRONG_AT = 0.85  # a strong category's accuracy at r0
NORM_LOW, NORM_HIGH = 0.15, 0.45  # r0's window for a weak category, chance-normalised: above a prior, below skill
TOP_SHARE_MAX = 1.5  # a weak category's most frequent answer is at most this many times 1/k of its answers
ZERO_PASS_MAX = 0.30  # ... and at most this share of its items have no right sampled answer (nothing to sharpen)


def normalised(accuracy: float, k: int) -> float:
    """Chance-normalised accuracy: 0 at 1/k (a constant answer on balanced labels), 1 at every item right.

    >>> normalised(0.5, 2), normalised(0.25, 4), round(normalised(0.6, 3), 2)
    (0.0, 0.0, 0.4)
    """
    return (accuracy - 1 / k) / (1 - 1 / k) if k > 1 else 0.0


def top_answer_share(results: pl.DataFrame) -> dict[str, float]:
    """Per category, the share of its answers that are its most frequent valid answer (no valid answer counts as
    its own)."""
    tally = results.group_by(["category", "parsed"]).agg(n=pl.len())
    per = tally.group_by("category").agg(top=pl.col("n").max(), total=pl.col("n").sum()).sort("category")
    return {row["category"]: row["top"] / row["total"] for row in per.iter_rows(named=True)}


def answer_shares(results: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Per category, the share of its greedy answers that is each of its reference answers (an answer outside
    them counts only in the total): which answers a partly learnt category gives too rarely."""
    per = {}
    for category, group in results.group_by("category"):
        parsed = group["parsed"].to_list()
        per[category[0]] = {a: parsed.count(a) / len(parsed) for a in sorted(set(group["reference"].to_list()))}
    return dict(sorted(per.items()))


def answer_space(results: pl.DataFrame) -> dict[str, int]:
    """Per category, k: its distinct reference answers (every answer of a balanced set appears)."""
    return dict(results.group_by("category").agg(pl.col("reference").n_unique()).sort("category").iter_rows())


def profile(results: pl.DataFrame, sampled: pl.DataFrame) -> dict:
    """Pure aggregation of the greedy results and the graded sampled answers (``results.grade_sampled``, keyed by
    ``item_id``) into the skill metrics, per category."""
    accuracy = res.accuracy_table(results)
    k = answer_space(results)
    rates = res.pass_rates(sampled, "item_id").join(results.select("item_id", "category"), on="item_id")
    zero = rates.group_by("category").agg((pl.col("pass_rate") == 0).mean()).sort("category")
    return {"probe_accuracy": accuracy, "answer_space": k,
            "normalised_accuracy": {c: normalised(accuracy[c], k[c]) for c in k},
            "top_answer_share": top_answer_share(results), "answer_shares": answer_shares(results),
            "zero_pass_share": dict(zero.iter_rows()),
            "valid_answer_rate": res.valid_answer_rate(results), "distinct_answers": res.distinct_answers(results),
            "majority_baseline": res.majority_baseline(results)}


def window_margins(profile_: dict, categories: list[str]) -> dict[str, float]:
    """Per category, how far it sits inside r0's window: the distance to the nearer edge of [NORM_LOW, NORM_HIGH]
    of its chance-normalised accuracy, or to the ceiling of its most frequent answer's share (TOP_SHARE_MAX / k),
    whichever is smaller; negative outside. A continuous margin, so a top-up chunk that spreads a collapsed
    category's answers counts as progress. The top-up keeps the chunk whose worst margin is largest, so the profile
    survives another CPU's floats and the probe's sampling.

    >>> window_margins({"normalised_accuracy": {"a": 0.25}, "answer_space": {"a": 2}, "top_answer_share": {"a": 0.6}},
    ...                ["a"])
    {'a': 0.1}
    >>> window_margins({"normalised_accuracy": {"a": 0.3}, "answer_space": {"a": 3}, "top_answer_share": {"a": 0.6}},
    ...                ["a"])
    {'a': -0.1}
    """
    out = {}
    for c in categories:
        norm, k = profile_["normalised_accuracy"][c], profile_["answer_space"][c]
        spread = TOP_SHARE_MAX / k - profile_["top_answer_share"][c]
        out[c] = round(min(norm - NORM_LOW, NORM_HIGH - norm, spread), 10)
    return out


def profile_margins(profile_: dict, categories: list[str]) -> dict[str, float]:
    """Per category, how far a measured profile sits inside every bound a weak category is held to: the window
    (``window_margins``) and the share of items no sampled answer gets right.

    >>> profile_margins({"normalised_accuracy": {"a": 0.3}, "answer_space": {"a": 4}, "top_answer_share": {"a": 0.3},
    ...                  "zero_pass_share": {"a": 0.28}}, ["a"])
    {'a': 0.02}
    """
    window = window_margins(profile_, categories)
    return {c: round(min(m, ZERO_PASS_MAX - profile_["zero_pass_share"][c]), 10) for c, m in window.items()}


def uneven(profile_: dict, weak: list[str]) -> dict:
    """Does a skill profile give RL something to fix, and nothing else? Every category not in ``weak`` strong
    (>= STRONG_AT), at least two weak ones, and every weak one inside its window (``profile_margins`` >= 0)."""
    acc = {c: a for c, a in profile_["probe_accuracy"].items() if c != "overall"}
    strong = [c for c, a in acc.items() if c not in weak and a >= STRONG_AT]
    inside = [c for c, m in profile_margins(profile_, [c for c in weak if c in acc]).items() if m >= 0]
    ok = len(strong) == len(acc) - len(weak) and len(weak) >= 2 and len(inside) == len(weak)
    return {"strong": len(strong), "weak": len(weak), "weak_in_window": len(inside), "met": int(ok)}


def measure(model, processor, items: list[dict], *, weak: list[str], samples: int = 8, seed: int = 0,
            max_new_tokens: int = 8, batch_size: int = 32) -> dict:
    """The skill profile of ``items``: greedy answers for every category, ``samples`` sampled answers only for the
    ``weak`` ones (the only ones held to a zero-pass share), so a strong category costs one answer an item."""
    results = greedy_results(model, processor, items, max_new_tokens=max_new_tokens, batch_size=batch_size)
    weak_items = [it for it in items if it["category"] in weak]
    sampled = answer(model, processor, weak_items, batch_size=max(1, batch_size // samples), samples=samples,
                     seed=seed, max_new_tokens=max_new_tokens, desc="probe sampled")
    out = profile(results, res.grade_sampled(weak_items, sampled, "item_id"))
    return out | {"uneven": uneven(out, weak)}
