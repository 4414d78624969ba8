"""The one typed schema of params.yaml. Every stage validates the whole file before any work.

Each section is a frozen pydantic model that forbids unknown keys, so a typo fails loudly with the
key, the value and what is allowed, instead of silently running with a default.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from pipeline.registry import BACKENDS, EDITS, JUDGES, STRATEGIES

EMBEDDED = "embedded"  # model.base / clip.model: the models the bootstrap stages train here


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorldConfig(Section):
    """The embedded synthetic world: how many images of each kind it renders."""

    image_size: int = Field(112, ge=28, le=1024, multiple_of=28)
    pool_size: int = Field(3000, ge=10, le=10_000_000)
    probe_per_cell: int = Field(192, ge=1)
    eval_per_cell: int = Field(96, ge=1)
    dev_per_cell: int = Field(384, ge=1, description="held-out dev items per cell (how far r0's top-up carries beyond the probe)")
    sft_size: int = Field(12000, ge=10)
    clip_size: int = Field(3000, ge=10)


class ClipConfig(Section):
    """Tiny open_clip model trained contrastively on world captions (round r0)."""

    embed_dim: int = Field(64, ge=8)
    width: int = Field(128, ge=16)
    layers: int = Field(2, ge=1)
    steps: int = Field(300, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-3, gt=0, lt=1)
    type_caption_share: float = Field(0.3, ge=0, le=1, description="captions replaced by the bare type prompt")


DEFAULT_SKEW = {"colour": 3, "counting": 3, "spatial": 1, "size": 2, "arithmetic": 0.1, "text": 0.02}
DEFAULT_WEAK = {"arithmetic": 0.33, "text": 0.33}
# The zero-shot image-type tags of the embedded world's pool; a user's pool names its own types.
DEFAULT_TYPE_PROMPTS = {
    "shapes": "an image of geometric shapes", "objects": "an image of coloured dots",
    "bar_chart": "an image of a bar chart", "line_chart": "an image of a line chart",
    "document": "an image of a text document", "table": "an image of a table of numbers",
}


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
    weak: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEAK),
                                   description="weak category -> target probe accuracy (ties between top-up chunks)")
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


class ModelConfig(Section):
    """Round r0: the embedded bootstrap VLM, or a Hugging Face image-text-to-text checkpoint of the user's."""

    revision: str | None = Field(None, description="hub revision (branch, tag or commit) when base is a hub id")
    base: str = Field(EMBEDDED, min_length=1, description="embedded | a checkpoint directory | a hub id")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bfloat16 on a GPU that has it, float32 otherwise")

    @field_validator("base")
    @classmethod
    def _usable_base(cls, value: str, info: ValidationInfo) -> str:
        if value != EMBEDDED:
            from pipeline.models.bases import pin_base

            pin_base(value, info.data.get("revision"))  # raises naming model.base; the pin itself is made later
        return value


class ClipModelConfig(Section):
    """The pool's CLIP: the embedded bootstrap one, or any open_clip model."""

    model: str = Field(EMBEDDED, min_length=1, description="embedded | an open_clip architecture | local-dir:<folder>")
    pretrained: str = Field("", description="the architecture's pretrained tag or a local checkpoint file")

    @model_validator(mode="after")
    def _usable_clip(self) -> "ClipModelConfig":
        if self.model != EMBEDDED:
            from pipeline.models.bases import clip_name

            clip_name(self.model, self.pretrained)
        return self


class SourceConfig(Section):
    """One pool source. A bare string in ``pool.sources`` is shorthand for ``{uri: <string>}``."""

    uri: str = Field(min_length=1, description="local path or fsspec URL (s3://, gs://, memory://, ...)")
    kind: Literal["auto", "folder", "parquet", "arrow", "lance"] = "auto"
    glob: str | None = Field(None, description="folder only: pattern below the folder, e.g. '**/*.jpg'")
    image_column: str = "image"  # table sources: a column of encoded image bytes ...
    path_column: str = "path"    # ... or of file paths (relative ones resolve against the table's folder)
    uri_column: str = "uri"      # optional: where each row came from (default: <source>#<row>)

    @field_validator("glob")
    @classmethod
    def _glob_stays_inside(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.replace("\\", "/").split("/")):
            raise ValueError(f"glob {value!r} reaches outside the folder; give a pattern below it, e.g. '**/*.jpg'")
        return value


class PoolConfig(Section):
    """Where the unlabeled image pool comes from and where the lake lives."""

    sources: list[SourceConfig] = Field(default_factory=lambda: [SourceConfig(uri="data/world/pool.parquet")],
                                        min_length=1)
    lake: str = "data/lake"
    max_pixels: int = Field(16_000_000, ge=1, description="larger images are quarantined (decompression bombs)")
    max_bytes: int = Field(50_000_000, ge=1, description="larger files are quarantined before they are decoded")
    max_side: int = Field(2048, ge=16, description="longer sides are downscaled to this when ingesting")
    batch_size: int = Field(4096, ge=1, description="rows per Lance commit")
    engine: Literal["local", "ray"] = "local"  # ray: ingest and embed in Ray Data workers (extra [ray])

    @field_validator("sources", mode="before")
    @classmethod
    def _bare_uris(cls, value):
        if isinstance(value, list):
            return [{"uri": v} if isinstance(v, str) else v for v in value]
        return value


