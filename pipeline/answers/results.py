"""Grade once, aggregate by group-by: every item set (probe, evaluation, the bootstrap's) is graded
into one results table (``schemas.RESULTS``), and every number read from it — accuracy overall, per
category, per cell, majority baselines, distinct answers, pass rates of sampled answers — is a polars
group-by over that table, here and nowhere else.

Judge failures (``judge_status == "failed"``) are kept in the table but left out of every accuracy:
an item the judge could not attribute is not a model error.
"""

from __future__ import annotations

from typing import Sequence

import polars as pl
import pyarrow as pa

from pipeline.answers.grading import grade as grade_text
from pipeline.answers.grading import is_correct
from pipeline.storage import schemas

CELL = ["category", "image_type"]


def grade(items: Sequence[dict], completions: Sequence[str], judge=None, round_name: str = "") -> pl.DataFrame:
    """The results table: one row per item; wrong answers get an error type from ``judge`` (none asked:
    ``judge_status`` is ``skipped``)."""
    rows = []
    for item, text in zip(items, completions, strict=True):
        parsed, correct = grade_text(text, item["answer"], item["answer_type"], item["options"])
        if correct:
            status, error, detail, calls = "ok", "", "", ()
        elif judge is None:
            status, error, detail, calls = "skipped", "", "", ()
        else:
            verdict = judge.judge(item, text, parsed)
            status, error, detail, calls = verdict.status, verdict.error_type, verdict.detail, verdict.calls
        rows.append({
            "item_id": item["item_id"], "round": round_name, "category": item["category"],
            "image_type": item["image_type"], "question": item["question"], "answer_type": item["answer_type"],
            "options": list(item["options"]), "reference": item["answer"], "answer_text": text, "parsed": parsed,
            "correct": correct, "error_type": error, "judge_status": status, "judge_detail": detail,
            "judge_calls": schemas.calls_json(list(calls)),
        })
    return pl.from_arrow(pa.Table.from_pylist(rows, schemas.RESULTS))


def graded(results: pl.DataFrame) -> pl.DataFrame:
    """The rows that count towards accuracy: all but judge failures."""
    return results.filter(pl.col("judge_status") != "failed")


def counts(results: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """``n`` and ``correct`` per group of ``by`` (judge failures excluded), sorted by ``by``."""
    return (graded(results).group_by(by).agg(n=pl.len(), correct=pl.col("correct").sum())
            .sort(by))


def accuracy(results: pl.DataFrame) -> float:
    rows = graded(results)
    return int(rows["correct"].sum()) / rows.height if rows.height else 0.0


def accuracy_by(results: pl.DataFrame, by: str = "category") -> dict[str, float]:
    """Accuracy per value of ``by``, keys sorted."""
    return {row[by]: row["correct"] / row["n"] for row in counts(results, [by]).iter_rows(named=True)}


def accuracy_table(results: pl.DataFrame) -> dict[str, float]:
    """``{"overall": ..., <category>: ...}``: the accuracy block of every metrics file."""
    return {"overall": accuracy(results)} | accuracy_by(results, "category")


def _top_answers(results: pl.DataFrame) -> pl.DataFrame:
    """Per category, the most frequent valid answer (ties: the one given first)."""
    valid = results.with_row_index("order").filter(pl.col("parsed").is_not_null())
    tally = valid.group_by(["category", "parsed"]).agg(n=pl.len(), first=pl.col("order").min())
    return tally.sort(["category", "n", "first"], descending=[False, True, False]).group_by(
        "category", maintain_order=True).first().select("category", top="parsed")


def majority_baseline(results: pl.DataFrame) -> dict[str, float]:
    """Per category, the accuracy of always giving the model's most frequent answer, graded by the grader."""
    rows = results.join(_top_answers(results), on="category", how="left")
    hits = [top is not None and is_correct(top, ref, kind, opts) for top, ref, kind, opts in
            rows.select("top", "reference", "answer_type", "options").iter_rows()]
    frame = rows.select("category").with_columns(hit=pl.Series(hits, dtype=pl.Boolean))
    per = frame.group_by("category").agg(pl.col("hit").sum(), n=pl.len()).sort("category")
    return {row["category"]: row["hit"] / row["n"] for row in per.iter_rows(named=True)}


def distinct_answers(results: pl.DataFrame) -> dict[str, int]:
    """How many different valid answers the model gives per category: 1 or 2 means it has collapsed."""
    per = results.group_by("category").agg(pl.col("parsed").drop_nulls().n_unique()).sort("category")
    return dict(per.iter_rows())


def valid_answer_rate(results: pl.DataFrame) -> float:
    return results["parsed"].is_not_null().sum() / max(1, results.height)


def grade_sampled(rows: Sequence[dict], completions: Sequence[Sequence[str]], key: str) -> pl.DataFrame:
    """Every sampled answer graded once: ``key`` (the row's id column), ``k``, ``completion``, ``correct``."""
    graded_rows = [{key: row[key], "k": k, "completion": text,
                    "correct": is_correct(text, row["answer"], row["answer_type"], row["options"])}
                   for row, texts in zip(rows, completions, strict=True) for k, text in enumerate(texts)]
    schema = {key: pl.String, "k": pl.Int32, "completion": pl.String, "correct": pl.Boolean}
    return pl.DataFrame(graded_rows, schema=schema)


def pass_rates(graded_samples: pl.DataFrame, key: str) -> pl.DataFrame:
    """``key`` and ``pass_rate`` (the share of correct sampled answers), in the order keys first appear."""
    return graded_samples.group_by(key, maintain_order=True).agg(
        pass_rate=pl.col("correct").sum() / pl.len())
