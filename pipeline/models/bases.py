"""The models a user brings: a Hugging Face image-text-to-text checkpoint as round r0 (``model.base``) and an
open_clip model for the pool (``clip.model`` / ``clip.pretrained``).

Neither is copied into the DVC cache. What gets recorded is a pin: where the model is, which revision, and a
hash of its config and weight index. The loader checks that hash every time it loads, so a base that changes
under the pipeline fails loudly instead of silently invalidating every round. The checks here run in the stage
that loads the model (bootstrap_vlm, bootstrap_clip) before it works, and in ``dpe check --deep``; params
validation never runs them, since they read model files and may reach a hub.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

from pipeline.models.params import EMBEDDED

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
METADATA = ["*.json", "*.jinja", "*.txt", "*.model"]


class BaseModelError(ValueError):
    """A ``model.base`` or ``clip.*`` param that names no usable model; the message names the param."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def checkpoint_dir(base: str, revision: str | None = None) -> tuple[Path, str | None]:
    """The local folder of ``base`` (a directory, or a hub id found in the local cache or downloaded when the
    machine reaches a hub) and its revision (the hub commit, None for a plain folder)."""
    path = Path(base).expanduser()
    if path.is_dir():
        return path.resolve(), None
    if not HUB_ID.match(base):
        raise BaseModelError(f"model.base = {base!r}: no such directory, and not a hub id (org/name); give a local "
                             "Hugging Face checkpoint directory, a hub id, or 'embedded'")
    from huggingface_hub import snapshot_download

    try:  # configs, tokenizer and weight index only: checking a base never downloads its weights
        local = Path(snapshot_download(base, revision=revision, allow_patterns=METADATA))
        if not list(local.glob("*.safetensors.index.json")):  # one unsharded file: its header is the index
            local = Path(snapshot_download(base, revision=revision, allow_patterns=METADATA + ["*.safetensors"]))
    except Exception as err:  # offline without a cached copy, unknown repo, unknown revision
        raise BaseModelError(f"model.base = {base!r} (model.revision = {revision!r}): not found locally and not "
                             f"downloadable ({type(err).__name__}: {err}); give a local checkpoint directory, or "
                             "download it first (huggingface-cli download) and set HF_HUB_CACHE") from None
    return local, local.name


def weight_index_hash(folder: Path) -> str:
    """A hash of which tensors the checkpoint holds, with their shapes and dtypes: the sharded index file, or
    the safetensors headers (read without touching the weights, so pinning a 15 GB model takes milliseconds)."""
    index = sorted(folder.glob("*.safetensors.index.json"))
    if index:
        return _sha(b"".join(p.read_bytes() for p in index))
    headers = []
    for shard in sorted(folder.glob("*.safetensors")):
        with shard.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            headers.append(fh.read(size))
    if not headers:
        raise BaseModelError(f"model.base: {folder} has no *.safetensors weights; save the model with "
                             "save_pretrained(safe_serialization=True)")
    return _sha(b"".join(headers))


def has_chat_template(folder: Path) -> bool:
    if any((folder / name).exists() for name in CHAT_TEMPLATE_FILES):
        return True
    for name in ("tokenizer_config.json", "processor_config.json"):
        config = folder / name
        if config.exists() and json.loads(config.read_text()).get("chat_template"):
            return True
    return False


def image_text_model_types() -> set[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return set(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)


def pin_base(base: str, revision: str | None = None) -> dict:
    """Check ``base`` and return its pin (the BaseReference fields). Raises BaseModelError naming the param."""
    folder, resolved_revision = checkpoint_dir(base, revision)
    config_file = folder / "config.json"
    if not config_file.exists():
        raise BaseModelError(f"model.base = {base!r}: {folder} has no config.json; it is not a Hugging Face "
                             "checkpoint (save one with model.save_pretrained and processor.save_pretrained)")
    model_type = json.loads(config_file.read_text()).get("model_type", "")
    if model_type not in image_text_model_types():
        raise BaseModelError(f"model.base = {base!r}: model_type {model_type!r} is not an image-text-to-text "
                             "model (AutoModelForImageTextToText cannot load it); give a vision-language "
                             "checkpoint such as Qwen2.5-VL, SmolVLM, Gemma 3 or LLaVA")
    if not has_chat_template(folder):
        raise BaseModelError(f"model.base = {base!r}: {folder} has no chat template (chat_template.jinja, "
                             "chat_template.json or tokenizer_config.json's chat_template); prompts go through "
                             "the processor's own template, so save the processor with one")
    return {"source": base if not Path(base).expanduser().is_dir() else str(folder), "revision": resolved_revision,
            "model_type": model_type, "config_hash": _sha(config_file.read_bytes()),
            "index_hash": weight_index_hash(folder)}


def clip_name(model: str, pretrained: str | None) -> tuple[str, str | None]:
    """The open_clip (model name, pretrained) for ``clip.model`` / ``clip.pretrained``; raises naming the param."""
    import open_clip

    if model.startswith("local-dir:"):
        folder = Path(model.removeprefix("local-dir:")).expanduser()
        if not (folder / "open_clip_config.json").exists():
            raise BaseModelError(f"clip.model = {model!r}: {folder} has no open_clip_config.json; a local-dir: "
                                 "model is a folder with open_clip_config.json and its weights")
        return f"local-dir:{folder.resolve()}", None
    if model not in open_clip.list_models():
        raise BaseModelError(f"clip.model = {model!r}: not an open_clip architecture; use one of "
                             "open_clip.list_models() (e.g. ViT-B-32), 'local-dir:<folder>', or 'embedded'")
    if not pretrained:
        raise BaseModelError(f"clip.pretrained is empty for clip.model = {model!r}; give a pretrained tag "
                             f"({open_clip.list_pretrained_tags_by_model(model)}) or a checkpoint file")
    file = Path(pretrained).expanduser()
    if file.is_file():
        return model, str(file.resolve())
    tags = open_clip.list_pretrained_tags_by_model(model)
    if pretrained not in tags:
        raise BaseModelError(f"clip.pretrained = {pretrained!r}: no such file, and not a pretrained tag of "
                             f"{model} ({tags})")
    return model, pretrained


def clip_fingerprint(model: str, pretrained: str | None) -> str:
    """Identifies the weights (a local file or folder by its bytes, a tag by name), so vectors from two CLIPs
    are never mixed in the lake."""
    if model.startswith("local-dir:"):
        folder = Path(model.removeprefix("local-dir:"))
        weights = sorted(folder.glob("open_clip_model.safetensors")) or sorted(folder.glob("open_clip_*.bin"))
        return _sha(b"".join(p.read_bytes() for p in weights) or model.encode())
    if pretrained and Path(pretrained).is_file():
        digest = hashlib.sha256()
        with open(pretrained, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return _sha(f"{model}:".encode() + digest.digest())
    return _sha(f"{model}:{pretrained}".encode())


def deep_check(params) -> None:
    """``params.model`` and ``params.clip`` name usable models (``dpe check --deep``); raises BaseModelError naming
    the param."""
    if params.model.base != EMBEDDED:
        pin_base(params.model.base, params.model.revision)
    if params.clip.model != EMBEDDED:
        clip_name(params.clip.model, params.clip.pretrained)
