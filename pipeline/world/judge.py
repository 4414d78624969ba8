"""The embedded world's judge: the world knows how each image was made, so attribution is by rule."""

from __future__ import annotations

from pipeline.diagnosis.judges import Judge, Verdict

_CALCULATION = {"compare"}
_REASONING = {"spatial", "chart", "table", "trend"}


class WorldJudge(Judge):
    """No parsable answer is a format error, a wrong comparison a calculation error, a wrong relation or
    lookup a reasoning error, a wrong colour, count, shape or word a visual-recognition error."""

    @classmethod
    def from_config(cls, cfg) -> "WorldJudge":
        return cls()

    def judge(self, item, answer_text, parsed):
        if parsed is None:
            return Verdict("ok", "format")
        if item["category"] in _CALCULATION:
            return Verdict("ok", "calculation")
        if item["category"] in _REASONING:
            return Verdict("ok", "reasoning")
        return Verdict("ok", "visual_recognition")
