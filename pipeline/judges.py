"""Judges attribute each failed answer to an error type. A judge that cannot decide says so: its item
is recorded as a judge failure and excluded from accuracy, never counted as a model error.

* ``WorldJudge``: the embedded world knows how each image was made, so attribution is by rule.
* ``OpenAIJudge``: any OpenAI-compatible chat endpoint (OpenAI, vLLM, transformers serve, llama.cpp)
  that sees the image, the question, the reference and the model's answer and must reply with JSON
  ``{"error_type": ..., "reason": ...}``. A reply that is not valid JSON with a known error type is
  retried, then recorded as a failed attempt. The API key is read from the environment variable
  named in params and never logged or written.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

ERROR_TYPES = ("visual_recognition", "calculation", "reasoning", "misunderstanding", "format", "other")
_CALCULATION = {"arithmetic"}
_REASONING = {"spatial", "chart", "table"}

PROMPT = (
    "You grade a vision-language model. Look at the image, the question, the reference answer and the "
    "model's wrong answer, and say why the model failed. Reply with JSON only: "
    '{"error_type": one of ' + ", ".join(f'"{e}"' for e in ERROR_TYPES) + ', "reason": "<one sentence>"}.'
)


@dataclass(frozen=True)
class Verdict:
    status: str          # "ok", or "failed" when the judge could not decide
    error_type: str = ""
    detail: str = ""


class Judge:
    def judge(self, item: dict, answer_text: str, parsed: str | None) -> Verdict:
        raise NotImplementedError


class WorldJudge(Judge):
    """No parsable answer is a format error, a wrong sum a calculation error, a wrong relation or
    lookup a reasoning error, a wrong colour, count, shape or word a visual-recognition error."""

    def judge(self, item, answer_text, parsed):
        if parsed is None:
            return Verdict("ok", "format")
        if item["category"] in _CALCULATION:
            return Verdict("ok", "calculation")
        if item["category"] in _REASONING:
            return Verdict("ok", "reasoning")
        return Verdict("ok", "visual_recognition")


def parse_verdict(text: str) -> str | None:
    """The error type of a judge reply, or None unless it holds a JSON object with a known one.

    >>> parse_verdict('Sure! {"error_type": "calculation", "reason": "3+4 is not 8"}')
    'calculation'
    >>> parse_verdict('calculation') is None
    True
    """
    match = re.search(r"\{.*\}", text or "", re.DOTALL)
    if not match:
        return None
    try:
        reply = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    error = reply.get("error_type") if isinstance(reply, dict) else None
    return error if error in ERROR_TYPES else None


class OpenAIJudge(Judge):
    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", retries: int = 2,
                 timeout: float = 60.0):
        from openai import OpenAI

        # local servers accept any key; a hosted one fails with an auth error, recorded per item
        self.client = OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "not-set",
                             timeout=timeout, max_retries=0)
        self.model, self.retries = model, retries

    def messages(self, item: dict, answer_text: str) -> list[dict]:
        image = base64.b64encode(item["image"]).decode()
        text = (f"Question: {item['question']}\nOptions: {item.get('options') or 'none'}\n"
                f"Reference answer: {item['answer']}\nModel answer: {answer_text!r}")
        picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}}
        return [{"role": "system", "content": PROMPT},
                {"role": "user", "content": [picture, {"type": "text", "text": text}]}]

    def judge(self, item, answer_text, parsed):
        from openai import OpenAIError

        problem = ""
        for attempt in range(self.retries + 1):
            try:
                reply = self.client.chat.completions.create(model=self.model, messages=self.messages(item, answer_text),
                                                            temperature=0.0, max_tokens=200)
                content = reply.choices[0].message.content or ""
            except OpenAIError as err:
                problem = f"attempt {attempt + 1}: {type(err).__name__}"
                continue
            error = parse_verdict(content)
            if error:
                return Verdict("ok", error)
            problem = f"attempt {attempt + 1}: reply is not JSON with a known error_type: {content[:120]!r}"
        log.warning("judge failed on %s: %s", item.get("item_id"), problem)
        return Verdict("failed", "", problem)


def make_judge(cfg) -> Judge:
    if cfg.judge == "world":
        return WorldJudge()
    return OpenAIJudge(cfg.judge_url, cfg.judge_model, cfg.judge_api_key_env, cfg.judge_retries)
