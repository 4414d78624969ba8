"""Dedup: each check rejects what it should, with its own reason, and nothing else; off means off."""

import dataclasses
import io

import numpy as np
from PIL import Image, ImageDraw

from pipeline.generation.dedup import Seen, question_key
from pipeline.generation.params import DedupConfig
from pipeline.storage.images import encode_png
from pipeline.storage.schemas import Sample


def drawing(seed: int, shift: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (96, 96), "white")
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = rng.integers(0, 70, 2)
        draw.ellipse((x + shift, y, x + shift + 20, y + 20), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return encode_png(img)


def sample(image: bytes, question: str = "How many dots?", source: str = "a", sid: str = "s1") -> Sample:
    blank = {f.name: None for f in dataclasses.fields(Sample)}
    return Sample(**blank | {"sample_id": sid, "round": "r1", "source_image_id": source, "question": question,
                             "image": image})


def test_question_key_ignores_case_punctuation_and_spacing():
    assert question_key("What colour is the  BOX?") == question_key("what colour is the box") != question_key(
        "what colour is the circle")


def test_each_check_has_its_own_reason():
    seen = Seen(DedupConfig(image_distance=12, question=True, clip_similarity=0.9))
    seen.add(seen.entry(sample(drawing(0)), np.array([1.0, 0.0])))
    # the same picture re-encoded as JPEG-like noise: within a few hash bits
    noisy = np.asarray(Image.open(io.BytesIO(drawing(0)))).astype(int)
    noisy = encode_png(Image.fromarray(np.clip(noisy + np.random.default_rng(1).integers(-6, 7, noisy.shape), 0,
                                               255).astype(np.uint8)))
    assert seen.reason(seen.entry(sample(noisy, "Which is red?", "b"), np.array([0.0, 1.0]))) == "duplicate_image"
    assert seen.reason(seen.entry(sample(drawing(5), "how many DOTS", "a"), np.array([0.0, 1.0]))) == \
        "duplicate_question"
    assert seen.reason(seen.entry(sample(drawing(5), "how many dots", "c"), np.array([0.6, 0.8]))) == ""
    assert seen.reason(seen.entry(sample(drawing(5), "how many dots", "c"), np.array([0.95, 0.31]))) == \
        "similar_image"


def test_checks_switched_off_reject_nothing():
    seen = Seen(DedupConfig(image_distance=-1, question=False, clip_similarity=0.0))
    seen.add(seen.entry(sample(drawing(0)), np.array([1.0, 0.0])))
    assert seen.reason(seen.entry(sample(drawing(0)), np.array([1.0, 0.0]))) == ""


def test_the_index_round_trips_through_its_table():
    seen = Seen(DedupConfig())
    seen.add(seen.entry(sample(drawing(0)), None))
    again = Seen.from_table(seen.table(), DedupConfig())
    assert again.reason(again.entry(sample(drawing(0), source="z"), None)) == "duplicate_image"
    assert again.reason(again.entry(sample(drawing(9), source="z"), None)) == ""
