"""Generation's params section (stage generate): the agent backend, its endpoints, budgets, edits, dedup."""

from __future__ import annotations

from pydantic import Field, field_validator

from pipeline.config.registry import BACKENDS, EDITS
from pipeline.config.sections import RoundSeeded, Section, registered
from pipeline.diagnosis.params import ProbeConfig
from pipeline.pool.params import EmbedConfig, PoolConfig, SearchConfig


class WorldErrorsConfig(Section):
    """How often the world's agents get it wrong on purpose (pipeline/world/mistakes.py); all 0: never."""

    writer: float = Field(0.0, ge=0, le=1, description="share of drafts whose answer is a plausible wrong one")
    validator: float = Field(0.0, ge=0, le=1, description=(
        "share of checks where the validator errs on its own (a wrong answer, or an off-cell image passed)"))
    shared: float = Field(0.0, ge=0, le=1, description=(
        "when the writer is wrong, the chance the validator gives the same wrong answer (one model fails alike)"))
    off_cell: float = Field(0.0, ge=0, le=1, description="share of drafts asking about another skill than the cell's")


class WorldAgentsConfig(Section):
    """The embedded world's offline agents: they read the pool's hidden scene records."""

    scenes: str = Field("data/world/scenes.parquet", description="scene records of the world's pool images")
    errors: WorldErrorsConfig = WorldErrorsConfig()


ROLES = ("planner", "selector", "editor", "writer", "validator")


class OpenAIRoleConfig(Section):
    """One role's endpoint; what is left out comes from generate.openai."""

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None


class OpenAIAgentsConfig(Section):
    """The openai backend: any OpenAI-compatible chat endpoint, defaults for every role."""

    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL")
    model: str = "gpt-4o-mini"
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the env var holding the key (never the key)")
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    max_retries: int = Field(2, ge=0, description="the client's retries of transport errors, 429 and 5xx")
    reply_retries: int = Field(1, ge=0, description="times a reply that does not parse is asked again")
    max_tokens: int = Field(400, ge=16)
    max_image_side: int = Field(512, ge=32, description="images are downscaled to this longer side")
    candidates: int = Field(4, ge=1, description="retrieved images the selector looks at")
    roles: dict[str, OpenAIRoleConfig] = Field(default_factory=dict, description="role -> endpoint overrides")
    image_edit: OpenAIRoleConfig = Field(OpenAIRoleConfig(model="gpt-image-1"), description=(
        "the endpoint of the `generative` edit (images.edit); what is left out comes from generate.openai"))

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles {unknown}; use some of {list(ROLES)}")
        return value


DEFAULT_EDITS = ("brightness", "contrast", "blur", "noise", "hflip", "vflip", "pad", "crop", "zoom", "rotate", "box",
                 "marker", "text", "paste")


class DedupConfig(Section):
    """Rejection of samples that repeat an accepted one, this round or earlier (pipeline/generation/dedup.py)."""

    image_distance: int = Field(12, ge=-1, description="perceptual-hash bits (of 256) within which two final "
                                                       "images are the same picture (-1: off)")
    question: bool = Field(True, description="reject the same normalised question about the same source image")
    clip_similarity: float = Field(0.0, ge=0, le=1, description="CLIP cosine at or above which two final images "
                                                                "are the same scene (0: off)")


class GenerateConfig(Section):
    """Generation: the agent backend picked by name, each backend's own section beside it."""

    backend: str = Field("world", description="agent backend; its own settings live in generate.<backend>")
    top_k: int = Field(16, ge=1)
    concurrency: int = Field(1, ge=1, le=256, description="attempts in flight at once (threads)")
    image_queries: int = Field(1, ge=0, description="failed probe images searched image-to-image per attempt")
    max_attempts_per_sample: int = Field(6, ge=1)
    validators: int = Field(1, ge=1, le=5, description=(
        "validator calls per draft, each of which must agree with the writer (benchmarks/label_noise.py)"))
    checkpoint_every: int = Field(16, ge=1, description="attempts per append to the journal (a killed run resumes)")
    budget_calls: int = Field(0, ge=0, description="per-round cap on agent calls (0: none)")
    budget_tokens: int = Field(0, ge=0, description="per-round cap on prompt + completion tokens (0: none)")
    budget_prompt_tokens_per_call: int = Field(0, ge=0, description=(
        "a call whose prompt took more tokens stops the round cleanly (0: none)"))
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="model -> (prompt, completion) price per million tokens, for metrics")
    edits: list[str] = Field(default_factory=lambda: list(DEFAULT_EDITS), min_length=1,
                             description="edit operations the editor may use (registry.EDITS)")
    dedup: DedupConfig = DedupConfig()
    world: WorldAgentsConfig = WorldAgentsConfig()
    openai: OpenAIAgentsConfig = OpenAIAgentsConfig()

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return registered("agent backend", BACKENDS, value)

    @field_validator("edits")
    @classmethod
    def _known_edits(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EDITS))
        if unknown:
            raise ValueError(f"unknown edit operations {unknown}; use some of {sorted(EDITS)}")
        return value


class GenerateParams(RoundSeeded):
    """The sections the generate stage reads."""

    generate: GenerateConfig = GenerateConfig()
    search: SearchConfig = SearchConfig()  # its nprobes
    probe: ProbeConfig = ProbeConfig()  # how to read the failed probe items' images
    pool: PoolConfig = PoolConfig()  # these two rebuild the pinned lake that a fresh clone lacks
    embed: EmbedConfig = EmbedConfig()
