"""Grading: parse a model's free-text answer and compare it with the reference. Pure functions.

>>> parse_answer("Answer: (B)", "choice", ["cat", "dog", "owl"])
'B'
>>> parse_answer("dog", "choice", ["cat", "dog", "owl"])
'B'
>>> parse_answer("It is 1,204 apples", "integer")
'1204'
>>> parse_answer("\\\\boxed{7}", "integer")
'7'
>>> is_correct("Red.", "red", "word")
True

Real models wrap answers: reasoning blocks are dropped (``<think>...</think>``; a block the length limit cut
off holds no answer), and where the text names its answer ("The answer is 7.", "Final answer: **B**") what
follows the last such marker is what is graded.

>>> parse_answer("<think>3 red and 4 blue: 3 + 4</think>There are 3 red and 4 blue, so the answer is 7.", "integer")
'7'
>>> parse_answer("Final answer: **B**", "choice", ["cat", "dog", "owl"])
'B'
>>> parse_answer("<think>Counting the dots one by one, there are", "integer") is None
True
"""

from __future__ import annotations

import re
import string

from pipeline.answers.prompts import OPTION_LETTERS as LETTERS

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_FILLER = {"answer", "the", "a", "an", "it", "is", "its", "final"}
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)
_MARKER = re.compile(r"\banswer\s*(?:is\s*:?|:)\s*", re.IGNORECASE)


def answer_part(text: str) -> str:
    """The part of a reply that holds the answer: reasoning blocks removed (an unclosed one, cut off by the
    length limit, and all after it too), then what follows the last "answer is" / "answer:" when there is one;
    markdown emphasis dropped."""
    text = _THINK.sub(" ", text)
    cut = _OPEN_THINK.search(text)
    if cut:
        text = text[:cut.start()]
    markers = list(_MARKER.finditer(text))
    if markers and text[markers[-1].end():].strip():
        text = text[markers[-1].end():]
    return text.replace("**", "").replace("__", "").strip()


def _unbox(text: str) -> str:
    m = _BOXED.search(text)
    return m.group(1) if m else text


def normalise(text: str) -> str:
    text = text.strip().lower()
    text = text.translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def parse_choice(text: str, options: list[str] | None) -> str | None:
    text = _unbox(text).strip()
    valid = LETTERS[: len(options)] if options else LETTERS
    bare = text.strip(" .:)(").upper()
    if len(bare) == 1 and bare in valid:
        return bare
    m = re.search(r"answer\s*(?:is)?\s*:?\s*\(?([A-Za-z])\b", text, re.IGNORECASE)
    if m and m.group(1).upper() in valid:
        return m.group(1).upper()
    if options:
        norm = normalise(text)
        hits = [LETTERS[i] for i, opt in enumerate(options) if normalise(opt) and normalise(opt) in norm.split()]
        if len(hits) == 1:
            return hits[0]
    m = re.match(r"^\(?([A-Z])[\).:]", text)
    if m and m.group(1) in valid:
        return m.group(1)
    return None


def parse_integer(text: str) -> str | None:
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", _unbox(text))  # thousands separators
    m = _NUMBER.search(text)
    if not m:
        words = [_NUMBER_WORDS[w] for w in normalise(text).split() if w in _NUMBER_WORDS]
        return str(words[0]) if words else None
    value = float(m.group(0))
    return str(int(value)) if value.is_integer() else str(value)


def _content_words(text: str) -> list[str]:
    words = normalise(_unbox(text)).split()
    if len(words) > 1 and words[0] in _FILLER:
        words = [w for w in words if w not in _FILLER] or words
    return words


def parse_word(text: str) -> str | None:
    words = _content_words(text)
    return words[0] if words else None


def parse_answer(text: str, answer_type: str, options: list[str] | None = None) -> str | None:
    """The answer in canonical form, or None when the text holds no valid answer of that type."""
    text = answer_part(text)
    if answer_type == "choice":
        return parse_choice(text, options)
    if answer_type == "integer":
        return parse_integer(text)
    if answer_type == "word":
        return parse_word(text)
    raise ValueError(f"unknown answer_type {answer_type!r}; expected choice, integer or word")


def grade(text: str, reference: str, answer_type: str, options: list[str] | None = None,
          tolerance: float = 1e-6) -> tuple[str | None, bool]:
    """(the parsed answer or None, whether it matches the reference): the text is parsed once."""
    parsed = parse_answer(text, answer_type, options)
    if parsed is None:
        return None, False
    if answer_type == "integer":
        return parsed, abs(float(parsed) - float(reference)) <= tolerance
    if answer_type == "word":
        ref = normalise(reference)
        return parsed, parsed == ref or " ".join(_content_words(answer_part(text))) == ref  # multi-word too
    return parsed, parsed == reference.strip().upper()


def is_correct(text: str, reference: str, answer_type: str, options: list[str] | None = None,
               tolerance: float = 1e-6) -> bool:
    return grade(text, reference, answer_type, options, tolerance)[1]


def majority_answer(texts: list[str], answer_type: str, options: list[str] | None = None) -> str | None:
    """The most frequent valid answer among sampled texts, canonical; ties go to the one given first; None
    when no text holds a valid answer.

    >>> majority_answer(["B", "(C)", "dog", "no idea", "C."], "choice", ["cat", "dog", "owl"])
    'B'
    >>> majority_answer(["4", "four", "5"], "integer")
    '4'
    """
    parsed = [a for a in (parse_answer(t, answer_type, options) for t in texts) if a is not None]
    if not parsed:
        return None
    counts: dict[str, int] = {}
    for answer in parsed:
        counts[answer] = counts.get(answer, 0) + 1
    return max(counts, key=lambda a: (counts[a], -parsed.index(a)))
