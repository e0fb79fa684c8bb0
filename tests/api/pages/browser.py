"""Debian's headless ``chromium`` driven from the tests: ``--dump-dom``, ``--screenshot``, and a
small DevTools-protocol client over ``--remote-debugging-pipe`` (NUL-separated JSON on fds 3/4)
that records every network request of a page load, so a failing one cannot go unnoticed.

Every run maps all host names to nothing except 127.0.0.1: a page that reaches for a CDN fails
to load it, and the request log shows it."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "chromium"
LOOPBACK_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"


def _flags(profile: Path) -> list[str]:
    return [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", f"--user-data-dir={profile}", LOOPBACK_ONLY]  # fmt: skip


def dump_dom(url: str, profile: Path) -> str:
    """The page's DOM after load, as ``chromium --dump-dom`` prints it."""
    done = subprocess.run(
        [*_flags(profile), "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def screenshot(url: str, path: Path, profile: Path) -> Path:
    """A 1280×2000 PNG of the page at ``path``."""
    done = subprocess.run(
        [*_flags(profile), f"--screenshot={path}", "--window-size=1280,2000",
         "--hide-scrollbars", url],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and path.exists(), done.stderr
    return path


@dataclass
class Request:
    url: str
    status: int | None = None
    failure: str | None = None


@dataclass
class PageLoad:
    """Every request a page load made (by DevTools request id) and whether it loaded."""

    requests: dict[str, Request] = field(default_factory=dict)

    def failed(self) -> list[Request]:
        return [r for r in self.requests.values() if r.failure or (r.status or 0) >= 400]


class _Pipe:
    def __init__(self, profile: Path) -> None:
        to_browser_r, self._out = os.pipe()
        self._in, from_browser_w = os.pipe()
        # The browser reads commands on fd 3 and writes answers and events on fd 4; bash (dash
        # takes single-digit fds only) puts the pipe's ends there, and chromium's wrapper
        # script passes them on.
        command = [*_flags(profile), "--remote-debugging-pipe", "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}', *command],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        return self._next_id

    def receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            assert left > 0, "chromium did not answer in time"
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 65536)
                assert chunk, "chromium closed the DevTools pipe"
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        *,
        deadline: float,
        seen: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        wanted = self.send(method, params, session)
        while True:
            message = self.receive(deadline)
            if message.get("id") == wanted:
                assert "error" not in message, message
                result: dict[str, Any] = message.get("result", {})
                return result
            if seen is not None:
                seen.append(message)

    def close(self) -> None:
        self.process.kill()
        self.process.wait(30)
        os.close(self._in)
        os.close(self._out)


def load(url: str, profile: Path, timeout: float = 60.0) -> PageLoad:
    """Open ``url`` in a fresh tab and record its requests until the load event (and until every
    request it started has finished)."""
    pipe = _Pipe(profile)
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)
        attached = pipe.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
            deadline=deadline, seen=events,
        )  # fmt: skip
        session = attached["sessionId"]
        for method in ("Network.enable", "Page.enable"):
            pipe.call(method, session=session, deadline=deadline, seen=events)
        pipe.call("Page.navigate", {"url": url}, session, deadline=deadline, seen=events)
        page = PageLoad()
        loaded = False
        while True:
            for message in events:
                loaded = _record(page, message) or loaded
            events.clear()
            pending = [r for r in page.requests.values() if r.status is None and not r.failure]
            if loaded and not pending:
                return page
            events.append(pipe.receive(deadline))
    finally:
        pipe.close()


def _record(page: PageLoad, message: dict[str, Any]) -> bool:
    """Fold one DevTools event into ``page``; True for the load event."""
    method, params = message.get("method"), message.get("params", {})
    if method == "Network.requestWillBeSent":
        page.requests[params["requestId"]] = Request(params["request"]["url"])
    elif method == "Network.responseReceived" and params["requestId"] in page.requests:
        page.requests[params["requestId"]].status = int(params["response"]["status"])
    elif method == "Network.loadingFailed" and params["requestId"] in page.requests:
        page.requests[params["requestId"]].failure = params.get("errorText") or "failed"
    return method == "Page.loadEventFired"
