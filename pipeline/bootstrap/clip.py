"""Bootstrap the embedded default's tiny CLIP: train it on the world's captions and measure how well it
serves retrieval on held-out labelled images (zero-shot image-type accuracy, text→image recall@10)."""

from __future__ import annotations

import random
import time

import numpy as np

from pipeline.models import clip
from pipeline.models.card import write_card
from pipeline.models.params import ClipConfig
from pipeline.pool.embed import type_tags
from pipeline.storage.images import decode_rgb
from pipeline.world.captions import type_prompt


def caption_mix(captions: list[str], image_types: list[str], type_share: float, seed: int) -> list[str]:
    """Replace a share of the captions by the bare image-type prompt, so the phrase that retrieval and
    zero-shot tagging use is one the text tower has seen."""
    rng = random.Random(f"{seed}:captions")
    return [type_prompt(t) if rng.random() < type_share else c for c, t in zip(captions, image_types)]


def clip_quality(clip_dir: str, items: list[dict], type_prompts: dict[str, str], k: int = 10) -> dict:
    model, preprocess, tokenizer = clip.load(clip_dir)
    names = list(type_prompts)
    text = clip.embed_texts(model, tokenizer, [type_prompts[n] for n in names])
    images = clip.embed_images(model, preprocess, [decode_rgb(r["image"]) for r in items])
    truth = [r["image_type"] for r in items]
    tags = type_tags(images, text, names)
    zeroshot = float(np.mean([a == b for a, b in zip(tags, truth)]))
    sims = text @ images.T
    recalls = [np.mean([truth[j] == n for j in np.argsort(-sims[i])[:k]]) for i, n in enumerate(names)]
    return {"zeroshot_type_accuracy": zeroshot, f"recall_at_{k}": float(np.mean(recalls))}


def bootstrap_clip(corpus: dict, heldout: list[dict], cfg: ClipConfig, type_prompts: dict[str, str], seed: int,
                   out: str) -> None:
    """Train, save and card the tiny CLIP in ``out``."""
    began = time.perf_counter()
    captions = caption_mix(corpus["caption"], corpus["image_type"], cfg.type_caption_share, seed)
    stats = clip.train_clip(corpus["image"], captions, cfg, seed, out)
    seconds = time.perf_counter() - began
    write_card(out, "Tiny CLIP (embedded default)",
               "An open_clip ViT trained contrastively from scratch on the world's (image, caption) pairs. "
               "Load with `open_clip.create_model_and_transforms('local-dir:<this folder>')`.",
               {"parameters": stats["parameters"], "image size": clip.CLIP_IMAGE_SIZE, "embed dim": cfg.embed_dim,
                "training steps": cfg.steps, "training seconds": round(seconds, 1),
                "final loss": round(stats["final_loss"], 4), "training pairs": len(captions)},
               clip_quality(out, heldout, type_prompts))


def pin_user_clip(model: str, pretrained: str, heldout: list[dict], type_prompts: dict[str, str], out: str) -> None:
    """The pool's CLIP as a pin to the user's open_clip model, carded with the same retrieval measures."""
    ref = clip.pin_clip(model, pretrained, out)
    write_card(out, f"CLIP: {ref.model}", "The user's open_clip model (clip.model / clip.pretrained), pinned, not "
               "copied.", ref.model_dump(exclude_none=True), clip_quality(out, heldout, type_prompts))
