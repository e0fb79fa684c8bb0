"""A real loopback HTTP server for collector tests: canned JSON per route, scripted failures.

    with FakeAPI() as api:
        api.add("/api/v2/things", Reply(json={"things": []}))          # or a function of Seen
        api.fail_next("/api/v2/things", Reply(status=500), Reply(status=429,
                      headers={"Retry-After": "7"}))                  # served first, in order
        ... point a client at api.url ...
        api.seen("/api/v2/things")                                    # what the server received

It is a ``ThreadingHTTPServer`` on ``('127.0.0.1', 0)`` serving from a daemon thread. A
``Reply(hang=True)`` holds the connection without answering until the server stops, so a timeout
test waits on the client's own timeout and an event — never on a sleep. Unknown routes answer 404
with a JSON error, as real APIs do. Headers are written exactly as given (no automatic ``Date``),
so a test that needs a server date sets it.

``fetch_context`` builds the ``FetchContext`` a connector test hands to ``fetch``, with a
recording ``sleep`` so tests assert the waits a collector asked for.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rapport.signals.collectors.base import ClientMap, FetchContext
from rapport.signals.model import Client

HANG_LIMIT = 30.0  # a hung reply never outlives this, even if a test forgets to stop the server


@dataclass(frozen=True)
class Seen:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Reply:
    """What to answer: ``json`` (serialised) or raw ``body`` bytes, a status and headers.
    ``chunked`` omits Content-Length (the body ends when the connection closes); ``hang`` never
    answers."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    chunked: bool = False
    hang: bool = False

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps(self.json).encode()


Responder = Reply | Callable[[Seen], Reply]


class FakeAPI:
    """Routes (method, path) → a ``Reply`` or a function of the request; see the module doc."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Responder] = {}
        self._scripted: dict[tuple[str, str], deque[Reply]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.requests: list[Seen] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeAPI as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, path: str, responder: Responder, method: str = "GET") -> None:
        """Answer ``method path`` with ``responder`` (after any scripted replies)."""
        self._routes[(method, path)] = responder

    def fail_next(self, path: str, *replies: Reply, method: str = "GET") -> None:
        """Serve ``replies`` to the next requests of ``method path``, in order, before the route."""
        with self._lock:
            self._scripted.setdefault((method, path), deque()).extend(replies)

    def seen(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def __enter__(self) -> FakeAPI:
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # a short poll interval keeps shutdown (and so each test's teardown) quick
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=HANG_LIMIT)

    def _reply_for(self, seen: Seen) -> Reply:
        key = (seen.method, seen.path)
        with self._lock:
            self.requests.append(seen)
            scripted = self._scripted.get(key)
            if scripted:
                return scripted.popleft()
        responder = self._routes.get(key)
        if responder is None:
            return Reply(status=404, json={"error": f"no route for {seen.method} {seen.path}"})
        return responder(seen) if callable(responder) else responder

    def _wait_for_release(self) -> None:
        self._release.wait(timeout=HANG_LIMIT)


class _Handler(BaseHTTPRequestHandler):
    api: FakeAPI

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        query = parse_qs(parts.query, keep_blank_values=True)
        seen = Seen(method, parts.path, query, headers, body)
        reply = self.api._reply_for(seen)
        if reply.hang:
            self.api._wait_for_release()
            self.close_connection = True
            return
        payload = reply.payload()
        self.send_response_only(reply.status)
        sent = {name.lower() for name in reply.headers}
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", "application/json")
        if not reply.chunked:
            self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


# --- what a connector test hands to fetch -----------------------------------------------------

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Harness:
    """A ``FetchContext`` plus what it recorded: the sleeps asked for and the skips logged."""

    context: FetchContext
    sleeps: list[float]

    @property
    def unmapped(self) -> dict[str, int]:
        return dict(self.context.clients.unmapped)


def fetch_context(
    http: Any,
    clients: Iterable[tuple[str, str]] = (),
    attribute: str = "source_id",
    secrets: Mapping[str, str] | None = None,
    now: datetime = NOW,
) -> Harness:
    """A context whose registry maps each ``(source id, client id)`` through ``attribute``,
    whose ``secret(name)`` reads ``secrets`` (a missing name is a KeyError, like os.environ),
    and whose ``sleep`` records instead of sleeping."""
    registry = [
        Client(id=client_id, name=client_id, attrs={attribute: source_id})
        for source_id, client_id in clients
    ]
    sleeps: list[float] = []
    known = dict(secrets or {})
    context = FetchContext(
        now=now,
        clients=ClientMap(registry, attribute),
        secret=lambda name: known[name],
        http=http,
        sleep=sleeps.append,
    )
    return Harness(context, sleeps)


def http_date(moment: datetime) -> str:
    """``moment`` as an RFC 9110 HTTP date (for Date and Retry-After headers)."""
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def drain(
    collector: Any, cursor: Any, context: FetchContext, pages: int = 20
) -> tuple[list[Any], Any]:
    """Call ``fetch`` the way the runner does — again with the returned cursor while ``more`` —
    and return every signal plus the final cursor."""
    signals: list[Any] = []
    for _ in range(pages):
        result = collector.fetch(cursor, context)
        signals.extend(result.signals)
        cursor = result.cursor
        if not result.more:
            return signals, cursor
    raise AssertionError(f"still more pages after {pages} fetches")
