"""Evaluation: grade a checkpoint on the held-out set (never used to steer a round), and keep the
accuracy history across rounds: a long table (round, category, accuracy) that each evaluate stage
extends with its round, so the last round's file holds the whole run for ``dvc plots``.

Wrong answers are not sent to a judge here (``judge_status`` is ``skipped``): nothing reads an
attribution of the evaluation set, and a paid judge would be called on every wrong answer of it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from pipeline.storage.schemas import SchemaError

FIELDS = ["round", "category", "accuracy"]


def extend(previous: list[dict], round_name: str, accuracy: dict[str, float]) -> list[dict]:
    """Earlier rounds' rows, then this round's (a rerun of a round replaces its rows).

    >>> extend([{"round": "r0", "category": "overall", "accuracy": 0.2}], "r1", {"overall": 0.25})[1]
    {'round': 'r1', 'category': 'overall', 'accuracy': 0.25}
    """
    rows = [r for r in previous if r["round"] != round_name]
    return rows + [{"round": round_name, "category": c, "accuracy": round(a, 6)} for c, a in sorted(accuracy.items())]


def read(path: str | Path | None) -> list[dict]:
    if not path:
        return []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != FIELDS:
            raise SchemaError(f"{path}: columns {reader.fieldnames}, expected {FIELDS}; rerun the evaluate stage "
                              "that writes it")
        return list(reader)


def write(path: str | Path, rows: list[dict]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def evaluate(model_dir: str, items: list[dict], answering, round_name: str, dtype: str = "auto") -> pl.DataFrame:
    """The checkpoint's greedy answers to ``items``, graded: the evaluation results table."""
    from pipeline.answers.engines import open_engine

    return open_engine(model_dir, answering, dtype).greedy_results(
        items, max_new_tokens=answering.max_new_tokens, round_name=round_name, desc=f"evaluate {round_name}")
