"""The OpenAI-compatible judge over real HTTP: a local chat-completions endpoint on 127.0.0.1 that
replies from a script (no VLM that could judge images runs here), exercising the real openai client,
retries on invalid JSON, failures kept apart from accuracy, and the key staying out of every record."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.diagnose import aggregate, grade_items
from pipeline.judges import OpenAIJudge

SECRET = "sk-test-do-not-leak-123"


class Endpoint:
    def __init__(self, replies: list[str]):
        self.replies, self.requests = list(replies), []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                content = endpoint.replies.pop(0) if endpoint.replies else "no more replies"
                payload = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def item(i, answer="3"):
    return {"item_id": f"i{i}", "category": "counting", "image_type": "shapes", "question": "How many shapes?",
            "answer": answer, "answer_type": "integer", "options": [], "image": b"\x89PNG fake bytes"}


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", SECRET)


def test_judge_attributes_retries_and_fails_apart(secret_env, caplog):
    endpoint = Endpoint([
        '{"error_type": "visual_recognition", "reason": "miscounted"}',  # item 1: first try
        "I think it is a calculation error",                             # item 2: not JSON ...
        '{"error_type": "calculation"}',                                 # ... retried, then fine
        "nope", '{"error_type": "astrology"}', "{broken",                # item 3: three bad replies
    ])
    try:
        judge = OpenAIJudge(endpoint.url, "judge-model", api_key_env="JUDGE_KEY", retries=2)
        items = [item(0), item(1), item(2), item(3), item(4)]
        results = grade_items(items, ["3", "4", "5", "6", "3"], judge)
    finally:
        endpoint.close()
    assert [r["error_type"] for r in results] == ["", "visual_recognition", "calculation", "", ""]
    assert [r["judge_status"] for r in results] == ["ok", "ok", "ok", "failed", "ok"]
    assert "not JSON" in results[3]["judge_detail"] and len(endpoint.requests) == 6
    first = endpoint.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["body"]["model"] == "judge-model"
    assert first["body"]["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert first["auth"] == f"Bearer {SECRET}"  # the key travels to the server, and nowhere else:
    assert SECRET not in json.dumps(results) and SECRET not in caplog.text
    diagnosis = aggregate(results, prior_strength=0)
    assert diagnosis["judge_failures"] == 1 and diagnosis["graded"] == 4
    assert diagnosis["accuracy"] == 0.5  # 2 of the 4 graded; the judge failure is not a model error


def test_unreachable_judge_is_a_recorded_failure(secret_env):
    endpoint = Endpoint([])
    url = endpoint.url
    endpoint.close()
    endpoint.server.server_close()
    judge = OpenAIJudge(url, "m", api_key_env="JUDGE_KEY", retries=1, timeout=2)
    (result,) = grade_items([item(0)], ["9"], judge)
    assert result["judge_status"] == "failed" and "APIConnectionError" in result["judge_detail"]
