"""The audit's params section (stage audit; dpe audit)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipeline.config.sections import Section, StageParams
from pipeline.training.params import TrainConfig


class AuditConfig(Section):
    """What each round's audit compares against (stage: audit; dpe audit)."""

    control: str | None = Field("uniform", description=(
        "the DVC experiment whose rounds are the control arm (null: none); dpe audit --run-control runs it"))
    control_set: dict[str, Any] = Field(default_factory=lambda: {"mixture.strategy": "uniform"}, description=(
        "the `dvc exp run -S key=value` overrides that make the control arm from this params file"))
    ablate_min_kept: int = Field(1, ge=1, description=(
        "dpe audit --ablate: a cell with at least this many kept samples gets its own ablation experiment"))
    noise_runs: int = Field(2, ge=0, description=(
        "dpe audit --ablate: retrainings of the full round with other GRPO seeds (train.reseed), the noise an "
        "ablation's effect must exceed to count"))


class AuditParams(StageParams):
    """The sections the audit stage reads."""

    audit: AuditConfig = AuditConfig()
    train: TrainConfig = TrainConfig()  # its ablate: the cells a round's training left out
