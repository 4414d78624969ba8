"""A scripted OpenAI-compatible chat endpoint on 127.0.0.1 for tests of the network path: the real
openai client talks real HTTP to it; replies come from a script, since no model here could judge or
write about images. Real model servers (llama.cpp) are used where a test needs a model's own replies."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class Endpoint:
    """Replies in order, or from ``script(body)``: a string is the assistant's content, an int an HTTP
    error status. With ``structured=False`` it answers 400 to any request asking for a response format.
    Every request is kept (path, Authorization header, body)."""

    def __init__(self, replies: list | None = None, structured: bool = True,
                 script: Callable[[dict], str | int] | None = None):
        self.replies, self.requests = list(replies or []), []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if "response_format" in body and not structured:
                    return self.reply(400, {"error": {"message": "response_format is not supported"}})
                if script is not None:
                    content = script(body)
                else:
                    content = endpoint.replies.pop(0) if endpoint.replies else "no more replies"
                if isinstance(content, int):
                    return self.reply(content, {"error": {"message": "scripted failure"}})
                self.reply(200, {
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59},
                })

            def reply(self, status, obj):
                payload = json.dumps(obj).encode()
                self.send_response(status)
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
        self.server.server_close()


def prompt_text(body: dict) -> str:
    """The text part of a request's last message."""
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def images_sent(body: dict) -> list[str]:
    content = body["messages"][-1]["content"]
    return [] if isinstance(content, str) else [p["image_url"]["url"] for p in content if p["type"] == "image_url"]


class FaultProxy:
    """A proxy in front of a real endpoint that injects one fault per request, in the order given, then
    passes requests through: ``timeout`` (answers after ``delay`` seconds), ``429`` (with Retry-After),
    ``500``, ``reset`` (drops the connection), ``truncated`` (half the body), ``nonjson`` (a 200 whose body
    is not JSON) and ``schema`` (a well-formed completion whose content is JSON of the wrong shape).
    ``log`` keeps (monotonic time, fault) per request."""

    FAULTS = ("timeout", "429", "500", "reset", "truncated", "nonjson", "schema")

    def __init__(self, upstream: str, faults: list[str], delay: float = 3.0, retry_after: float = 1.0):
        import socket
        import struct
        import time
        import urllib.error
        import urllib.request

        self.faults, self.log, lock = list(faults), [], threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    fault = proxy.faults.pop(0) if proxy.faults else "pass"
                    proxy.log.append((time.monotonic(), fault))
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if fault in ("429", "500"):
                    headers = {"Retry-After": str(retry_after)} if fault == "429" else {}
                    return self.send(int(fault), b'{"error": {"message": "injected"}}', headers)
                if fault == "nonjson":
                    return self.send(200, b"<html>upstream exploded</html>")
                if fault == "timeout":
                    time.sleep(delay)
                request = urllib.request.Request(upstream + self.path.removeprefix("/v1"), data=body,
                                                 headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=120) as reply:
                        status, payload = reply.status, reply.read()
                except urllib.error.HTTPError as err:
                    status, payload = err.code, err.read()
                if fault == "schema":
                    data = json.loads(payload)
                    data["choices"][0]["message"]["content"] = '{"unexpected": true}'
                    payload = json.dumps(data).encode()
                if fault == "truncated":
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[:len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send(status, payload)

            def send(self, status: int, payload: bytes, headers: dict | None = None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
