"""A round's LoRA adapter as its DVC out: megabytes instead of a copy of the model.

``chain: stack`` saves one adapter holding every LoRA round since the last full folder: the previous stack's
update and this round's are concatenated along the rank (``B1·s1·A1 + B2·s2·A2 = [B1·s1 B2·s2]·[A1; A2]``,
scaling 1), so the adapter applies straight to a full model and stock ``transformers`` + ``peft`` load it in
one call. ``chain: merge`` saves this round's update only, on top of the previous round's folder; the loader
merges the chain in order. Either way the round trains on the previous model with everything merged in.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pipeline.models.checkpoint import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    BASE_REFERENCE,
    LINEAGE,
    chain,
    is_stack,
)
from pipeline.storage.artifacts import read_json, write_json
from pipeline.storage.schemas import BaseReference, Lineage

log = logging.getLogger(__name__)


def lora_scaling(config: dict) -> float:
    rank = config["r"]
    return config["lora_alpha"] / (rank ** 0.5 if config.get("use_rslora") else rank)


def stack_updates(previous: dict, prev_scale: float, new: dict, new_scale: float) -> dict:
    """Concatenate two LoRA state dicts (PEFT's saved key names) along the rank, with scaling folded into B."""
    import torch

    if previous.keys() != new.keys():
        raise ValueError("train.lora.target_modules changed between stacked rounds; use chain: merge, or keep the "
                         "same target modules for every LoRA round")
    out = {}
    for key, value in new.items():
        if ".lora_A." in key:
            out[key] = torch.cat([previous[key], value], dim=0)
        elif ".lora_B." in key:
            out[key] = torch.cat([previous[key] * prev_scale, value * new_scale], dim=1)
        else:
            out[key] = value
    return out


def base_source(folder: Path) -> str:
    """What an adapter on ``folder`` names as ``base_model_name_or_path`` (what stock loaders read): the full
    weights when the folder is full weights or a base pin, else the folder itself (a merge chain)."""
    resolved = chain(folder)
    if resolved.adapters:
        return str(folder)
    if (resolved.root / BASE_REFERENCE).exists():
        return read_json(resolved.root / BASE_REFERENCE, BaseReference).source
    return str(resolved.root)


def save_adapter(peft_model, previous: str | Path, out: str | Path, mode: str) -> None:
    """Save the trained adapter of ``peft_model`` (trained on top of ``previous``) to ``out`` as ``mode``."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    previous, out = Path(previous), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = peft_model.peft_config["default"]
    weights = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
    extend = mode == "stack" and is_stack(previous)
    root = read_json(previous / LINEAGE, Lineage).root if extend else str(previous)
    config.base_model_name_or_path = base_source(Path(root))
    config.save_pretrained(str(out))
    rank = config.r
    if extend:
        prev_config = json.loads((previous / ADAPTER_CONFIG).read_text())
        weights = stack_updates(load_file(str(previous / ADAPTER_WEIGHTS)), lora_scaling(prev_config), weights,
                                lora_scaling(config.to_dict()))
        rank += prev_config["r"]
        saved = json.loads((out / ADAPTER_CONFIG).read_text()) | {"r": rank, "lora_alpha": rank, "use_rslora": False}
        (out / ADAPTER_CONFIG).write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    save_file(weights, str(out / ADAPTER_WEIGHTS))
    write_json(out / LINEAGE, Lineage(root=root, chain=mode))
    log.info("saved LoRA adapter (%s, rank %d) of %.1f MB on %s", mode, rank,
             (out / ADAPTER_WEIGHTS).stat().st_size / 1e6, root)
