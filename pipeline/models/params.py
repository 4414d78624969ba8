"""The models' params sections: round r0's VLM (``model``), the pool's CLIP (``clip``) and how every stage asks
the VLM (``answer``), and the tiny CLIP the embedded default trains (``bootstrap.clip``).

Validation here reads no model and reaches no network: whether ``model.base`` is an image-text checkpoint
with a chat template, or ``clip.model`` an open_clip architecture, is checked by the stage that loads it
(bootstrap_vlm, bootstrap_clip) and by ``dpe check --deep``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pipeline.config.sections import Section

EMBEDDED = "embedded"  # model.base / clip.model: the models the bootstrap stages train here


class ClipConfig(Section):
    """The tiny open_clip model the embedded default trains contrastively on the world's captions (round r0)."""

    embed_dim: int = Field(64, ge=8)
    width: int = Field(128, ge=16)
    layers: int = Field(2, ge=1)
    steps: int = Field(300, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-3, gt=0, lt=1)
    type_caption_share: float = Field(0.3, ge=0, le=1, description="captions replaced by the bare type prompt")


class ModelConfig(Section):
    """Round r0: the embedded bootstrap VLM, or a Hugging Face image-text-to-text checkpoint of the user's."""

    revision: str | None = Field(None, description="hub revision (branch, tag or commit) when base is a hub id")
    base: str = Field(EMBEDDED, min_length=1, description="embedded | a checkpoint directory | a hub id")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bfloat16 on a GPU that has it, float32 otherwise")


class ClipModelConfig(Section):
    """The pool's CLIP: the embedded bootstrap one, or any open_clip model."""

    model: str = Field(EMBEDDED, min_length=1, description="embedded | an open_clip architecture | local-dir:<folder>")
    pretrained: str = Field("", description="the architecture's pretrained tag or a local checkpoint file")


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
