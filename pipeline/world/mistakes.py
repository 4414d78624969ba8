"""Mistakes the embedded world's agents make on purpose, the way real annotators make them, so that the
pipeline's controls (the validator, the agreement rule, the pass-rate band, ``filter.label``) can be measured
against labels that are sometimes wrong.

A wrong answer is a plausible one: a count off by one (in digits or words), the other side or size, a
colour from the same picture, another option. Two calls of one model fail alike: when the writer is wrong, the
validator repeats its wrong answer with probability ``shared`` and otherwise errs on its own with probability
``validator``. An off-cell sample is a question about another skill than the cell's, which the validator's
cell check misses at its own error rate. Every draw comes from a stream seeded by the sample's own identity
(round seed, source image, question, role), never from the attempt's stream, so the rates at zero leave every
sample as it was and a run reproduces.
"""

from __future__ import annotations

import random

from pipeline.world.questions import NUMBER_WORDS
from pipeline.world.scenes import COLOURS

OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top", "above": "below", "below": "above",
            "small": "large", "large": "small", "higher": "lower", "lower": "higher", "more": "fewer", "fewer": "more"}


def stream(seed: int, *parts: str) -> random.Random:
    """The error draws of one decision, independent of every other stream."""
    return random.Random("\x1f".join(["mistakes", str(seed), *parts]))


def wrong_answer(answer: str, answer_type: str, options: list[str], scene: dict, rng: random.Random) -> str:
    """A plausible wrong answer to a question whose right answer is ``answer``."""
    if answer_type == "choice" and len(options) > 1:
        letters = [chr(ord("A") + i) for i in range(len(options))]
        return rng.choice([letter for letter in letters if letter != answer])
    if answer_type == "integer":
        value = int(answer)
        return str(value + 1 if value == 0 or rng.random() < 0.5 else value - 1)
    if answer in OPPOSITE:
        return OPPOSITE[answer]
    if answer in NUMBER_WORDS:  # a count off by one, in words
        i = NUMBER_WORDS.index(answer)
        return NUMBER_WORDS[i + 1 if i == 0 or (i + 1 < len(NUMBER_WORDS) and rng.random() < 0.5) else i - 1]
    seen = sorted({t["colour"] for t in scene.get("items") or scene.get("dots") or [] if t["colour"] != answer})
    return rng.choice(seen or sorted(set(COLOURS) - {answer}))
