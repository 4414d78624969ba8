"""The embedded world's judge: the world knows how each image was made, so attribution is by rule."""

from __future__ import annotations

from pipeline.diagnosis.judges import Judge, Verdict

_READING = {"chart", "series", "table", "grid"}  # reading a chart's or a table's structure


class WorldJudge(Judge):
    """No parsable answer is a format error, a wrong reading of a chart or a table a reasoning error, a wrong
    colour, count or word a visual-recognition error."""

    @classmethod
    def from_config(cls, cfg) -> "WorldJudge":
        return cls()

    def judge(self, item, answer_text, parsed):
        if parsed is None:
            return Verdict("ok", "format")
        if item["category"] in _READING:
            return Verdict("ok", "reasoning")
        return Verdict("ok", "visual_recognition")
