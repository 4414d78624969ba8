"""Scene records: the ground truth of every world image, sampled from a seeded RNG.

A scene is a plain JSON-able dict with an ``image_type`` key and the facts a renderer
draws and a question family asks about. Keeping scenes as data (not objects) lets the
probe builder, the offline agents and the judge read the same records from a table.
"""

from __future__ import annotations

import random
from typing import Callable

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
    "purple": (150, 50, 180),
}
SHAPES = ("circle", "square", "triangle", "diamond")
WORDS = (
    "cat", "dog", "sun", "box", "map", "cup", "pen", "key", "hat", "car",
    "bus", "egg", "fox", "owl", "tea", "jam", "ink", "sky", "sea", "ice",
)
LETTERS = "ABCDE"
SIZES = ("small", "large")

Scene = dict


def _shapes(rng: random.Random) -> Scene:
    cells = rng.sample(range(9), rng.randint(1, 5))
    items = [
        {"shape": rng.choice(SHAPES), "colour": rng.choice(list(COLOURS)), "size": rng.choice(SIZES),
         "col": c % 3, "row": c // 3}
        for c in cells
    ]
    return {"image_type": "shapes", "items": items}


def _objects(rng: random.Random) -> Scene:
    a, b = rng.sample(list(COLOURS), 2)
    n_a, n_b = rng.randint(1, 7), rng.randint(0, 5)
    spots = rng.sample(range(16), n_a + n_b)
    dots = [{"colour": a if i < n_a else b, "col": s % 4, "row": s // 4} for i, s in enumerate(spots)]
    return {"image_type": "objects", "dots": dots}


def _bar_chart(rng: random.Random) -> Scene:
    """3-5 bars whose heights take half steps from 1 to 9: whole steps gave only 729 charts of three bars, fewer
    than the answer-balanced sets need once each set's images are kept apart."""
    k = rng.randint(3, 5)
    return {"image_type": "bar_chart", "labels": list(LETTERS[:k]),
            "values": [rng.randint(2, 18) / 2 for _ in range(k)]}


def _line_chart(rng: random.Random) -> Scene:
    n = rng.randint(4, 6)
    return {"image_type": "line_chart", "values": [rng.randint(1, 9) for _ in range(n)]}


def _document(rng: random.Random) -> Scene:
    """2-4 lines of 1-3 words, with the total drawn first (2-7, uniform) so that "how many words" has evenly
    likely answers: a model always giving one number scores 1/6, not the share of a common total."""
    total = rng.randint(2, 7)
    n_lines = rng.randint(max(2, -(-total // 3)), min(4, total))
    sizes = [1] * n_lines
    for _ in range(total - n_lines):
        sizes[rng.choice([i for i, k in enumerate(sizes) if k < 3])] += 1
    return {"image_type": "document", "lines": [[rng.choice(WORDS) for _ in range(k)] for k in sizes]}


def _table(rng: random.Random) -> Scene:
    rows, cols = rng.randint(2, 4), rng.randint(2, 4)
    return {
        "image_type": "table",
        "row_labels": list(LETTERS[:rows]),
        "cells": [[rng.randint(1, 9) for _ in range(cols)] for _ in range(rows)],
    }


SAMPLERS: dict[str, Callable[[random.Random], Scene]] = {
    "shapes": _shapes,
    "objects": _objects,
    "bar_chart": _bar_chart,
    "line_chart": _line_chart,
    "document": _document,
    "table": _table,
}
IMAGE_TYPES = tuple(SAMPLERS)


def sample_scene(image_type: str, rng: random.Random) -> Scene:
    """Draw one scene of ``image_type``; all randomness comes from ``rng``."""
    return SAMPLERS[image_type](rng)
