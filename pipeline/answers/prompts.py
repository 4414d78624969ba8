"""The one prompt template, shared by diagnosis, filtering, training and evaluation (as the method asks)."""

from __future__ import annotations

import string

OPTION_LETTERS = string.ascii_uppercase  # options are lettered A, B, C, ... in prompts, grading and sources

INSTRUCTIONS = {
    "choice": "Answer with the letter of the correct option.",
    "integer": "Answer with a number.",
    "word": "Answer with one word.",
    "text": "Answer in one sentence.",
}


def lettered(options: list[str] | None) -> list[str]:
    """Options as the model sees them: ``A. cat``, ``B. dog``, ..."""
    return [f"{OPTION_LETTERS[i]}. {opt}" for i, opt in enumerate(options or [])]


def option_letter(answer: str, options: list[str]) -> str | None:
    """A choice answer as its letter, whether given as the letter (any case) or as the option's text; None
    when it is neither.

    >>> option_letter("dog", ["cat", "dog"]), option_letter(" b", ["cat", "dog"]), option_letter("C", ["cat", "dog"])
    ('B', 'B', None)
    """
    a = answer.strip()
    if len(a) == 1 and a.upper() in OPTION_LETTERS[:len(options)]:
        return a.upper()
    if a in options:
        return OPTION_LETTERS[options.index(a)]
    return None


def prompt_text(question: str, answer_type: str, options: list[str] | None = None) -> str:
    return "\n".join([question, *lettered(options), INSTRUCTIONS[answer_type]])


def user_message(question: str, answer_type: str, options: list[str] | None = None) -> list[dict]:
    """A conversational prompt with one image slot, the form trl and the processors expect."""
    text = prompt_text(question, answer_type, options)
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
