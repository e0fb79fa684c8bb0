"""Helpers for API tests: a real server in a thread, tokens, a clock and a hand-computable world.

``tests/api/data/rules/scorecard.yaml`` scores two components, as of ``T`` (2026-06-30 12:00 UTC):

- responsiveness (weight 3): mean reply hours over 7d, 100 − 10·hours; missing → carried ≤ 30d
- invoices (weight 1): latest ``overdue_invoices`` over 30d, 100 − 20·count; missing → skipped

``seed_world`` registers four clients and signals, giving these scores:

======== ========== ============= ===================================== ===== =======
client   segment    owner         signals                               score grade
======== ========== ============= ===================================== ===== =======
acme     enterprise Alice Smith   replies 1h, 3h (mean 2 → 80); 1 inv.  80    healthy
globex   smb        Bob Jones     reply 6h (→ 40); no invoices (skip)   40    at_risk
initech  —          Alice Smith   reply 5h 10 days ago: carried (→ 50)  50    watch
umbrella —          —             none                                  —     —
======== ========== ============= ===================================== ===== =======

acme: (3·80 + 1·80)/4 = 80. initech's responsiveness is stale (carried).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from rapport.api.app import build_service, create_app
from rapport.api.auth import hash_token
from rapport.api.service import Service
from rapport.api.settings import Settings, TokenSpec
from rapport.signals.model import Client, Owner, StoredSignal
from rapport.signals.store import Store

T = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data"

#: token → (scopes, owner restriction)
TOKENS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "admin-token": (("admin",), None),
    "read-token": (("read",), None),
    "ingest-token": (("ingest",), None),
    "alice-token": (("read", "admin"), "alice-smith"),  # by name slug
    "bob-token": (("read", "ingest"), "bob@example.com"),  # by email
}


def token_specs() -> tuple[TokenSpec, ...]:
    return tuple(
        TokenSpec(
            name=token.removesuffix("-token"), sha256=hash_token(token), scopes=scopes, owner=owner
        )
        for token, (scopes, owner) in TOKENS.items()
    )


class Clock:
    """A settable clock: the evaluator's "now"."""

    def __init__(self, now: datetime = T) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class LiveServer:
    """A running server and an HTTP client for it."""

    url: str
    app: FastAPI
    store: Store
    clock: Clock
    rules_dir: Path
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=30)

    @property
    def service(self) -> Service:
        service: Service = self.app.state.service
        return service

    def call(
        self, method: str, path: str, token: str | None = "admin-token", **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, path, headers=headers, **kw)


def wait_for(
    condition: Callable[[], object], timeout: float = 15.0, what: str = "condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Running:
    server: uvicorn.Server
    thread: threading.Thread


def start_in_thread(app: FastAPI) -> tuple[str, Running]:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
    if not server.started:
        pytest.fail("the API server did not start (see the log above)")
    return f"http://127.0.0.1:{port}", Running(server, thread)


def stop_in_thread(running: Running) -> None:
    running.server.should_exit = True
    running.thread.join(30)


ServerFactory = Callable[..., LiveServer]


def launch(
    rules_dir: Path,
    url: str,
    *,
    tokens: bool = True,
    clock: Clock | None = None,
    **overrides: Any,
) -> tuple[LiveServer, Callable[[], None]]:
    """Open a store on ``url`` and serve it in a thread; returns the server and its stopper."""
    clock = clock or Clock()
    store = Store.open(url, clock=clock)
    overrides.setdefault("evaluate_debounce", "1s")
    settings = Settings(
        database_url=url,
        rules_dir=rules_dir,
        tokens=token_specs() if tokens else (),
        **overrides,
    )
    app = create_app(build_service(settings, store=store, clock=clock))
    address, running = start_in_thread(app)

    def stop() -> None:
        stop_in_thread(running)
        store.close()

    return LiveServer(address, app, store, clock, rules_dir), stop


def world_clients() -> list[Client]:
    alice = Owner(name="Alice Smith", email="alice@example.com")
    bob = Owner(name="Bob Jones", email="bob@example.com", locale="de")
    return [
        Client(
            id="acme", name="Acme Corp", segment="enterprise", owner=alice, attrs={"tier": "gold"}
        ),
        Client(id="globex", name="Globex", segment="smb", owner=bob),
        Client(id="initech", name="Initech", owner=alice),
        Client(id="umbrella", name="Umbrella"),
    ]


def reply(event_id: str, client: str, hours_ago: float, value: float) -> StoredSignal:
    return StoredSignal(
        event_id=event_id,
        client=client,
        kind="response_time",
        ts=T - timedelta(hours=hours_ago),
        value=value,
        attrs={"channel": "email"},
    )


def world_signals() -> list[StoredSignal]:
    return [
        reply("acme-r1", "acme", 24, 1.0),
        reply("acme-r2", "acme", 48, 3.0),
        StoredSignal(
            event_id="acme-inv",
            client="acme",
            kind="overdue_invoices",
            ts=T - timedelta(days=2),
            value=1.0,
            attrs={"currency": "EUR"},
        ),
        reply("globex-r1", "globex", 48, 6.0),
        reply("initech-r1", "initech", 240, 5.0),
    ]


def seed_world(server: LiveServer) -> None:
    """Register the world's clients and signals, then score them (as of the server's clock)."""
    server.store.upsert_clients(world_clients())
    server.store.upsert_signals(world_signals())
    server.service.evaluator.evaluate_now()


# --- `rapport serve` as a real process ----------------------------------------------------------

RAPPORT = Path(sys.executable).with_name("rapport")


class ServeProcess:
    """``rapport serve --port 0`` in a subprocess; ``url`` is read from the banner it prints."""

    def __init__(self, database_url: str, rules_dir: Path, *args: str, tokens: bool = True) -> None:
        env = {**os.environ, "RAPPORT_EVALUATE_DEBOUNCE": "1s"}
        # A module-scoped server misses the per-test outbox fixture: never the repository's
        # data/outbox, whatever starts it.
        env.setdefault("RAPPORT_OUTBOX_DIR", tempfile.mkdtemp(prefix="rapport-outbox-"))
        if tokens:
            env["RAPPORT_TOKENS"] = json.dumps([t.model_dump() for t in token_specs()])
        command = [str(RAPPORT), "--database-url", database_url, "--rules-dir", str(rules_dir),
                   "serve", "--port", "0", *args]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_banner()
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def _wait_for_banner(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            if line.startswith("Rapport serving on "):
                url = line.removeprefix("Rapport serving on ").strip()
                while not self.output[-1].startswith("  store"):  # the rest of the banner
                    self.output.append(self.lines.get(timeout=max(deadline - time.monotonic(), 0)))
                return url
        self.kill()
        pytest.fail("rapport serve did not start:\n" + "".join(self.output))

    def call(
        self, method: str, path: str, token: str | None = "admin-token", **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, path, headers=headers, **kw)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.kill()
        self.process.wait(30)
        self.http.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self.http.close()
