"""Headless Chromium for tests that look at a page as a reader would: layout, clicks, text of frames.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ending in NUL on file descriptors 3 and 4), so no websocket
library or driver is needed.  Tests skip where no Chromium is installed
(Debian: ``apt-get install -y --no-install-recommends chromium``).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _high(*fds: int) -> tuple[int, ...]:
    """The descriptors moved above 9, so that putting them on 3 and 4 cannot close one of them."""
    out = []
    for fd in fds:
        out.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return tuple(out)


class Browser:
    """One headless Chromium with one page of ``width`` × ``height`` CSS pixels."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900, timeout: float = 60.0):
        exe = find_chromium()
        if exe is None:
            raise FileNotFoundError("no chromium on PATH")
        self.timeout, self._next, self._buf = timeout, 0, b""
        to_child, self._to_child = _high(*os.pipe())      # we write commands; Chromium reads fd 3
        self._from_child, from_child = _high(*os.pipe())  # Chromium writes fd 4; we read replies
        args = ["--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-features=site-per-process,IsolateOrigins", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "about:blank"]
        # bash (dash takes no descriptor above 9) puts the pipe ends on 3 and 4, where Chromium looks.
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-', exe, *args],
            pass_fds=(to_child, from_child), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.page("Page.enable")
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    # -- protocol
    def _read(self) -> dict:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def page(self, method: str, **params) -> dict:
        return self.call(method, session=self.session, **params)

    # -- what a test needs
    def evaluate(self, expression: str, context: int | None = None):
        extra = {"contextId": context} if context is not None else {}
        res = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True, **extra)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:80]}: {res['exceptionDetails'].get('text')} "
                               f"{res['exceptionDetails'].get('exception', {}).get('description', '')}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None, context: int | None = None):
        """Poll ``expression`` until it is truthy; its value."""
        end = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                value = self.evaluate(expression, context)
            except RuntimeError:
                value = None
            if value:
                return value
            if time.monotonic() > end:
                raise TimeoutError(f"page never satisfied: {expression}")
            time.sleep(0.2)

    def open(self, url: str) -> None:
        self.page("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def screenshot(self, path: Path) -> Path:
        data = self.page("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def frame_texts(self) -> list[str]:
        """The visible text of every child frame (iframes, also those from data: URLs)."""
        tree = self.page("Page.getFrameTree")["frameTree"]
        texts = []
        for child in tree.get("childFrames", []):
            ctx = self.page("Page.createIsolatedWorld", frameId=child["frame"]["id"])["executionContextId"]
            texts.append(self.wait_for("document.body && document.body.innerText", context=ctx) or "")
        return texts

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
