"""The difficulty filter: keep samples the current model sometimes, but not always, answers right.

The band is never bypassed silently: when fewer than ``min_keep`` samples are in
band, the nearest-to-band ones fill up, each flagged ``filled`` with its distance, and the metrics
count them. ``filter.rehearsal`` adds solved samples (pass rate above the band) from every cell in turn: every
answer in their groups scores alike, so GRPO's only gradient on them is the KL term, which pulls back whatever
the round drifts on questions the model already answers.

What the sampled answers are graded against is ``filter.label``: ``reference``, the agent's answer (DPE's
labelling), or ``majority``, the majority of the model's own sampled answers (for pools whose agent answers
are noisy; a sample with no valid sampled answer has no label and is dropped). The label becomes the
training reference; each kept sample records which it was (``label``) and the agent's own answer
(``agent_answer``).

The band favours a model's prior: a sample whose label is the answer the model gives most often lands in it far
more often than one whose label it rarely gives, so a band-filtered set over-represents the model's favourite
answers and GRPO on it rewards the prior, not the image. ``filter.max_label_share`` caps every label at
``ceil(max_label_share * kept / k)`` samples per question template (``k``: its distinct labels), so a constant
answer earns about 1/k of the kept set whatever it is.
"""

from __future__ import annotations

import math
from collections import Counter

import polars as pl

from pipeline.answers.grading import is_correct, majority_answer
from pipeline.answers.results import grade_sampled, pass_rates
from pipeline.stats.evidence import label_precision
from pipeline.storage import schemas


def band_distance(rate: float, low: float, high: float) -> float:
    """0 inside the band, else how far outside it.

    >>> band_distance(0.95, 0.1, 0.9)
    0.05
    """
    return round(max(0.0, low - rate, rate - high), 10)


def select(rates: list[float], low: float, high: float, min_keep: int, max_keep: int = 0
           ) -> list[tuple[bool, bool]]:
    """Per sample (keep, filled). In-band samples are kept; out-of-band ones fill up to ``min_keep``,
    nearest to the band first. With ``max_keep`` (0: no cap) at most that many in-band samples stay, those
    nearest the band's middle first (the groups whose rewards spread most). Ties go by position, so the
    choice is deterministic.

    >>> select([0.0, 0.5, 1.0, 0.875], 0.3, 0.8, 2)
    [(False, False), (True, False), (False, False), (True, True)]
    >>> select([0.5, 0.2, 0.4, 0.9], 0.1, 0.9, 0, max_keep=2)
    [(True, False), (False, False), (True, False), (False, False)]
    """
    keep = [(band_distance(r, low, high) == 0.0, False) for r in rates]
    if max_keep:
        middle = (low + high) / 2
        inside = sorted((abs(r - middle), i) for i, r in enumerate(rates) if keep[i][0])
        for _, i in inside[max_keep:]:
            keep[i] = (False, False)
    missing = min_keep - sum(k for k, _ in keep)
    if missing > 0:
        outside = sorted((band_distance(r, low, high), i) for i, r in enumerate(rates)
                         if band_distance(r, low, high) > 0)
        for _, i in outside[:missing]:
            keep[i] = (True, True)
    return keep


def template_of(sample: dict) -> str:
    """A sample's question template, for any backend: its cell, answer type and option list (a template's
    answers share one answer space; the embedded world asks one template per cell and answer type)."""
    return "|".join([sample.get("cell", ""), sample["answer_type"], *sample["options"]])


def label_of(sample: dict) -> str:
    return sample["answer"].strip().lower()


def label_cap(counts: list[int], k: int, share: float) -> int:
    """The most samples of one label a template keeps: ``ceil(share * kept / k)``, where ``kept`` is what is left
    after the cap itself (the largest fixed point, found from above).

    >>> label_cap([10, 1], 2, 1.5)
    6
    >>> label_cap([3, 3, 2], 3, 1.5)
    4
    """
    kept = sum(counts)
    while True:
        cap = math.ceil(share * kept / max(k, 1) - 1e-9)
        now = sum(min(c, cap) for c in counts)
        if now >= kept:
            return cap
        kept = now


def balance_labels(flags: list[tuple[bool, bool]], rates: list[float], labels: list[str], templates: list[str],
                   share: float, middle: float) -> list[tuple[bool, bool]]:
    """``flags`` with kept samples dropped so that no label holds more than ``label_cap`` of its template's kept
    samples; of one label, those nearest the band's ``middle`` stay (ties by position). ``k`` of a template is the
    number of distinct labels among all its samples, kept or not.

    >>> balance_labels([(True, False)] * 6, [0.5, 0.4, 0.6, 0.2, 0.5, 0.5], ["5", "5", "5", "5", "2", "3"],
    ...                ["t"] * 6, 1.5, 0.5)[3]
    (False, False)
    """
    of: dict[str, list[int]] = {}
    for i, t in enumerate(templates):
        of.setdefault(t, []).append(i)
    out = list(flags)
    for t in sorted(of):
        kept = [i for i in of[t] if flags[i][0]]
        by_label = Counter(labels[i] for i in kept)
        cap = label_cap(list(by_label.values()), len({labels[i] for i in of[t]}), share)
        taken: Counter = Counter()
        for _, i in sorted((abs(rates[i] - middle), i) for i in kept):
            taken[labels[i]] += 1
            if taken[labels[i]] > cap:
                out[i] = (False, False)
    return out


