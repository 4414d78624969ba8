"""The bootstrap's params section (stages bootstrap_clip, bootstrap_vlm): the embedded default's round r0."""

from __future__ import annotations

from pydantic import Field, field_validator

from pipeline.config.sections import Section, Seeded, StageParams
from pipeline.models.params import AnswerConfig, ClipConfig, ClipModelConfig, ModelConfig
from pipeline.pool.params import EmbedConfig
from pipeline.world.params import WorldConfig

DEFAULT_SKEW = {"grid": 0.012, "text": 0.04, "variety": 0.035}
DEFAULT_WEAK = {"grid": 0.3, "text": 0.3, "variety": 0.3}


class VLMConfig(Section):
    """Tiny Qwen2.5-VL trained by SFT on a skewed curriculum (round r0)."""

    vocab_size: int = Field(1024, ge=300)
    text_hidden: int = Field(192, ge=32)
    text_layers: int = Field(2, ge=1)
    vision_hidden: int = Field(128, ge=32)
    vision_layers: int = Field(2, ge=1)
    steps: int = Field(2000, ge=0)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(5e-4, gt=0, lt=1)
    skew: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SKEW),
                                   description="category -> relative SFT share (default 1)")
    examples: int = Field(6000, ge=1, description="question examples drawn from the world's SFT corpus by skew")
    caption_share: float = Field(0.3, ge=0, lt=1, description="share of describe-the-image examples in the warm-up")
    weak: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEAK), description=(
        "weak category -> target chance-normalised probe accuracy (ties between top-up chunks); the categories "
        "r0's checks hold to the weak profile, every other one to the strong"))
    top_up_steps: int = Field(6, ge=1, description="SFT steps per top-up chunk")
    top_up_lr: float = Field(5e-5, gt=0, lt=1)
    top_up_chunks: int = Field(32, ge=0, description="most top-up chunks")
    save_steps: int = Field(250, ge=0, description="warm-up checkpoints every this many steps (0: none); resume")

    @field_validator("skew")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if w < 0}
        if bad:
            raise ValueError(f"skew weights must be >= 0, got {bad}")
        return v

    @field_validator("weak")
    @classmethod
    def _accuracy_targets(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: t for k, t in v.items() if not 0 < t < 1}
        if bad:
            raise ValueError(f"weak targets are accuracies between 0 and 1 (exclusive), got {bad}")
        return v


class BootstrapConfig(Section):
    clip: ClipConfig = ClipConfig()
    vlm: VLMConfig = VLMConfig()


class ClipParams(Seeded):
    bootstrap: BootstrapConfig = BootstrapConfig()
    clip: ClipModelConfig = ClipModelConfig()
    embed: EmbedConfig = EmbedConfig()  # its type_prompts


class VlmParams(Seeded):
    world: WorldConfig = WorldConfig()  # its image_size
    bootstrap: BootstrapConfig = BootstrapConfig()
    answer: AnswerConfig = AnswerConfig()
    model: ModelConfig = ModelConfig()


class ReportParams(StageParams):
    """The report reads two model cards and needs no section."""