class EmbedConfig(Section):
    batch_size: int = Field(128, ge=1)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 where the CPU/GPU has native bf16
    workers: int = Field(2, ge=1, description="decode/preprocess threads beside the model")
    type_prompts: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TYPE_PROMPTS), min_length=1,
                                         description="image type -> CLIP text prompt for zero-shot type tags")


class SearchConfig(Section):
    """The retriever's vector search: exact below ``index_threshold`` rows, IVF_FLAT at or above it."""

    index_threshold: int = Field(100_000, ge=1)
    partitions: int = Field(0, ge=0, description="IVF partitions; 0 = about sqrt(rows)")
    nprobes: int = Field(24, ge=1, description="partitions searched per query (recall vs latency)")


class AnswerConfig(Section):
    """How every stage that asks the VLM (diagnose, filter, train, evaluate, bootstrap) gets an answer."""

    max_new_tokens: int = Field(8, ge=1, description="answer length for every prompt")
    batch_size: int = Field(32, ge=1, description="prompts per greedy generate call")
    engine: Literal["transformers", "vllm", "auto"] = Field(
        "transformers", description="who answers for diagnose, filter and evaluate (auto: vllm when installed)")

    @field_validator("engine")
    @classmethod
    def _vllm_installed(cls, value: str) -> str:
        import importlib.util

        if value == "vllm" and importlib.util.find_spec("vllm") is None:
            raise ValueError("vLLM is not installed; pip install vllm (a GPU machine), or use transformers or auto")
        return value


def _registered(kind: str, names, value: str) -> str:
    if value not in names and ":" not in value:
        raise ValueError(f"unknown {kind} {value!r}; use one of {sorted(names)} or 'package.module:name'")
    return value


class DiagnoseConfig(Section):
    prior_strength: float = Field(4.0, ge=0, description="Beta prior pseudo-count towards the global mean")
    brief_cells: int = Field(4, ge=1, description="weakest cells described in the weakness brief")
    min_n: int = Field(3, ge=1, description="cells with fewer graded items get the global mean (unreliable)")
    by_error_type: bool = Field(False, description="also report failure rates per cell × error type")
    judge: str = Field("world", description="who attributes failures to an error type (registry.JUDGES)")
    judge_url: str = Field("http://127.0.0.1:8000/v1", description="openai judge: OpenAI-compatible base URL")
    judge_model: str = "gpt-4o-mini"
    judge_api_key_env: str = Field("OPENAI_API_KEY", description="name of the env var holding the key (never the key)")
    judge_retries: int = Field(2, ge=0, description="openai judge: retries of a transport error or an invalid reply")
    judge_timeout: float = Field(60.0, gt=0, description="openai judge: seconds per request")

    @field_validator("judge")
    @classmethod
    def _known_judge(cls, value: str) -> str:
        return _registered("judge", JUDGES, value)


class MixtureConfig(Section):
    """How a diagnosis becomes quotas (see pipeline/mixture.py for the strategies)."""

    strategy: str = "dro"
    budget: int = Field(64, ge=1)
    floor: int = Field(1, ge=0, description="minimum quota of every cell")
    cap: float = Field(1.0, gt=0, le=1, description="maximum share of one cell (excess spread over the others)")
    temperature: float = Field(0.1, gt=0, description="softmax_error: lower concentrates on the worst cells")
    dro_step: float = Field(2.0, ge=0, description="dro: step size of the multiplicative update")
    static: dict[str, float] = Field(default_factory=dict,
                                     description="static: share per cell (category/image_type) or per category")

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


class WorldAgentsConfig(Section):
    """The embedded world's offline agents: they read the pool's hidden scene records."""

    scenes: str = Field("data/world/scenes.parquet", description="scene records of the world's pool images")


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
        return _registered("agent backend", BACKENDS, value)

    @field_validator("edits")
    @classmethod
    def _known_edits(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EDITS))
        if unknown:
            raise ValueError(f"unknown edit operations {unknown}; use some of {sorted(EDITS)}")
        return value


class FilterConfig(Section):
    n_samples: int = Field(8, ge=1)
    temperature: float = Field(1.0, gt=0)
    band_low: float = Field(0.1, ge=0, le=1)
    band_high: float = Field(0.9, ge=0, le=1)
    min_keep: int = Field(16, ge=0, description="fill up to this many with nearest-to-band samples, recorded")
    max_keep: int = Field(0, ge=0, description=(
        "keep at most this many (0: no cap), those nearest the band's middle first: min_keep = max_keep = N "
        "trains every arm of a comparison on exactly N samples"))
    batch_size: int = Field(8, ge=1, description="questions per sampled generate call (each n_samples times)")
    label: Literal["reference", "majority"] = Field("reference", description=(
        "what sampled answers are graded and trained against: the agent's answer, or the model's own majority"))

    @model_validator(mode="after")
    def _band(self) -> "FilterConfig":
        if self.band_low > self.band_high:
            raise ValueError(f"band_low ({self.band_low}) must be <= band_high ({self.band_high})")
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


