"""The whole of params.yaml, assembled from each phase's schema: what ``dpe check`` validates.

Stages do not import this module: each declares and validates only the sections it reads
(``pipeline.config.sections.StageParams``), so a phase's schema reruns only that phase's stages. Here the file is
checked as a whole, with the rules that span sections (the rounds' chain, train.ablate's rounds, the probe
apart from the evaluation set). What needs a model is ``pipeline.models.bases.deep_check`` (``dpe check --deep``).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, model_validator

from pipeline.audit.params import AuditConfig
from pipeline.bootstrap.params import BootstrapConfig
from pipeline.config.sections import ParamsError, RoundSeeded, Section, parse, read
from pipeline.diagnosis.params import (
    DiagnoseConfig,
    EvaluationConfig,
    ProbeConfig,
    disjoint,
)
from pipeline.generation.params import GenerateConfig
from pipeline.mixture.params import MixtureConfig
from pipeline.models.params import AnswerConfig, ClipModelConfig, ModelConfig
from pipeline.pool.params import EmbedConfig, PoolConfig, SearchConfig
from pipeline.training.params import FilterConfig, TrainConfig
from pipeline.world.params import TestSetConfig, WorldConfig

__all__ = ["Params", "ParamsError", "RoundConfig", "load_params", "parse_params"]


class RoundConfig(Section):
    prev: str


ROUND_NAME = re.compile(r"^r[0-9]+$")


class Params(RoundSeeded):
    model_config = Section.model_config  # the whole file: an unknown top-level key is an error here

    world: WorldConfig = WorldConfig()
    testset: TestSetConfig = TestSetConfig()
    bootstrap: BootstrapConfig = BootstrapConfig()
    model: ModelConfig = ModelConfig()
    clip: ClipModelConfig = ClipModelConfig()
    pool: PoolConfig = PoolConfig()
    embed: EmbedConfig = EmbedConfig()
    search: SearchConfig = SearchConfig()
    answer: AnswerConfig = AnswerConfig()
    diagnose: DiagnoseConfig = DiagnoseConfig()
    mixture: MixtureConfig = MixtureConfig()
    generate: GenerateConfig = GenerateConfig()
    filter: FilterConfig = FilterConfig()
    train: TrainConfig = TrainConfig()
    probe: ProbeConfig = ProbeConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    audit: AuditConfig = AuditConfig()
    rounds: dict[str, RoundConfig] = Field(
        default_factory=lambda: {"r1": RoundConfig(prev="r0"), "r2": RoundConfig(prev="r1")})

    @model_validator(mode="after")
    def _probe_is_not_evaluation(self) -> "Params":
        disjoint(self.probe, self.evaluation)
        return self

    @model_validator(mode="after")
    def _gate_is_not_evaluation(self) -> "Params":
        gate = self.train.gate
        if gate.enabled and Path(gate.source).resolve() == Path(self.evaluation.source).resolve():
            raise ValueError(f"train.gate.source and evaluation.source are the same file ({gate.source}); the gate "
                             "selects each round's model, so it must not read the set results are reported on")
        return self

    @model_validator(mode="after")
    def _rounds_chain(self) -> "Params":
        known = {"r0"}
        for name, rnd in self.rounds.items():
            if not ROUND_NAME.match(name) or name == "r0":
                raise ValueError(f"rounds.{name}: round names are r1, r2, ... (r0 is the base model)")
            if rnd.prev not in known:
                raise ValueError(
                    f"rounds.{name}.prev = {rnd.prev!r}: must name r0 or a round listed before {name} "
                    f"(known: {sorted(known)})"
                )
            known.add(name)
        return self

    @model_validator(mode="after")
    def _ablate_names_rounds(self) -> "Params":
        unknown = sorted(set(self.train.ablate) - set(self.rounds))
        if unknown:
            raise ValueError(f"train.ablate names {unknown}, which are not in rounds ({sorted(self.rounds)})")
        return self


def parse_params(raw: dict | None) -> Params:
    return parse(raw, Params)


def load_params(path: str | Path = "params.yaml") -> Params:
    return read(path, Params)


def with_overrides(raw: dict, overrides: dict) -> dict:
    """A copy of raw params with dotted ``overrides`` set (``{"train.beta": 0.1}``, as `dvc exp run -S` sets them)."""
    import copy

    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out
