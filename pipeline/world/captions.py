"""Captions for CLIP pre-training, written from scene records (the only place captions exist)."""

from __future__ import annotations

from collections import Counter

from pipeline.world.scenes import Scene

TYPE_PHRASES = {
    "shapes": "geometric shapes",
    "objects": "coloured dots",
    "bar_chart": "a bar chart",
    "line_chart": "a line chart",
    "document": "a text document",
    "table": "a table of numbers",
}


def type_prompt(image_type: str) -> str:
    """The text query that names an image type: used for zero-shot tags and retrieval."""
    return f"an image of {TYPE_PHRASES[image_type]}"


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
