"""The one loader of a round's model, whatever the round folder holds.

A round folder is one of three things:

- full weights (``config.json`` + safetensors): the embedded bootstrap model, or a round trained in full;
- a pin to the user's base model (``base.json``, round r0 with ``model.base``), checked against the base's
  config and weight-index hashes on every load;
- a PEFT LoRA adapter (``adapter_config.json``) plus ``lineage.json`` naming the round folder it applies to.
  With ``train.lora.chain: stack`` the adapter holds every LoRA round since the last full folder (ranks
  concatenated), so stock ``transformers`` + ``peft`` load it in one call; with ``merge`` it holds its own
  round only, on top of the previous round's folder (merged in first).

Every stage answers with the merged model (as fast as full weights); training puts a new adapter on top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.models.bases import BaseModelError, pin_base
from pipeline.storage.artifacts import read_json, write_json
from pipeline.storage.schemas import BaseReference, Lineage

log = logging.getLogger(__name__)

BASE_REFERENCE = "base.json"
LINEAGE = "lineage.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True)
class Chain:
    """How a round folder's model is put together: full weights at ``root`` (a round folder), then ``adapters``
    merged in order. ``source``/``revision`` are where the root's weights really are."""

    root: Path
    source: str
    revision: str | None
    adapters: tuple[Path, ...] = field(default_factory=tuple)



def write_base_reference(out: str | Path, base: str, revision: str | None) -> BaseReference:
    ref = BaseReference(**pin_base(base, revision))
    write_json(Path(out) / BASE_REFERENCE, ref)
    return ref


def is_adapter(folder: str | Path) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).exists()


def is_stack(folder: str | Path) -> bool:
    """An adapter that holds every LoRA round since a full folder (the next stacked round extends it)."""
    return is_adapter(folder) and read_json(Path(folder) / LINEAGE, Lineage).chain == "stack"


def chain(folder: str | Path) -> Chain:
    """Resolve a round folder to its chain, checking a base pin against the base as it is now."""
    folder = Path(folder)
    if is_adapter(folder):
        lineage = read_json(folder / LINEAGE, Lineage)
        below = chain(lineage.root)
        return Chain(below.root, below.source, below.revision, below.adapters + (folder,))
    if (folder / BASE_REFERENCE).exists():
        ref = read_json(folder / BASE_REFERENCE, BaseReference)
        now = pin_base(ref.source, ref.revision)
        changed = [k for k in ("config_hash", "index_hash") if now[k] != getattr(ref, k)]
        if changed:
            raise BaseModelError(f"model.base = {ref.source!r} changed since round r0 pinned it ({', '.join(changed)} "
                                 f"differ); restore it, or rebuild from it: dvc repro -f bootstrap_vlm")
        return Chain(folder, ref.source, ref.revision)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{folder}: not a model folder (no config.json, {BASE_REFERENCE} or "
                                f"{ADAPTER_CONFIG}); run the stage that writes it (dvc repro)")
    return Chain(folder, str(folder), None)


def torch_dtype(name: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def load(folder: str | Path, dtype: str = "auto", device: str | None = "auto"):
    """(model, processor) of a round folder: the root's weights with every adapter of the chain merged in,
    on ``device`` (auto: the GPU when there is one; None: left where it loads, for a trainer to place)."""
    from transformers import AutoModelForImageTextToText

    resolved = chain(folder)
    processor = load_processor(folder)
    model = AutoModelForImageTextToText.from_pretrained(resolved.source, revision=resolved.revision,
                                                        dtype=torch_dtype(dtype))
    for adapter in resolved.adapters:
        model = merge_adapter(model, adapter)
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else None
    return (model.to(device) if device else model), processor


def load_processor(folder: str | Path):
    """The folder's processor (every round saves one), else its base's; left padding for batched generation."""
    from transformers import AutoProcessor

    if (Path(folder) / "tokenizer_config.json").exists():
        processor = AutoProcessor.from_pretrained(folder)
    else:
        resolved = chain(folder)
        processor = AutoProcessor.from_pretrained(resolved.source, revision=resolved.revision)
    processor.tokenizer.padding_side = "left"
    return processor


def merge_adapter(model, adapter: Path):
    from peft import PeftModel

    log.info("merging LoRA adapter %s", adapter)
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
