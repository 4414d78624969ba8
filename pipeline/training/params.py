"""Training's params sections (stages filter, train): the pass-rate filter and GRPO."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.sections import RoundSeeded, Section
from pipeline.diagnosis.params import ItemSetConfig
from pipeline.models.params import AnswerConfig, ModelConfig


class FilterConfig(Section):
    n_samples: int = Field(8, ge=1)
    temperature: float = Field(1.0, gt=0)
    band_low: float = Field(0.1, ge=0, le=1)
    band_high: float = Field(0.9, ge=0, le=1)
    min_keep: int = Field(16, ge=0, description="fill up to this many with nearest-to-band samples, recorded")
    max_keep: int = Field(0, ge=0, description=(
        "keep at most this many (0: no cap), those nearest the band's middle first: min_keep = max_keep = N "
        "trains every arm of a comparison on exactly N samples"))
    rehearsal: float = Field(0.0, ge=0, le=1, description=(
        "add solved samples (pass rate above the band), up to this share of the kept count, from every cell in "
        "turn: GRPO's only gradient on them is the KL term, which holds what the round should not lose"))
    max_label_share: float = Field(1.5, ge=0, description=(
        "keep at most ceil(max_label_share * kept / k) samples of one label per question template (k: its distinct "
        "labels; 0: no cap): the band favours the model's favourite answers, and a skewed kept set trains a prior"))
    batch_size: int = Field(8, ge=1, description="questions per sampled generate call (each n_samples times)")
    label: Literal["reference", "majority"] = Field("reference", description=(
        "what sampled answers are graded and trained against: the agent's answer, or the model's own majority"))

    @model_validator(mode="after")
    def _band(self) -> "FilterConfig":
        if self.band_low > self.band_high:
            raise ValueError(f"band_low ({self.band_low}) must be <= band_high ({self.band_high})")
        if 0 < self.max_label_share < 1:
            raise ValueError(f"max_label_share ({self.max_label_share}) must be 0 (no cap) or >= 1: below 1 even "
                             "perfectly balanced labels would be cut")
        if self.max_keep and self.max_keep < self.min_keep:
            raise ValueError(f"max_keep ({self.max_keep}) must be 0 (no cap) or >= min_keep ({self.min_keep})")
        return self


class LoraSection(Section):
    """A PEFT LoRA adapter per round (``train.lora``), on top of the previous round's model."""

    rank: int = Field(16, ge=1)
    alpha: float = Field(32.0, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="module names (suffixes) that get an adapter, or all-linear")
    chain: Literal["stack", "merge"] = Field("stack", description=(
        "stack: a round's adapter holds every LoRA round since the last full model (loads in one call); "
        "merge: only its own round, on the previous round's merged model"))


class GateConfig(ItemSetConfig):
    """The round gate (``pipeline/training/gate.py``): the round's model must pass a dev check, or a weaker step
    of it does, or the previous model is carried over."""

    enabled: bool = Field(True, description="check the trained round on held-out dev items before it replaces "
                          "the previous model")
    source: str = "data/world/dev.parquet"
    half: Literal["gate", "all"] = Field("gate", description=(
        "gate: the half of every cell that rounds may read (the other, choose, is kept for choosing defaults); "
        "all: every item (a source of your own kept for the gate alone)"))
    steps: list[float] = Field(default_factory=lambda: [1.0, 0.5, 0.25], min_length=1, description=(
        "candidates: the trained update scaled by each step (1: as trained; 0.5: halfway from the previous model)"))
    min_gain: float = Field(0.0, description=(
        "the one-sided lower bound of a candidate's overall paired gain must exceed this"))
    margin: float = Field(0.05, gt=0, lt=1, description=(
        "non-inferiority margin: every category's one-sided lower bound must be above -margin"))
    alpha: float = Field(0.05, gt=0, lt=1, description=(
        "the gate's error rate: a candidate that changed nothing passes at most this often (each step's tests at "
        "alpha / len(steps))"))

    @field_validator("steps")
    @classmethod
    def _steps_in_range(cls, value: list[float]) -> list[float]:
        bad = [s for s in value if not 0 < s <= 1]
        if bad:
            raise ValueError(f"steps {bad}: each must be in (0, 1]; the previous model (0) is always the fallback")
        return value


