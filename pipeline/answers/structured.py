"""Structured replies from real servers: ask for a JSON schema, accept what comes back if it can be read.

Servers differ: some honour ``response_format`` with a JSON schema, some ignore it, some refuse it with a
400. So a reply is parsed tolerantly before validation: code fences, prose around the object and
trailing commas are stripped, then the pydantic model validates. A reply that still fails is the
caller's to retry or record; nothing here raises on a bad reply. ``StructuredChat`` puts this together
for the judge and the agent roles: ask, fall back, parse, retry, count every call.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.storage.schemas import Call

log = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def response_format(model: type[BaseModel]) -> dict:
    """The ``response_format`` asking an OpenAI-compatible server for ``model``'s JSON schema."""
    return {"type": "json_schema",
            "json_schema": {"name": model.__name__.lower(), "strict": False, "schema": model.model_json_schema()}}


def _candidates(text: str) -> list[str]:
    """Texts that may hold the object: fenced blocks first, then the outermost braces."""
    out = [m.group(1) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        out.append(text[start:end + 1])
    return out


COMMENTARY = {"reasoning", "reason", "thoughts", "thinking", "explanation", "notes", "note", "comment", "comments",
              "confidence"}  # keys chatty models add around an answer: ignored; any other unknown key rejects it


def parse_reply(text: str | None, model: type[Model]) -> tuple[Model | None, str]:
    """(the reply as ``model``, "") or (None, why it could not be read). A reply with a key outside the schema
    (a tool, a command, a path: what text injected into an image or a file name would ask for) is rejected.

    >>> class Answer(BaseModel):
    ...     answer: str
    >>> parse_reply('Sure:\\n```json\\n{"answer": "7", "reasoning": "count",}\\n```', Answer)[0].answer
    '7'
    >>> parse_reply("seven", Answer)
    (None, 'no JSON object in the reply')
    >>> parse_reply('{"answer": "7", "tool": "shell", "cmd": "rm -rf /"}', Answer)
    (None, 'fields outside the schema: cmd, tool')
    """
    problem = "no JSON object in the reply"
    for candidate in _candidates(text or ""):
        try:
            data = json.loads(_TRAILING_COMMA.sub(r"\1", candidate))
        except json.JSONDecodeError as err:
            problem = f"not JSON ({err.msg})"
            continue
        extra = sorted(set(data) - set(model.model_fields) - COMMENTARY) if isinstance(data, dict) else []
        if extra:  # a reply that names a tool, a command or a field we never asked for is not followed
            problem = f"fields outside the schema: {', '.join(map(str, extra))[:80]}"
            continue
        try:
            return model.model_validate(data), ""
        except ValidationError as err:
            first = err.errors()[0]
            problem = f"{'.'.join(str(p) for p in first['loc']) or 'reply'}: {first['msg']}"
    return None, problem


def openai_client(base_url: str, api_key_env: str, timeout: float, max_retries: int):
    """An openai client for ``base_url``; the key is read from the variable *named* ``api_key_env`` (local
    servers accept any key; a hosted one answers 401, recorded where it is called). The client retries
    transport errors, 429 (honouring Retry-After) and 5xx with backoff itself."""
    from openai import OpenAI

    return OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "not-set", timeout=timeout,
                  max_retries=max_retries)


class EndpointRefused(RuntimeError):
    """The endpoint refuses the request itself (401, 403, 404: a wrong key, model name or URL). Retrying
    cannot help and every later call would be refused the same way, so the caller stops, keeping what it
    has done. The message names the settings to fix, never the key."""


def refusal(err: Exception, role: str, base_url, model: str, settings: str) -> EndpointRefused | None:
    """The EndpointRefused an openai error amounts to (401, 403, 404), or None when it is a fault worth
    recording instead."""
    from openai import AuthenticationError, NotFoundError, PermissionDeniedError

    if not isinstance(err, (AuthenticationError, PermissionDeniedError, NotFoundError)):
        return None
    return EndpointRefused(f"{role}: {base_url} answered {getattr(err, 'status_code', '?')} "
                           f"({type(err).__name__}) for model {model!r}; check {settings}")


@dataclass
class Answer(Generic[Model]):
    """A structured ask: the parsed ``value``, or None and the ``problem``; every reply is a call."""

    value: Model | None
    problem: str = ""
    calls: list[Call] = field(default_factory=list)
    transport: bool = False  # the endpoint could not be reached, even after the client's own retries


class StructuredChat:
    """One OpenAI-compatible chat endpoint asked for JSON replies: with a JSON-schema response format while
    the server takes it, plain after it answers 400 to one; a reply that does not parse, or a response
    body that is not a completion at all, is asked again (``tries`` in all)."""

    def __init__(self, client, model: str, role: str, max_tokens: int, backend: str = "openai",
                 settings: str = "the base URL, model and key variable"):
        self.client, self.model, self.role, self.max_tokens, self.backend = client, model, role, max_tokens, backend
        self.settings = settings  # the params that configure this endpoint, for the refusal's message
        self.structured = True

    def _complete(self, messages: list[dict], schema: type[BaseModel]):
        from openai import BadRequestError

        kwargs = dict(model=self.model, messages=messages, temperature=0.0, max_tokens=self.max_tokens)
        if self.structured:
            try:
                return self.client.chat.completions.create(response_format=response_format(schema), **kwargs)
            except BadRequestError as err:
                log.info("%s endpoint refuses structured outputs (%s); parsing plain replies", self.role,
                         err.status_code)
                self.structured = False
        return self.client.chat.completions.create(**kwargs)

    def ask(self, messages: list[dict], out: type[Model], tries: int,
            schema: type[BaseModel] | None = None) -> Answer[Model]:
        """The reply parsed as ``out``; the server is asked for ``schema`` (default ``out``): a stricter
        model than the one parsed, so the server is constrained while the caller can still tell apart
        *why* a reply that got through is unusable."""
        from openai import OpenAIError

        answer: Answer[Model] = Answer(None, "no reply")
        for attempt in range(tries):
            began = time.perf_counter()
            try:
                reply = self._complete(messages, schema or out)
            except OpenAIError as err:  # the client already retried with backoff: a transport fault
                refused = refusal(err, self.role, self.client.base_url, self.model, self.settings)
                if refused:
                    raise refused from None
                answer.problem, answer.transport = f"{type(err).__name__} after the client's retries", True
                return answer
            except ValueError as err:  # a 200 whose body is not a completion (a proxy's error page): ask again
                answer.problem, answer.transport = f"unreadable response body ({type(err).__name__})", True
                continue
            answer.transport = False
            usage = reply.usage
            answer.calls.append(Call(role=self.role, backend=self.backend, model=self.model,
                                     prompt_tokens=usage.prompt_tokens if usage else 0,
                                     completion_tokens=usage.completion_tokens if usage else 0,
                                     seconds=round(time.perf_counter() - began, 3)))
            content = reply.choices[0].message.content if reply.choices else ""
            answer.value, why = parse_reply(content, out)
            if answer.value is not None:
                answer.problem = ""
                return answer
            answer.problem = (f"attempt {attempt + 1}: reply does not fit {out.__name__} ({why}): "
                              f"{(content or '')[:120]!r}")
        return answer
