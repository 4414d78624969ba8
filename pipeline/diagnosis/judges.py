"""Judges attribute each failed answer to an error type. A judge that cannot decide says so: its item
is recorded as a judge failure and excluded from accuracy, never counted as a model error (unlike the
reference, where a failed API call read as a wrong answer).

Judges are picked by name in ``diagnose.judge`` (``pipeline.config.registry.JUDGES``): ``world`` is the embedded world's rule
judge (``pipeline/world/judge.py``); ``openai`` is any OpenAI-compatible chat endpoint (OpenAI, vLLM,
transformers serve, llama.cpp) that sees the image, the question, the reference and the model's answer
and replies with a ``JudgeReply``. The openai client retries transport errors with backoff
(``judge_retries``, ``judge_timeout``); a reply that does not parse is asked again up to
``judge_retries`` times, then recorded as a failed attempt. The API key is read from the environment
variable named in params and never logged or written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from pipeline.answers.structured import StructuredChat, openai_client
from pipeline.config.registry import JUDGES
from pipeline.storage.images import data_url
from pipeline.storage.schemas import Call

log = logging.getLogger(__name__)

ERROR_TYPES = ("visual_recognition", "calculation", "reasoning", "misunderstanding", "format", "other")


@dataclass(frozen=True)
class Verdict:
    status: str          # "ok", or "failed" when the judge could not decide (see schemas.JUDGE_STATUSES)
    error_type: str = ""
    detail: str = ""
    calls: tuple[Call, ...] = field(default=())


class Judge:
    """Attributes one wrong answer; ``from_config`` builds it from the diagnose params section."""

    @classmethod
    def from_config(cls, cfg) -> "Judge":
        raise NotImplementedError

    def judge(self, item: dict, answer_text: str, parsed: str | None) -> Verdict:
        raise NotImplementedError


def make_judge(cfg) -> Judge:
    return JUDGES.load(cfg.judge).from_config(cfg)


class JudgeReply(BaseModel):
    error_type: Literal[ERROR_TYPES]  # type: ignore[valid-type]
    reason: str = ""


PROMPT = (
    "You grade a vision-language model. Look at the image, the question, the reference answer and the "
    "model's wrong answer, and say why the model failed. Reply with JSON only: "
    '{"error_type": one of ' + ", ".join(f'"{e}"' for e in ERROR_TYPES) + ', "reason": "<one sentence>"}.'
)


class OpenAIJudge(Judge):
    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", retries: int = 2,
                 timeout: float = 60.0):
        self.chat = StructuredChat(openai_client(base_url, api_key_env, timeout, retries), model, "judge",
                                   max_tokens=200, settings=f"diagnose.judge_url, judge_model and judge_api_key_env "
                                                            f"(the key is read from ${api_key_env})")
        self.retries = retries

    @classmethod
    def from_config(cls, cfg) -> "OpenAIJudge":
        return cls(cfg.judge_url, cfg.judge_model, cfg.judge_api_key_env, cfg.judge_retries, cfg.judge_timeout)

    def messages(self, item: dict, answer_text: str) -> list[dict]:
        text = (f"Question: {item['question']}\nOptions: {item.get('options') or 'none'}\n"
                f"Reference answer: {item['answer']}\nModel answer: {answer_text!r}")
        picture = {"type": "image_url", "image_url": {"url": data_url(item["image"])}}
        return [{"role": "system", "content": PROMPT},
                {"role": "user", "content": [picture, {"type": "text", "text": text}]}]

    def judge(self, item, answer_text, parsed):
        answer = self.chat.ask(self.messages(item, answer_text), JudgeReply, self.retries + 1)
        if answer.value is not None:
            return Verdict("ok", answer.value.error_type, answer.value.reason[:200], tuple(answer.calls))
        log.warning("judge failed on %s: %s", item.get("item_id"), answer.problem)
        return Verdict("failed", "", answer.problem, tuple(answer.calls))