def label_metrics(kept: list[dict]) -> dict[str, float]:
    """Per template's cell: the entropy (bits) of the kept labels, its most frequent label's share, and the
    number of distinct labels; a skewed kept set (entropy well below log2 k) trains a prior."""
    from scipy.stats import entropy

    by_cell: dict[str, list[str]] = {}
    for s in kept:
        by_cell.setdefault(s.get("cell", ""), []).append(label_of(s))
    out = {}
    for cell, labels in sorted(by_cell.items()):
        counts = Counter(labels)
        top = counts.most_common(1)[0][1]
        out |= {f"labels.entropy.{cell}": float(entropy(list(counts.values()), base=2)), f"labels.top_share.{cell}": top / len(labels),
                f"labels.distinct.{cell}": len(set(labels))}
    return out


def rehearse(rates: list[float], cells: list[str], flags: list[tuple[bool, bool]], high: float,
             share: float) -> list[int]:
    """Indices of the solved samples (rate above ``high``, not kept already) to add: ``share`` × the kept
    count, taken from the cells in turn (sorted), each cell's in order, so no one cell fills it.

    >>> rehearse([1.0, 1.0, 1.0, 0.5, 0.5, 1.0], ["a", "a", "a", "b", "b", "b"], [(False, False)] * 3
    ...          + [(True, False)] * 2 + [(False, False)], 0.9, 1.0)
    [0, 5]
    """
    wanted = round(share * sum(keep for keep, _ in flags))
    queues: dict[str, list[int]] = {}
    for i, (rate, cell, (keep, _)) in enumerate(zip(rates, cells, flags, strict=True)):
        if rate > high and not keep:
            queues.setdefault(cell, []).append(i)
    chosen: list[int] = []
    while len(chosen) < wanted and any(queues.values()):
        for cell in sorted(queues):
            if queues[cell] and len(chosen) < wanted:
                chosen.append(queues[cell].pop(0))
    return sorted(chosen)


def grade_rollouts(samples: list[dict], completions: list[list[str]], model: str) -> pl.DataFrame:
    """The rollouts table: every sampled answer graded once against the agent's answer (DPE's labelling)."""
    graded = grade_sampled(samples, completions, "sample_id").with_columns(model=pl.lit(model))
    return pl.from_arrow(schemas.conform(graded.to_arrow(), schemas.ROLLOUTS, "rollouts"))


def relabelled_correct(sample: dict, answer: str) -> bool | None:
    """Whether ``answer`` is right for the sample, where its backend knew the truth (``true_answer``; "" for an
    off-cell sample, wrong whatever its answer)."""
    truth = sample.get("true_answer")
    if truth is None:
        return None
    return bool(truth) and is_correct(answer, truth, sample["answer_type"], sample["options"])


def label_samples(samples: list[dict], completions: list[list[str]], label: str
                  ) -> tuple[list[dict], list[list[str]], dict]:
    """(samples with the answer to grade and train against, their completions, counts): ``label`` is
    ``reference`` (the agent's answer) or ``majority`` (the model's own majority answer; samples without
    one are dropped)."""
    if label == "reference":
        return [s | {"label": label, "agent_answer": s["answer"]} for s in samples], list(completions), {}
    labelled, texts = [], []
    for sample, sampled in zip(samples, completions, strict=True):
        voted = majority_answer(sampled, sample["answer_type"], sample["options"])
        if voted is not None:
            labelled.append(sample | {"answer": voted, "label": label, "agent_answer": sample["answer"],
                                      "label_correct": relabelled_correct(sample, voted)})
            texts.append(sampled)
    agree = sum(is_correct(s["agent_answer"], s["answer"], s["answer_type"], s["options"]) for s in labelled)
    return labelled, texts, {"unlabelled": len(samples) - len(labelled),
                             "label_agrees_with_agent": agree / len(labelled) if labelled else 0.0}


def filter_samples(samples: list[dict], completions: list[list[str]], low: float, high: float, min_keep: int,
                   model: str, label: str = "reference", max_keep: int = 0, rehearsal: float = 0.0,
                   max_label_share: float = 0.0) -> tuple[pl.DataFrame, list[dict], dict]:
    """(rollouts table, trainset rows, counts) for generated samples and their sampled answers. Rehearsed
    samples are the kept rows neither in band nor filled; ``max_label_share`` (0: off) caps each label of a
    template among the in-band and filled ones (``balance_labels``; the cap wins over ``min_keep``)."""
    total = len(samples)
    samples, completions, label_counts = label_samples(samples, completions, label)
    rollouts = grade_rollouts(samples, completions, model)
    by_id = dict(pass_rates(rollouts, "sample_id").iter_rows())
    rates = [by_id[s["sample_id"]] for s in samples]
    flags = select(rates, low, high, min_keep, max_keep)
    capped = 0
    if max_label_share:
        balanced = balance_labels(flags, rates, [label_of(s) for s in samples], [template_of(s) for s in samples],
                                  max_label_share, (low + high) / 2)
        capped, flags = sum(k for k, _ in flags) - sum(k for k, _ in balanced), balanced
    rehearsed = rehearse(rates, [s["cell"] for s in samples], flags, high, rehearsal) if rehearsal else []
    for i in rehearsed:
        flags[i] = (True, False)
    kept = [s | {"pass_rate": r, "in_band": band_distance(r, low, high) == 0.0, "filled": filled}
            for s, r, (keep, filled) in zip(samples, rates, flags) if keep]
    counts = {"samples": total, "kept": len(kept), "in_band": sum(k["in_band"] for k in kept),
              "filled": sum(k["filled"] for k in kept), "rehearsed": len(rehearsed),
              "label_capped": capped,
              "pass_rate.mean": sum(rates) / len(rates) if rates else 0.0, **label_counts,
              **label_precision([k.get("label_correct") for k in kept], "kept"),
              **label_metrics([k for k in kept if k["in_band"] or k["filled"]])}
    return rollouts, kept, counts