class TrainConfig(Section):
    learning_rate: float = Field(5e-5, gt=0, lt=1)
    num_generations: int = Field(8, ge=2)
    prompts_per_step: int = Field(4, ge=1)
    epochs: float = Field(2.0, gt=0)
    max_steps: int = Field(60, ge=1)
    beta: float = Field(0.1, ge=0)
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
    ablate: dict[str, list[str]] = Field(default_factory=dict, description=(
        "round -> cells (category/image_type) whose kept samples that round's training leaves out: the audit's "
        "ablation experiments set it (dpe audit --ablate); {} in a normal run"))

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
                             "pipeline/overlays/accelerate/zero3_8gpu.yaml, or null")
        return value

    @model_validator(mode="after")
    def _batch_splits(self) -> "TrainConfig":
        per_step = self.prompts_per_step * self.num_generations
        if per_step % self.processes:
            raise ValueError(f"processes ({self.processes}) must divide prompts_per_step x num_generations "
                             f"({per_step}): each process takes an equal share of every step's completions")
        return self


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


def left_out(ablated: list[str], cell: str | None) -> bool:
    """Whether train.ablate's ``ablated`` names ``cell``, by itself or by its category: the one rule the training,
    the audit's counts and the lineage all follow.

    >>> left_out(["text"], "text/document"), left_out(["size/shapes"], "size/objects"), left_out([], None)
    (True, False, False)
    """
    return bool(ablated) and (cell in ablated or (cell or "").split("/")[0] in ablated)


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


class RoundConfig(Section):
    prev: str


ROUND_NAME = re.compile(r"^r[0-9]+$")


class Params(Section):
    seed: int = 0
    round_seed: int | None = Field(None, description=(
        "seed of the rounds' draws (probe subset, generation, filter rollouts, GRPO); null: seed. Varying it "
        "alone repeats the spiral from the same world and r0: the seeds of a data-efficiency comparison"))
    world: WorldConfig = WorldConfig()
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
        if Path(self.probe.source).resolve() == Path(self.evaluation.source).resolve():
            raise ValueError(f"probe.source and evaluation.source are the same file ({self.probe.source}); the "
                             "probe steers rounds, so it must be disjoint from the evaluation set")
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

    def seed_of(self, round_name: str) -> int:
        """The seed of one round's draws: distinct per round and stable, from ``round_seed`` (or ``seed``)."""
        base = self.seed if self.round_seed is None else self.round_seed
        return int(hashlib.sha256(f"{base}:{round_name}".encode()).hexdigest()[:8], 16)


class ParamsError(ValueError):
    """params.yaml is invalid; the message names each bad key, its value and what is allowed."""


def _describe(err: ValidationError, raw: dict) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (value {e['input']!r}); remove it or fix its spelling")
        else:
            lines.append(f"  {key} = {e.get('input')!r}: {e['msg']}")
    return "invalid params.yaml:\n" + "\n".join(lines)


SECRET_KEY = re.compile(r"(^|_)(api_?key|secret|secret_key|access_key|password|passwd|token|bearer)$", re.I)
SECRET_VALUE = re.compile(r"^(sk-|sk_live_|rk_live_|AKIA|ASIA|ghp_|github_pat_|hf_|xox[abp]-|AIza)[A-Za-z0-9_\-]{8,}")


def secrets_in(tree, prefix: str = "") -> list[str]:
    """Dotted keys of ``tree`` that hold what looks like a credential: a key named like one (``api_key``,
    ``token``, ``password``; not ``*_env``, which names a variable) with a text value, or a value shaped like a
    known key format (``sk-...``, ``AKIA...``, ``hf_...``).

    >>> secrets_in({"generate": {"openai": {"api_key_env": "OPENAI_API_KEY", "api_key": "x"}},
    ...             "pool": {"sources": ["s3://b/k?token=1", "sk-abcdefghijklmnop"]}})
    ['generate.openai.api_key', 'pool.sources.1']
    """
    found = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else []
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            found += secrets_in(value, f"{name}.")
        elif isinstance(value, str) and value and (SECRET_KEY.search(str(key)) or SECRET_VALUE.match(value)):
            found.append(name)
    return found


def parse_params(raw: dict) -> Params:
    leaked = secrets_in(raw or {})
    if leaked:  # the value is never echoed: this message reaches logs
        raise ParamsError(f"invalid params.yaml: {', '.join(leaked)} hold what looks like a credential. Keys never go "
                          "in params (they would land in dvc.lock, git history and logs): put the key in an "
                          "environment variable and name that variable in the section's *_env setting "
                          "(e.g. generate.openai.api_key_env: OPENAI_API_KEY)")
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ParamsError(_describe(err, raw)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found; run from the repository root or pass --params")
    return parse_params(yaml.safe_load(path.read_text()))
