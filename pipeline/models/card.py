"""Model cards: a short README.md (for people) and card.json (for the metrics) next to a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.runtime import flatten


def write_card(directory: str | Path, title: str, summary: str, facts: dict, metrics: dict) -> None:
    directory = Path(directory)
    (directory / "card.json").write_text(json.dumps({"facts": facts, "metrics": metrics}, indent=2, sort_keys=True))
    lines = [f"# {title}", "", summary, "", "| fact | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in facts.items()]
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in flatten(metrics).items()]
    (directory / "README.md").write_text("\n".join(lines) + "\n")


def read_card_metrics(directory: str | Path) -> dict:
    return json.loads((Path(directory) / "card.json").read_text())["metrics"]
