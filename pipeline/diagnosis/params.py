"""The diagnosis' params sections (stages diagnose, evaluate): the judge, the probe set, the evaluation set."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.registry import JUDGES
from pipeline.config.sections import RoundSeeded, Section, StageParams, registered
from pipeline.models.params import AnswerConfig, ModelConfig


class DiagnoseConfig(Section):
    prior_strength: float = Field(4.0, ge=0, description="Beta prior pseudo-count towards the global mean")
    brief_cells: int = Field(4, ge=1, description="weakest cells described in the weakness brief")
    min_n: int = Field(3, ge=1, description="cells with fewer graded items get the global mean (unreliable)")
    by_error_type: bool = Field(False, description="also report failure rates per cell × error type")
    shuffle: bool = Field(True, description=(
        "also ask every probe item with another image of its cell: the image-shuffle gap says whether a cell is "
        "answered from the image at all (doubles the probe's answering)"))
    judge: str = Field("world", description="who attributes failures to an error type (registry.JUDGES)")
    judge_url: str = Field("http://127.0.0.1:8000/v1", description="openai judge: OpenAI-compatible base URL")
    judge_model: str = "gpt-4o-mini"
    judge_api_key_env: str = Field("OPENAI_API_KEY", description="name of the env var holding the key (never the key)")
    judge_retries: int = Field(2, ge=0, description="openai judge: retries of a transport error or an invalid reply")
    judge_timeout: float = Field(60.0, gt=0, description="openai judge: seconds per request")

    @field_validator("judge")
    @classmethod
    def _known_judge(cls, value: str) -> str:
        return registered("judge", JUDGES, value)


ITEM_FIELDS = ("index", "image", "question", "answer", "options", "category", "image_type")


class ItemSetConfig(Section):
    """A probe or evaluation set: a file whose kind is detected (see pipeline/diagnosis/itemsets.py)."""

    source: str
    kind: Literal["auto", "world", "parquet", "tsv"] = "auto"
    columns: dict[str, str] = Field(default_factory=dict, description="field -> column name in the source")

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(ITEM_FIELDS))
        if unknown:
            raise ValueError(f"unknown fields {unknown}; map any of {list(ITEM_FIELDS)}")
        return value


class ProbeConfig(ItemSetConfig):
    """The probe set the diagnosis grades; by default a fresh stratified subset each round."""

    source: str = "data/world/probe.parquet"
    resample: bool = True
    share: float = Field(0.25, gt=0, le=1, description="share of every cell drawn each round when resampling")


class EvaluationConfig(ItemSetConfig):
    """The held-out set every checkpoint is scored on (never used to steer a round)."""

    source: str = "data/world/eval.parquet"


def disjoint(probe: ProbeConfig, evaluation: EvaluationConfig) -> None:
    """The probe steers rounds, so it must not be the evaluation set; raises naming both."""
    if Path(probe.source).resolve() == Path(evaluation.source).resolve():
        raise ValueError(f"probe.source and evaluation.source are the same file ({probe.source}); the "
                         "probe steers rounds, so it must be disjoint from the evaluation set")


class DiagnoseParams(RoundSeeded):
    diagnose: DiagnoseConfig = DiagnoseConfig()
    probe: ProbeConfig = ProbeConfig()
    evaluation: EvaluationConfig = EvaluationConfig()  # its items are kept out of the probe
    answer: AnswerConfig = AnswerConfig()
    model: ModelConfig = ModelConfig()  # its dtype

    @model_validator(mode="after")
    def _probe_is_not_evaluation(self) -> "DiagnoseParams":
        disjoint(self.probe, self.evaluation)
        return self


class EvaluateParams(StageParams):
    evaluation: EvaluationConfig = EvaluationConfig()
    answer: AnswerConfig = AnswerConfig()
    model: ModelConfig = ModelConfig()  # its dtype
