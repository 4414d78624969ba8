"""How well a CLIP checkpoint serves retrieval on held-out labelled images: zero-shot image-type
accuracy, and text→image recall@10 for image-type queries."""

from __future__ import annotations

import numpy as np

from pipeline.embed import type_tags
from pipeline.images import decode_rgb
from pipeline.models import clip
from pipeline.world.captions import TYPE_PHRASES, type_prompt


def clip_quality(clip_dir: str, items: list[dict], k: int = 10) -> dict:
    model, preprocess, tokenizer = clip.load(clip_dir)
    names = list(TYPE_PHRASES)
    text = clip.embed_texts(model, tokenizer, [type_prompt(n) for n in names])
    images = clip.embed_images(model, preprocess, [decode_rgb(r["image"]) for r in items])
    truth = [r["image_type"] for r in items]
    tags = type_tags(images, text, names)
    zeroshot = float(np.mean([a == b for a, b in zip(tags, truth)]))
    sims = text @ images.T
    recalls = [np.mean([truth[j] == n for j in np.argsort(-sims[i])[:k]]) for i, n in enumerate(names)]
    return {"zeroshot_type_accuracy": zeroshot, f"recall_at_{k}": float(np.mean(recalls))}
