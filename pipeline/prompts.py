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


def prompt_text(question: str, answer_type: str, options: list[str] | None = None) -> str:
    lines = [question]
    lines += [f"{OPTION_LETTERS[i]}. {opt}" for i, opt in enumerate(options or [])]
    lines.append(INSTRUCTIONS[answer_type])
    return "\n".join(lines)


def user_message(question: str, answer_type: str, options: list[str] | None = None) -> list[dict]:
    """A conversational prompt with one image slot, the form trl and the processors expect."""
    text = prompt_text(question, answer_type, options)
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