class TrainConfig(Section):
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    num_generations: int = Field(8, ge=2)
    prompts_per_step: int = Field(8, ge=1)
    epochs: float = Field(4.0, gt=0)
    max_steps: int = Field(60, ge=1)
    beta: float = Field(0.1, ge=0)
    reference: Literal["previous", "base"] = Field("base", description=(
        "the KL term's reference: the base model r0 (drift cannot accumulate across rounds; full fine-tuning), "
        "or the round's starting model"))
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="share of the round's steps with a rising learning rate")
    scheduler: Literal["constant", "cosine", "linear"] = Field("constant", description="learning rate schedule")
    temperature: float = Field(1.0, gt=0)
    accuracy_weight: float = Field(0.9, ge=0)
    format_weight: float = Field(0.1, ge=0)
    freeze_vision: bool = Field(True, description="train only the language model; keep the vision tower fixed")
    lora: LoraSection | None = Field(None, description="empty: full fine-tuning; else a PEFT LoRA adapter per round")
    save_steps: int = Field(20, ge=0, description="trainer checkpoints every this many steps (0: none); resume")
    processes: int = Field(1, ge=1, description="training processes (accelerate launch) when > 1")
    accelerate_config: str | None = Field(None, description="accelerate config file (DeepSpeed ZeRO-3, FSDP)")
    vllm: Literal["off", "colocate", "server"] = Field("off", description="GRPO rollouts through trl's vLLM")
    vllm_server: str | None = Field(None, description="vllm: server, the trl vllm-serve URL")
    vllm_gpu_memory: float = Field(0.3, gt=0, le=1, description="vllm: colocate, its share of GPU memory")
    reseed: int = Field(0, ge=0, description=(
        "added to the round's seed for GRPO alone: the audit's noise runs retrain a round on the same data with "
        "other seeds, to measure what retraining alone changes; 0 in a normal run"))
    blind: bool = Field(False, description=(
        "the blind control: every kept sample's image replaced by one constant grey image before GRPO (run it "
        "with train.gate.enabled: false): its gain must be about zero, or the round's gain does not come from the "
        "images"))
    ablate: dict[str, list[str]] = Field(default_factory=dict, description=(
        "round -> cells (category/image_type) whose kept samples that round's training leaves out: the audit's "
        "ablation experiments set it (dpe audit --ablate); {} in a normal run"))
    gate: GateConfig = GateConfig()

    @field_validator("lora", mode="before")
    @classmethod
    def _empty_is_full(cls, value):
        return None if value == {} else value

    @field_validator("vllm", mode="before")
    @classmethod
    def _unquoted_off(cls, value):
        """`dvc exp run -S` rewrites params.yaml as YAML 1.2 and drops the quotes of "off"; a YAML 1.1 reader
        then sees the boolean false."""
        return "off" if value is False else value

    @field_validator("accelerate_config")
    @classmethod
    def _config_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file {value!r}; give an accelerate config file (accelerate config), e.g. "
                             "pipeline/config/overlays/accelerate/zero3_8gpu.yaml, or null")
        return value

    @model_validator(mode="after")
    def _reference_needs_full_weights(self) -> "TrainConfig":
        if self.lora is not None and self.reference == "base" and self.beta:
            raise ValueError("train.reference: base needs full fine-tuning (under train.lora trl's reference is the "
                             "round's starting model with the adapter off); set train.reference: previous with lora")
        return self

    @model_validator(mode="after")
    def _blind_is_ungated(self) -> "TrainConfig":
        if self.blind and self.gate.enabled:
            raise ValueError("train.blind: true is the blind control, which reports what its training did: set "
                             "train.gate.enabled: false with it (a gate would carry most blind rounds over)")
        return self

    @model_validator(mode="after")
    def _batch_splits(self) -> "TrainConfig":
        per_step = self.prompts_per_step * self.num_generations
        if per_step % self.processes:
            raise ValueError(f"processes ({self.processes}) must divide prompts_per_step x num_generations "
                             f"({per_step}): each process takes an equal share of every step's completions")
        return self


def left_out(ablated: list[str], cell: str | None) -> bool:
    """Whether train.ablate's ``ablated`` names ``cell``, by itself or by its category: the one rule the training,
    the audit's counts and the lineage all follow.

    >>> left_out(["text"], "text/document"), left_out(["size/shapes"], "size/objects"), left_out([], None)
    (True, False, False)
    """
    return bool(ablated) and (cell in ablated or (cell or "").split("/")[0] in ablated)


class FilterParams(RoundSeeded):
    filter: FilterConfig = FilterConfig()
    answer: AnswerConfig = AnswerConfig()  # its max_new_tokens
    model: ModelConfig = ModelConfig()  # its dtype


class TrainParams(RoundSeeded):
    train: TrainConfig = TrainConfig()
    answer: AnswerConfig = AnswerConfig()  # its max_new_tokens
    model: ModelConfig = ModelConfig()  # its dtype
