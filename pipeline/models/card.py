"""Model cards: a short README.md (for people) and card.json (for the metrics) next to a checkpoint.
A card belongs to its checkpoint folder (like config.json), so its file names are fixed here."""

from __future__ import annotations

from pathlib import Path

from pipeline.run.runtime import flatten
from pipeline.storage.artifacts import read_json, write_json
from pipeline.storage.schemas import ModelCard

CARD_JSON = "card.json"


def write_card(directory: str | Path, title: str, summary: str, facts: dict, metrics: dict) -> None:
    directory = Path(directory)
    write_json(directory / CARD_JSON, ModelCard(facts=facts, metrics=metrics))
    lines = [f"# {title}", "", summary, "", "| fact | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in facts.items()]
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in flatten(metrics).items()]
    (directory / "README.md").write_text("\n".join(lines) + "\n")


def read_card_metrics(directory: str | Path) -> dict:
    return read_json(Path(directory) / CARD_JSON, ModelCard).metrics
