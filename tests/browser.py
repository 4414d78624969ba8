"""A real browser for the tests of the HTML report: Debian's headless Chromium (`apt-get install chromium`).

``check_page`` loads a page from disk with no network, and returns what went wrong in it: script errors,
console errors and resources that failed to load (through a probe script put first in a copy of the page),
the images that did not decode, and errors Chromium itself logged for the page. ``screenshot`` saves a PNG.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROBE = """<script>
window.__problems = [];
window.addEventListener("error", e => window.__problems.push(e.target && e.target.tagName
  ? "failed to load " + e.target.tagName + " " + (e.target.alt || (e.target.src || "").slice(0, 60)) : "error " + e.message), true);
const __error = console.error;
console.error = (...a) => { window.__problems.push("console.error " + a.join(" ")); __error(...a); };
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src.slice(0, 60));
  const out = document.createElement("pre");
  out.id = "__check";
  out.textContent = JSON.stringify({problems: window.__problems, broken: broken, images: document.images.length,
                                    svgs: document.querySelectorAll("svg").length});
  document.body.appendChild(out);
});
</script>"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]  # nothing off the machine


def chromium() -> str:
    """The browser's path; a skip where it is not installed, unless DPE_REQUIRE_CHROMIUM says CI must have it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("DPE_REQUIRE_CHROMIUM"):
            raise RuntimeError("chromium is not installed: apt-get install chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def check_page(page: Path, scratch: Path) -> dict:
    """{problems, broken, images, svgs, logged}: logged holds Chromium's own error lines about the page."""
    probed = scratch / f"probed-{page.name}"
    text = page.read_text()
    head = text.index("<head>") + len("<head>")
    probed.write_text(text[:head] + PROBE + text[head:])
    done = subprocess.run([chromium(), *FLAGS, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
                           "--dump-dom", probed.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="__check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page never finished loading:\n{done.stderr[-3000:]}"
    result = json.loads(html.unescape(found.group(1)))
    result["logged"] = [line for line in done.stderr.splitlines()
                        if "CONSOLE" in line or "Uncaught" in line or "net::ERR" in line]
    return result


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 2400) -> Path:
    subprocess.run([chromium(), *FLAGS, f"--window-size={width},{height}", "--hide-scrollbars",
                    f"--screenshot={out.resolve()}", page.resolve().as_uri()], capture_output=True, timeout=180,
                   check=True)
    return out


class Person:
    """Chromium driven the way a person drives it, over the DevTools protocol: a page loaded from disk, real
    mouse clicks at the on-screen centre of an element (found by its CSS selector), downloads into a folder.
    Nothing calls the page's own functions."""

    def __init__(self, downloads: Path, width: int = 1200, height: int = 6000):
        import socket
        import time
        import urllib.request

        import websocket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.proc = subprocess.Popen([chromium(), *FLAGS, f"--remote-debugging-port={port}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, targets = time.time() + 60, []
        while not targets:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as reply:
                    targets = [t for t in json.load(reply) if t["type"] == "page"]
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.setDownloadBehavior", behavior="allow", downloadPath=str(downloads.resolve()))

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, page: Path) -> None:
        self.call("Page.navigate", url=page.resolve().as_uri())
        while self.read("document.readyState") != "complete":
            pass

    def read(self, expression: str):
        """The value of a read-only expression (where an element is, what a field holds)."""
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def click(self, selector: str) -> None:
        box = self.read(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                        " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        self.ws.close()
        self.proc.kill()
        self.proc.wait()
