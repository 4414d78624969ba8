"""The `bootstrap_report` stage: round r0's metrics contract, the card metrics of both bootstrapped models (the
CLIP and the VLM) in one file, so a round's metrics start from what r0 measured."""

from __future__ import annotations

from pathlib import Path

from pipeline.models.card import read_card_metrics


def bootstrap_report(clip: str | Path, vlm: str | Path) -> dict:
    return {"clip": read_card_metrics(clip), "vlm": read_card_metrics(vlm)}
