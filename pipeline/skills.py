"""A model's skill profile on a labelled item set: what a base model must show before RL can help.

Beyond per-category accuracy it measures whether a weak category is *partly learned* rather than
collapsed: how many distinct answers the model gives, what always giving its most frequent answer
would score, and whether sampled pass rates sit in the band GRPO learns from.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pipeline.answering import answer
from pipeline.difficulty import pass_rate
from pipeline.grading import is_correct, parse_answer

WEAK_BELOW = 0.35  # a category at or below this greedy accuracy is weak (issue 3's profile)


def by_category(items: list[dict]) -> dict[str, list[int]]:
    """Item indices per category, categories sorted."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        out[item["category"]].append(i)
    return dict(sorted(out.items()))


def parsed_answers(items: list[dict], greedy: list[str]) -> list:
    """Each answer parsed as its item's answer type (None where it does not parse)."""
    return [parse_answer(g, it["answer_type"], it["options"]) for g, it in zip(greedy, items)]


def distinct_answers(items: list[dict], greedy: list[str]) -> dict[str, int]:
    """How many different valid answers the model gives per category: 1 or 2 means it has collapsed."""
    valid = parsed_answers(items, greedy)
    return {cat: len({valid[i] for i in idx if valid[i] is not None}) for cat, idx in by_category(items).items()}


def accuracy_by_category(items: list[dict], greedy: list[str]) -> dict[str, float]:
    """Greedy accuracy overall and per category."""
    hits = [is_correct(g, it["answer"], it["answer_type"], it["options"]) for g, it in zip(greedy, items)]
    out = {"overall": sum(hits) / max(1, len(items))}
    return out | {cat: sum(hits[i] for i in idx) / len(idx) for cat, idx in by_category(items).items()}


def greedy_answers(model, processor, items: list[dict], *, max_new_tokens: int = 8, batch_size: int = 32) -> list[str]:
    return [c[0] for c in answer(model, processor, items, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                 desc="greedy")]


def profile(items: list[dict], greedy: list[str], sampled: list[list[str]], weak_below: float = WEAK_BELOW,
            band: tuple[float, float] = (0.2, 0.8)) -> dict:
    """Pure aggregation of greedy and sampled answers into the skill metrics."""
    valid = parsed_answers(items, greedy)
    out: dict = {"probe_accuracy": accuracy_by_category(items, greedy),
                 "valid_answer_rate": sum(v is not None for v in valid) / len(items),
                 "distinct_answers": distinct_answers(items, greedy), "majority_baseline": {},
                 "weak_in_band_share": {}}
    for cat, idx in by_category(items).items():
        acc = out["probe_accuracy"][cat]
        answers = Counter(valid[i] for i in idx if valid[i] is not None)
        top = answers.most_common(1)[0][0] if answers else None
        out["majority_baseline"][cat] = sum(items[i]["answer"].strip().upper() == str(top).upper()
                                            or items[i]["answer"].strip().lower() == str(top).lower()
                                            for i in idx) / len(idx)
        if acc <= weak_below:
            rates = [pass_rate(sampled[i], items[i]["answer"], items[i]["answer_type"], items[i]["options"])
                     for i in idx]
            out["weak_in_band_share"][cat] = sum(band[0] <= r <= band[1] for r in rates) / len(rates)
    return out


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
    greedy = greedy_answers(model, processor, items, max_new_tokens=max_new_tokens, batch_size=batch_size)
    sampled = answer(model, processor, items, batch_size=max(1, batch_size // samples), samples=samples, seed=seed,
                     max_new_tokens=max_new_tokens, desc="probe sampled")
    out = profile(items, greedy, sampled)
    return out | {"uneven": uneven(out)}
