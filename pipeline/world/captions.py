"""Captions for CLIP pre-training, written from scene records (the only place captions exist)."""

from __future__ import annotations

from collections import Counter

from pipeline.pool.params import DEFAULT_TYPE_PROMPTS
from pipeline.world.scenes import Scene


def type_prompt(image_type: str) -> str:
    """The text that names an image type: the default zero-shot tags and retrieval queries (params
    ``embed.type_prompts`` defaults to the world's six)."""
    return DEFAULT_TYPE_PROMPTS[image_type]


def caption(scene: Scene) -> str:
    t = scene["image_type"]
    head = type_prompt(t)
    if t == "shapes":
        detail = " and ".join(f"a {it['size']} {it['colour']} {it['shape']}" for it in scene["items"])
    elif t == "objects":
        detail = " and ".join(f"{n} {c} dots" for c, n in sorted(Counter(d["colour"] for d in scene["dots"]).items()))
    elif t == "bar_chart":
        detail = f"{len(scene['values'])} bars"
    elif t == "line_chart":
        detail = f"{len(scene['values'])} points"
    elif t == "document":
        detail = "the words " + " ".join(w for line in scene["lines"] for w in line)
    else:
        detail = f"{len(scene['cells'])} rows and {len(scene['cells'][0])} columns"
    return f"{head} with {detail}"
