"""Captions for CLIP pre-training and the VLM's warm-up, written from scene records (the only place captions
exist). They state what the weak cells' questions need (positions, sizes, each line's words, where a line ends),
so those skills are perceived in the warm-up though their questions are scarce: blind spots, not missing senses."""

from __future__ import annotations

from collections import Counter

from pipeline.pool.params import DEFAULT_TYPE_PROMPTS
from pipeline.world.scenes import Scene

ROWS, COLS = ("top", "middle", "bottom"), ("left", "middle", "right")


def _place(it: dict) -> str:
    return "centre" if it["row"] == it["col"] == 1 else f"{ROWS[it['row']]} {COLS[it['col']]}"


def _trend(values: list[int]) -> str:
    return "rises" if values[-1] > values[0] else "falls" if values[-1] < values[0] else "ends level"


def type_prompt(image_type: str) -> str:
    """The text that names an image type: the default zero-shot tags and retrieval queries (params
    ``embed.type_prompts`` defaults to the world's six)."""
    return DEFAULT_TYPE_PROMPTS[image_type]


def caption(scene: Scene) -> str:
    t = scene["image_type"]
    head = type_prompt(t)
    if t == "shapes":
        detail = " and ".join(f"a {it['size']} {it['colour']} {it['shape']} at the {_place(it)}" for it in scene["items"])
    elif t == "objects":
        counts = sorted(Counter(d["colour"] for d in scene["dots"]).items())
        detail = " and ".join(f"{n} {c} dots" for c, n in counts) + (", mixed" if len(counts) > 1 else ", one colour")
    elif t == "bar_chart":
        detail = f"{len(scene['values'])} bars"
    elif t == "line_chart":
        detail = f"{len(scene['values'])} points that {_trend(scene['values'])}"
    elif t == "document":
        detail = f"{len(scene['lines'])} lines: " + " / ".join(" ".join(line) for line in scene["lines"])
    else:
        detail = f"{len(scene['cells'])} rows and {len(scene['cells'][0])} columns"
    return f"{head} with {detail}"
