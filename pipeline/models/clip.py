"""The tiny embedded CLIP: an open_clip model from a custom config, trained here contrastively.

Saved as ``open_clip_config.json`` + ``open_clip_model.safetensors``, so stock
``open_clip.create_model_and_transforms("local-dir:<path>")`` loads it (and any real open_clip
checkpoint directory works in its place).
"""

from __future__ import annotations

import io
import json
import logging
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pipeline.models.bases import clip_fingerprint, clip_name
from pipeline.models.params import ClipConfig
from pipeline.run.runtime import file_hash
from pipeline.storage.artifacts import read_json, write_json
from pipeline.storage.schemas import ClipReference

log = logging.getLogger(__name__)

CLIP_IMAGE_SIZE = 64
CONTEXT_LENGTH = 32
CLIP_REFERENCE = "clip.json"


def model_cfg(cfg: ClipConfig) -> dict:
    return {
        "embed_dim": cfg.embed_dim,
        "vision_cfg": {"image_size": CLIP_IMAGE_SIZE, "layers": cfg.layers, "width": cfg.width,
                       "patch_size": 8, "head_width": 32},
        "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": 49408, "width": cfg.width,
                     "heads": max(1, cfg.width // 32), "layers": cfg.layers},
    }


def load(path: str | Path):
    """(model, preprocess, tokenizer) of a CLIP folder, in eval mode: the bootstrap's open_clip folder, or a pin
    (clip.json) to any open_clip model (``clip.model`` / ``clip.pretrained``)."""
    import open_clip

    ref = reference(path)
    if ref is None:
        name, pretrained = f"local-dir:{Path(path).resolve()}", None
    else:
        name, pretrained = ref.model, ref.pretrained
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained)
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(name)


def reference(path: str | Path) -> ClipReference | None:
    ref = Path(path) / CLIP_REFERENCE
    return read_json(ref, ClipReference) if ref.exists() else None


def fingerprint(path: str | Path) -> str:
    """Identifies the weights, so vectors from another model are never mixed with these."""
    ref = reference(path)
    return ref.fingerprint if ref else file_hash(Path(path) / "open_clip_model.safetensors")


def pin_clip(model: str, pretrained: str, out: str | Path) -> ClipReference:
    """The pool's CLIP as a pin to an open_clip model, checked by ``clip_name`` (names the param when wrong)."""
    name, resolved = clip_name(model, pretrained)
    ref = ClipReference(model=name, pretrained=resolved, fingerprint=clip_fingerprint(name, resolved))
    write_json(Path(out) / CLIP_REFERENCE, ref)
    return ref


def train_clip(images: list[bytes], captions: list[str], cfg: ClipConfig, seed: int, out: str | Path) -> dict:
    import open_clip
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    preprocess_cfg = {"size": CLIP_IMAGE_SIZE}
    (out / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg(cfg), "preprocess_cfg": preprocess_cfg}, indent=2))
    torch.manual_seed(seed)
    logging.disable(logging.WARNING)  # open_clip warns that a fresh model has no weights: that is the point
    try:
        model, preprocess, _ = open_clip.create_model_and_transforms(f"local-dir:{out.resolve()}", load_weights=False)
    finally:
        logging.disable(logging.NOTSET)
    tokenizer = open_clip.get_tokenizer(f"local-dir:{out.resolve()}")
    pixels = torch.stack([preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in images])
    tokens = tokenizer(captions)
    loss_fn = open_clip.ClipLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    rng = random.Random(seed)
    model.train()
    last = float("nan")
    for _ in tqdm(range(cfg.steps), desc="train clip", unit="step"):
        idx = rng.sample(range(len(images)), min(cfg.batch_size, len(images)))
        image_features, text_features, logit_scale = model(pixels[idx], tokens[idx])[:3]
        loss = loss_fn(image_features, text_features, logit_scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        last = loss.item()
    model.eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    return {"final_loss": last, "parameters": sum(p.numel() for p in model.parameters())}


@torch.inference_mode()
def embed_images(model, preprocess, images: list[Image.Image]) -> np.ndarray:
    pixels = torch.stack([preprocess(im) for im in images])
    feats = model.encode_image(pixels, normalize=True)
    return feats.float().numpy()


@torch.inference_mode()
def embed_texts(model, tokenizer, texts: list[str]) -> np.ndarray:
    feats = model.encode_text(tokenizer(texts), normalize=True)
    return feats.float().numpy()
