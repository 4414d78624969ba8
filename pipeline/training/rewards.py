"""GRPO rewards in trl's protocol: ``(completions, **columns) -> list[float]``.

The reference weights them 0.9 · accuracy + 0.1 · format; trl applies the weights
(``reward_weights``), so each function here scores one thing.

>>> c = [[{"role": "assistant", "content": "B"}], [{"role": "assistant", "content": "maybe"}]]
>>> accuracy_reward(c, answer=["B", "B"], answer_type=["choice"] * 2, options=[["x", "y"]] * 2)
[1.0, 0.0]
>>> format_reward(c, answer_type=["choice"] * 2, options=[["x", "y"]] * 2)
[1.0, 0.0]
"""

from __future__ import annotations

from pipeline.answers.grading import is_correct, parse_answer


def completion_text(completion) -> str:
    """The text of a completion, whether plain or conversational (string or content blocks)."""
    if isinstance(completion, str):
        return completion
    content = completion[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def accuracy_reward(completions, answer, answer_type, options, **_) -> list[float]:
    return [float(is_correct(completion_text(c), a, t, o))
            for c, a, t, o in zip(completions, answer, answer_type, options)]


def format_reward(completions, answer_type, options, **_) -> list[float]:
    """1 when the whole completion is one valid answer of the expected type (no rambling)."""
    scores = []
    for c, t, o in zip(completions, answer_type, options):
        text = completion_text(c).strip()
        scores.append(float(parse_answer(text, t, o) is not None and len(text.split()) <= 2))
    return scores
