"""Diagnosis: aggregate the graded probe results per weakness cell, and write the brief for the agents.

Departures from the reference: judge failures are kept apart and excluded from accuracy (not counted
as model errors), and every cell's accuracy is shrunk towards the global mean with a Beta prior of
strength ``prior_strength``, with a Wilson 95% interval, so one wrong answer in a tiny cell cannot
steer a whole round. Grading itself is ``pipeline.answers.results.grade``.
"""

from __future__ import annotations

import polars as pl

from pipeline.answers import results as res
from pipeline.diagnosis.shuffle import shuffle_gaps
from pipeline.stats.evidence import wilson
from pipeline.storage.schemas import Cell, Diagnosis, ErrorCell, Example, ShuffleGap


def shrink(k: int, n: int, prior_mean: float, strength: float) -> float:
    """Posterior mean under a Beta(strength·m, strength·(1-m)) prior.

    >>> shrink(0, 1, 0.5, 4.0)
    0.4
    """
    return (k + strength * prior_mean) / (n + strength) if n + strength > 0 else prior_mean


def error_cells(cells: list[Cell]) -> list[ErrorCell]:
    """The finer view: for each cell and error type, the share of the cell's items failed that way."""
    return [ErrorCell(key=f"{c.key}/{error}", category=c.category, image_type=c.image_type, error_type=error,
                      n=c.n, failures=k, rate=k / c.n, interval=wilson(k, c.n))
            for c in cells for error, k in sorted(c.error_types.items())]


def aggregate(results: pl.DataFrame, prior_strength: float, n_examples: int = 3, min_n: int = 1,
              by_error_type: bool = False) -> Diagnosis:
    """The diagnosis: overall and per-category accuracy, and the per-cell table (judge failures excluded).

    A cell with fewer than ``min_n`` graded items is marked unreliable and its shrunk accuracy is the
    global mean: the mixture then gives it an average share instead of reading noise."""
    graded = res.graded(results)
    overall = res.accuracy(results)
    fails = graded.filter(~pl.col("correct"))
    errors = fails.group_by([*res.CELL, "error_type"], maintain_order=True).agg(k=pl.len())  # first seen first
    examples = fails.group_by(res.CELL, maintain_order=True).head(n_examples)
    cells = []
    for cat, itype, n, k in res.counts(results, res.CELL).iter_rows():
        here = (pl.col("category") == cat) & (pl.col("image_type") == itype)
        cells.append(Cell(
            key=f"{cat}/{itype}", category=cat, image_type=itype, n=n, correct=k, accuracy=k / n,
            shrunk_accuracy=shrink(k, n, overall, prior_strength) if n >= min_n else overall,
            interval=wilson(k, n), reliable=n >= min_n,
            error_types=dict(errors.filter(here).select("error_type", "k").iter_rows()),
            examples=[Example(item_id=i, question=q, reference=r, answer=a) for i, q, r, a in
                      examples.filter(here).select("item_id", "question", "reference", "answer_text").iter_rows()],
        ))
    return Diagnosis(items=results.height, graded=graded.height, judge_failures=results.height - graded.height,
                     accuracy=overall, categories=res.accuracy_by(results, "category"), cells=cells,
                     error_cells=error_cells(cells) if by_error_type else None)


def weakness_brief(diagnosis: Diagnosis, n_cells: int) -> str:
    """Short prose for the generating agents: the weakest cells, how they fail, an example each."""
    cells = sorted(diagnosis.cells, key=lambda c: c.shrunk_accuracy)[:n_cells]
    lines = [f"Overall probe accuracy {diagnosis.accuracy:.0%} on {diagnosis.graded} graded items.",
             "Weakest cells (category / image type):"]
    for c in cells:
        errors = ", ".join(f"{k} ×{v}" for k, v in sorted(c.error_types.items(), key=lambda kv: -kv[1])) or "none"
        line = (f"- {c.key}: {c.correct}/{c.n} correct (shrunk {c.shrunk_accuracy:.0%}, "
                f"95% CI {c.interval[0]:.0%}–{c.interval[1]:.0%}); errors: {errors}.")
        if c.shuffle is not None:
            low, high = c.shuffle.interval
            line += (f" With another image of the cell: {c.shuffle.shuffled_accuracy:.0%} (gap {c.shuffle.gap:+.2f}, "
                     f"95% CI {low:+.2f} to {high:+.2f}"
                     + ("; not shown to look at the image)." if low <= 0 else ")."))
        if c.examples:
            ex = c.examples[0]
            line += f" e.g. \"{ex.question}\" expected {ex.reference!r}, got {ex.answer!r}."
        lines.append(line)
    return "\n".join(lines) + "\n"


def probe_items(probe, evaluation, seed: int) -> list[dict]:
    """This round's probe items: the source read, checked disjoint from the evaluation set, resampled."""
    from pipeline.diagnosis.itemsets import load_items, overlap, resample

    items = load_items(probe.source, probe.kind, probe.columns)
    shared = overlap(items, load_items(evaluation.source, evaluation.kind, evaluation.columns))
    if shared:
        raise SystemExit(f"probe.source and evaluation.source share {shared} items (same image and question); "
                         "the probe steers rounds, so remove them from one of the two")
    return resample(items, probe.share, seed) if probe.resample else items


def diagnose(model_dir: str, items: list[dict], cfg, answering, round_name: str,
             seed: int, dtype: str = "auto") -> tuple[pl.DataFrame, Diagnosis]:
    """Answer the probe with the checkpoint, grade (failures judged), aggregate: (results, diagnosis)."""
    from pipeline.answers.engines import open_engine
    from pipeline.diagnosis.judges import make_judge

    judge = make_judge(cfg)  # a judge that cannot be built fails before the model answers anything
    engine = open_engine(model_dir, answering, dtype)
    results = engine.greedy_results(items, max_new_tokens=answering.max_new_tokens, seed=seed, judge=judge,
                                    round_name=round_name, desc=f"diagnose {round_name}")
    diagnosis = aggregate(results, cfg.prior_strength, min_n=cfg.min_n, by_error_type=cfg.by_error_type)
    if cfg.shuffle:
        diagnosis = with_shuffle(diagnosis, shuffle_gaps(engine, items, results, seed, answering.max_new_tokens,
                                                         round_name))
    return results, diagnosis.model_copy(update={"round": round_name, "model": model_dir})


def with_shuffle(diagnosis: Diagnosis, gaps: dict[str, ShuffleGap]) -> Diagnosis:
    """The diagnosis with each cell's image-shuffle gap (``pipeline/diagnosis/shuffle.py``) and the overall one."""
    cells = [c.model_copy(update={"shuffle": gaps.get(c.key)}) for c in diagnosis.cells]
    return diagnosis.model_copy(update={"cells": cells, "shuffle": gaps.get("overall")})
