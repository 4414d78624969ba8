"""The OpenAI-compatible judge over real HTTP: a local chat-completions endpoint on 127.0.0.1 that
replies from a script (no VLM that could judge images runs here), exercising the real openai client:
structured outputs and the fallback when a server refuses them, the client's own retries of server
errors, retries of invalid replies, failures kept apart from accuracy, token accounting, the image's
real MIME type, and the key staying out of every record."""

import io
import json

import pytest
from PIL import Image

from pipeline.answers.results import grade
from pipeline.diagnosis.diagnose import aggregate
from pipeline.diagnosis.judges import OpenAIJudge
from tests.servers import Endpoint

SECRET = "sk-test-do-not-leak-123"


def image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, format=fmt)
    return buf.getvalue()


def item(i, answer="3", fmt="PNG"):
    return {"item_id": f"i{i}", "category": "counting", "image_type": "shapes", "question": "How many shapes?",
            "answer": answer, "answer_type": "integer", "options": [], "image": image(fmt)}


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", SECRET)


def test_judge_attributes_retries_and_fails_apart(secret_env, caplog):
    endpoint = Endpoint([
        '{"error_type": "visual_recognition", "reason": "miscounted"}',  # item 1: first try
        "I think it is a calculation error",                             # item 2: not JSON ...
        '{"error_type": "calculation"}',                                 # ... asked again, then fine
        "nope", '{"error_type": "astrology"}', "{broken",                # item 3: three bad replies
    ])
    try:
        judge = OpenAIJudge(endpoint.url, "judge-model", api_key_env="JUDGE_KEY", retries=2)
        items = [item(0), item(1), item(2), item(3), item(4)]
        results = grade(items, ["3", "4", "5", "6", "3"], judge)
    finally:
        endpoint.close()
    assert results["error_type"].to_list() == ["", "visual_recognition", "calculation", "", ""]
    assert results["judge_status"].to_list() == ["ok", "ok", "ok", "failed", "ok"]
    assert "does not fit JudgeReply" in results["judge_detail"][3] and len(endpoint.requests) == 6
    first = endpoint.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["body"]["model"] == "judge-model"
    assert first["body"]["response_format"]["type"] == "json_schema"  # structured outputs asked for
    assert first["body"]["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert first["auth"] == f"Bearer {SECRET}"  # the key travels to the server, and nowhere else:
    assert SECRET not in json.dumps(results.to_dicts(), default=str) and SECRET not in caplog.text
    calls = [json.loads(c) for c in results["judge_calls"]]
    assert [len(c) for c in calls] == [0, 1, 2, 3, 0]  # every reply is a call, counted with its tokens
    assert calls[2][1] | {"seconds": 0} == {"role": "judge", "backend": "openai", "model": "judge-model",
                                           "prompt_tokens": 50, "completion_tokens": 9, "seconds": 0}
    assert all(c["seconds"] >= 0 for cs in calls for c in cs)
    diagnosis = aggregate(results, prior_strength=0)
    assert diagnosis.judge_failures == 1 and diagnosis.graded == 4
    assert diagnosis.accuracy == 0.5  # 2 of the 4 graded; the judge failure is not a model error


def test_server_errors_are_retried_by_the_client_and_plain_replies_parsed(secret_env):
    endpoint = Endpoint([503, '{"error_type": "reasoning", "reason": "x"}'], structured=False)
    try:
        judge = OpenAIJudge(endpoint.url, "m", api_key_env="JUDGE_KEY", retries=2, timeout=5)
        results = grade([item(0, fmt="JPEG")], ["9"], judge)
    finally:
        endpoint.close()
    assert results["judge_status"].to_list() == ["ok"] and results["error_type"].to_list() == ["reasoning"]
    asked = [r["body"] for r in endpoint.requests]
    # refused structured outputs once (400), then plain: a 503 the client retried itself, then the answer
    assert ["response_format" in b for b in asked] == [True, False, False]
    assert asked[1]["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_unreachable_judge_is_a_recorded_failure(secret_env):
    endpoint = Endpoint([])
    url = endpoint.url
    endpoint.close()
    judge = OpenAIJudge(url, "m", api_key_env="JUDGE_KEY", retries=1, timeout=2)
    results = grade([item(0)], ["9"], judge)
    assert results["judge_status"].to_list() == ["failed"] and "APIConnectionError" in results["judge_detail"][0]


def test_a_judge_endpoint_that_refuses_the_key_stops_with_the_params_to_fix(secret_env):
    from pipeline.answers.structured import EndpointRefused

    endpoint = Endpoint([401])
    try:
        judge = OpenAIJudge(endpoint.url, "judge-model", "JUDGE_KEY", retries=2)
        with pytest.raises(EndpointRefused) as err:
            judge.judge(item(1), "4", 4)
    finally:
        endpoint.close()
    assert len(endpoint.requests) == 1 and "diagnose.judge_url" in str(err.value) and "$JUDGE_KEY" in str(err.value)
    assert SECRET not in str(err.value)
