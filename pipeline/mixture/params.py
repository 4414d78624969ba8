"""The `mixture` section: how a diagnosis becomes quotas."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from pipeline.config.registry import STRATEGIES
from pipeline.config.sections import Section, StageParams


class MixtureConfig(Section):
    """How a diagnosis becomes quotas (see pipeline/mixture/mixture.py for the strategies)."""

    strategy: str = "dro"
    budget: int = Field(192, ge=1)
    floor: int = Field(1, ge=0, description="minimum quota of every cell")
    cap: float = Field(1.0, gt=0, le=1, description="maximum share of one cell (excess spread over the others)")
    temperature: float = Field(0.1, gt=0, description="softmax_error: lower concentrates on the worst cells")
    dro_step: float = Field(2.0, ge=0, description="dro: step size of the multiplicative update")
    static: dict[str, float] = Field(default_factory=dict,
                                     description="static: share per cell (category/image_type) or per category")
    exclude: list[str] = Field(default_factory=list, description=(
        "cells (category/image_type) or whole categories that get no quota, not even the floor: those RL "
        "cannot move (a category the model answers by its answer prior) stop absorbing the budget"))

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown mixture strategy {value!r}; use one of {sorted(STRATEGIES)}")
        return value

    @model_validator(mode="after")
    def _static_shares(self) -> "MixtureConfig":
        if any(v < 0 for v in self.static.values()):
            raise ValueError(f"static shares must be >= 0, got {self.static}")
        if self.strategy == "static" and sum(self.static.values()) <= 0:
            raise ValueError("strategy 'static' needs shares in mixture.static, e.g. {colour: 1, counting: 2}")
        return self


class MixtureParams(StageParams):
    mixture: MixtureConfig = MixtureConfig()
