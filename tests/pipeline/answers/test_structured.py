"""Replies from real servers: JSON in fences, with prose around it or trailing commas still reads; a
reply that does not fit the model says why."""

from typing import Literal

from pydantic import BaseModel, Field

from pipeline.answers.structured import parse_reply, response_format


class Reply(BaseModel):
    kind: Literal["a", "b"]
    items: list[str] = Field(default_factory=list, max_length=2)


def test_tolerant_forms_parse():
    for text in ('{"kind": "a"}', 'Sure!\n```json\n{"kind": "a", "items": ["x",],}\n```\nAnything else?',
                 'The answer is {"kind": "a"} as asked.', '```\n{"kind": "a"}\n```'):
        value, problem = parse_reply(text, Reply)
        assert value is not None and value.kind == "a" and problem == "", text


def test_replies_that_do_not_fit_say_why():
    assert parse_reply("", Reply) == (None, "no JSON object in the reply")
    assert parse_reply(None, Reply) == (None, "no JSON object in the reply")
    value, problem = parse_reply('{"kind": "c"}', Reply)
    assert value is None and problem.startswith("kind:")
    value, problem = parse_reply('{"kind": "a", "items": ["1", "2", "3"]}', Reply)
    assert value is None and problem.startswith("items:")
    value, problem = parse_reply('{"kind": ', Reply)
    assert value is None and problem == "no JSON object in the reply"
    value, problem = parse_reply('{"kind": "a" "items": []}', Reply)
    assert value is None and problem.startswith("not JSON")


def test_response_format_carries_the_schema():
    fmt = response_format(Reply)
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["properties"]["kind"]["enum"] == ["a", "b"]
