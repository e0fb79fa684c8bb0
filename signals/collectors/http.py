"""Shared HTTP plumbing for the SaaS connectors: one bounded client, one request function with
retries and rate-limit handling, and strict JSON. What a connector is built from on top of it (its
config fields, its auth hook, its ``Source``) is in ``http_collector``.

Contract of ``request`` (every HTTP connector goes through it):

- every call has a timeout: the client's, or ``timeout`` for that call; httpx's timeouts are per
  network operation (https://www.python-httpx.org/advanced/timeouts/: connect, read, write,
  pool — a read timeout restarts with every chunk), so a source trickling a byte a second never
  trips them. ``deadline`` bounds the whole request instead: from sending it to the last body
  byte, measured on a monotonic clock checked between chunks (and no read may wait past it), so a
  request fails within ``deadline`` plus at most one read. A missed deadline is not retried: a
  source that slow would hold the scheduler thread ``retries`` times over;
- 5xx answers, timeouts and broken connections are retried up to ``retries`` times, waiting
  ``backoff * 2**attempt`` with equal jitter (half fixed, half random) between attempts;
- 429 — and 403 when it is a rate limit (GitHub sends ``x-ratelimit-remaining: 0`` or a
  ``Retry-After``) — waits what the server asked, read from ``wait_headers`` in order (the first
  present wins): ``Retry-After`` in seconds or as an HTTP date (RFC 9110 §10.2.3), then the
  provider's own headers (each ``WaitHeader`` says whether its value is seconds from now or an
  epoch time: PagerDuty's ``ratelimit-reset`` is seconds, PingCode's ``x-pc-retry-after`` is
  seconds), then GitHub's ``x-ratelimit-reset`` epoch seconds (only with
  ``x-ratelimit-remaining: 0``); times are measured against the response's own ``Date`` so a
  skewed local clock does not matter. A wait longer than ``max_wait`` fails the run at once
  rather than parking a scheduler thread for an hour; the next scheduled run resumes from its
  cursor;
- a body longer than ``max_bytes`` (after decompression) is abandoned mid-stream;
- JSON is parsed strictly: UTF-8 only, no NaN/Infinity, no duplicate keys, no empty body;
- redirects are never followed and ``same_origin`` lets a connector refuse a pagination link
  that leaves its configured base URL: base URLs come from config only.

Every failure is a ``CollectorError`` naming the URL *without* its query string, because queries
can carry secrets (PingCode's token call sends the client secret there).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

from rapport.engine.errors import RapportError
from rapport.signals.collectors.base import CollectorError

if TYPE_CHECKING:
    import httpx

# httpx is imported where a request is made or a URL checked, not with this module: checking a
# collectors.yaml (`rapport rules check`) must not load the HTTP stack (~0.1 s with rich and
# pygments, which httpx's own CLI pulls in).
# ruff: noqa: PLC0415

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 120.0
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_USER_AGENT = "rapport-collector/0.1"
_SNIPPET = 200  # characters of an error body quoted in a message

_RNG = random.Random()


# --- the client --------------------------------------------------------------------------------


def make_http_client(
    timeout: float = DEFAULT_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_BYTES,
    user_agent: str = DEFAULT_USER_AGENT,
) -> httpx.Client:
    """The client the runner hands collectors: ``timeout`` seconds for connect/read/write/pool,
    bodies capped at ``max_response_bytes``, redirects not followed (a redirect could leave the
    configured base URL)."""
    import httpx

    class BoundedClient(httpx.Client):
        """An ``httpx.Client`` that also carries the response size limit ``request`` enforces."""

        def __init__(self, *, max_response_bytes: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.max_response_bytes = max_response_bytes

    if timeout <= 0 or max_response_bytes <= 0:
        raise CollectorError("http", "timeout and max_response_bytes must be positive")
    return BoundedClient(
        max_response_bytes=max_response_bytes,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": user_agent, "Accept": "application/json"},
    )


# --- what a server asks us to wait ---------------------------------------------------------------


@dataclass(frozen=True)
class WaitHeader:
    """A response header that says how long to wait before the next request: ``name``, and
    whether its value is ``seconds`` from now (an HTTP date is also read, as ``Retry-After``
    allows) or an ``epoch`` unix time. With ``gate``, the header counts only when the header named
    ``gate`` is ``0`` (GitHub sends ``x-ratelimit-reset`` on every answer; it is a wait only once
    ``x-ratelimit-remaining`` is 0). ``rate_limit_only`` headers are read on rate-limit answers
    only, not on 5xx (PagerDuty sends ``ratelimit-reset`` on every answer). A ``milliseconds``
    value is a wait in milliseconds (HubSpot's ``x-hubspot-ratelimit-interval-milliseconds``)."""

    name: str
    meaning: Literal["seconds", "milliseconds", "epoch"]
    gate: str | None = None
    rate_limit_only: bool = False


RETRY_AFTER = WaitHeader("retry-after", "seconds")
GITHUB_RESET = WaitHeader("x-ratelimit-reset", "epoch", gate="x-ratelimit-remaining")
#: What every request reads; a provider's own headers go between the two (see ``wait_headers``).
STANDARD_WAIT_HEADERS = (RETRY_AFTER, GITHUB_RESET)


def wait_headers(*provider: WaitHeader) -> tuple[WaitHeader, ...]:
    """``Retry-After`` first (the standard), then the provider's headers, then GitHub's reset."""
    return (RETRY_AFTER, *provider, GITHUB_RESET)


# --- one request -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonResponse:
    """A 2xx (or explicitly accepted) answer: status, headers, parsed JSON body, final URL."""

    status: int
    headers: httpx.Headers
    body: Any
    url: httpx.URL

    def link(self, rel: str) -> str | None:
        """The URL of the ``Link`` header entry with this ``rel`` (RFC 8288), or None."""
        for match in _LINK.finditer(self.headers.get("link", "")):
            rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', match.group(2))
            if any(rel in value.split() for value in rels):
                return match.group(1)
        return None


_LINK = re.compile(r"<([^>]*)>\s*((?:;[^,<]*)*)")


@dataclass(frozen=True)
class _Raw:
    status: int
    headers: httpx.Headers
    body: bytes
    url: httpx.URL


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    params: dict[str, Any] | None
    headers: dict[str, str] | None
    auth: httpx.Auth | tuple[str, str] | None
    timeout: float | None
    limit: int
    collector: str
    waits: tuple[WaitHeader, ...] = STANDARD_WAIT_HEADERS
    deadline: float | None = None
    monotonic: Callable[[], float] = time.monotonic
    data: dict[str, str] | None = None

    @property
    def where(self) -> str:
        return f"{self.method} {redact(self.url)}"


def request(
    client: httpx.Client | None,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    max_wait: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    max_bytes: int | None = None,
    timeout: float | None = None,
    accept_status: Iterable[int] = (),
    collector: str = "http",
    waits: Iterable[WaitHeader] = STANDARD_WAIT_HEADERS,
    deadline: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    data: Mapping[str, str] | None = None,
) -> JsonResponse:
    """Send one request with the retry, rate-limit, size and JSON rules in the module docstring.

    Returns the parsed answer for a 2xx status or one listed in ``accept_status``; raises
    ``CollectorError`` otherwise (after ``retries`` retries for the retryable failures).
    ``sleep``, ``clock`` and ``rng`` are injected so tests observe the waits without waiting.
    ``waits`` are the headers a server's requested wait is read from (``wait_headers``);
    ``deadline`` is the most seconds one attempt may take in all, on the ``monotonic`` clock.
    ``data`` is sent as a form body (an OAuth2 token request: a secret belongs in a body, never
    in a query a proxy might log).
    """
    if client is None:
        raise CollectorError(collector, "no HTTP client was handed to the collector")
    limit = max_bytes or int(getattr(client, "max_response_bytes", DEFAULT_MAX_BYTES))
    call = _Call(
        method, url, dict(params) if params else None, dict(headers) if headers else None,
        auth, timeout, limit, collector, tuple(waits), deadline, monotonic,
        dict(data) if data else None,
    )  # fmt: skip
    accepted, attempts = set(accept_status), retries + 1
    for attempt in range(attempts):
        outcome = _attempt(client, call, accepted, clock)
        if isinstance(outcome, JsonResponse):
            return outcome
        reason, asked = outcome
        if asked is not None and asked > max_wait:
            raise CollectorError(
                collector,
                f"{call.where}: {reason}; the server asks to wait {asked:.0f}s, more than "
                f"max_wait {max_wait:.0f}s (the next run resumes from the saved cursor)",
            )
        if attempt == attempts - 1:
            gave_up = f"gave up after {attempts} attempts"
            raise CollectorError(collector, f"{call.where}: {reason} ({gave_up})")
        sleep(asked if asked is not None else min(_backoff(backoff, attempt, rng), max_wait))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _attempt(
    client: httpx.Client, call: _Call, accepted: set[int], clock: Callable[[], float]
) -> JsonResponse | tuple[str, float | None]:
    """One try: the answer, or why to retry plus the wait the server asked for (None: back off)."""
    import httpx

    try:
        raw = _send(client, call)
    except httpx.TimeoutException:
        return "timed out", None
    except httpx.TransportError as error:
        return f"connection failed ({type(error).__name__})", None
    if 200 <= raw.status < 300 or raw.status in accepted:
        body = parse_json(raw.body, call.where, call.collector)
        return JsonResponse(raw.status, raw.headers, body, raw.url)
    return _retry_reason(raw, call, clock)


def _send(client: httpx.Client, call: _Call) -> _Raw:
    """Stream the body and stop reading as soon as it passes ``call.limit`` bytes or the
    request passes its ``call.deadline``."""
    import httpx

    ends = None if call.deadline is None else call.monotonic() + call.deadline
    with client.stream(
        call.method,
        call.url,
        params=call.params,
        headers=call.headers,
        data=call.data,
        auth=call.auth if call.auth is not None else httpx.USE_CLIENT_DEFAULT,
        timeout=_read_timeout(client, call),
    ) as response:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > call.limit:
            raise _too_large(call)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > call.limit:
                raise _too_large(call)
            if ends is not None and call.monotonic() > ends:
                raise DeadlineExceededError(call.collector, call.where, call.deadline or 0.0)
            chunks.append(chunk)
        if ends is not None and call.monotonic() > ends:
            raise DeadlineExceededError(call.collector, call.where, call.deadline or 0.0)
        return _Raw(response.status_code, response.headers, b"".join(chunks), response.url)


def _read_timeout(client: httpx.Client, call: _Call) -> httpx.Timeout | float | Any:
    """The call's timeout, no longer than its deadline: no single read may outlast the deadline
    (the chunk loop checks it only between reads)."""
    import httpx

    if call.deadline is None:
        return call.timeout if call.timeout is not None else httpx.USE_CLIENT_DEFAULT
    per_read = call.timeout if call.timeout is not None else client.timeout.read
    return min(per_read, call.deadline) if per_read is not None else call.deadline


class DeadlineExceededError(CollectorError):
    """One request took longer in all than its ``deadline``, although every single read arrived
    within the timeout (a source trickling its answer)."""

    def __init__(self, collector: str, where: str, deadline: float) -> None:
        self.deadline = deadline
        super().__init__(
            collector,
            f"{where}: no complete answer within the {deadline:g}s deadline (the source sends "
            "too slowly; raise deadline if it is just large)",
        )


def _too_large(call: _Call) -> CollectorError:
    return CollectorError(
        call.collector, f"{call.where}: response is larger than the {call.limit}-byte limit"
    )


def _retry_reason(raw: _Raw, call: _Call, clock: Callable[[], float]) -> tuple[str, float | None]:
    """Why a non-2xx answer is retried and the wait the server asked for (None: back off);
    raises ``CollectorError`` for the answers that are never retried."""
    limited = raw.status == 429 or (
        raw.status == 403
        and ("retry-after" in raw.headers or raw.headers.get("x-ratelimit-remaining") == "0")
    )
    if limited or raw.status >= 500:
        kind = "rate limited" if limited else "server error"
        return f"{kind} (HTTP {raw.status})", _server_wait(raw.headers, call.waits, limited, clock)
    if 300 <= raw.status < 400:
        target = redact(raw.headers.get("location", "?"))
        raise CollectorError(
            call.collector,
            f"{call.where}: redirected (HTTP {raw.status}) to {target}; redirects are not "
            "followed, so set base_url to the final address",
        )
    raise CollectorError(call.collector, f"{call.where}: HTTP {raw.status}{_snippet(raw.body)}")


def _server_wait(
    headers: httpx.Headers,
    waits: Iterable[WaitHeader],
    limited: bool,
    clock: Callable[[], float],
) -> float | None:
    """Seconds the server asked us to wait (the first of ``waits`` present), or None."""
    now = _http_date(headers.get("date")) or clock()
    for wait in waits:
        if wait.rate_limit_only and not limited:
            continue
        if wait.gate is not None and headers.get(wait.gate) != "0":
            continue
        value = (headers.get(wait.name) or "").strip()
        if value:
            asked = _wait_value(value, wait.meaning, now)
            if asked is not None:
                return asked
    return None


def _wait_value(value: str, meaning: str, now: float) -> float | None:
    """A header value as seconds to wait from ``now`` (None: unreadable)."""
    try:
        number = float(value)
    except ValueError:
        moment = _http_date(value)
        return None if moment is None else max(0.0, moment - now)
    if not math.isfinite(number):
        return None  # NaN / infinity: not a wait anyone meant
    if meaning == "milliseconds":
        return max(0.0, number / 1000)
    return max(0.0, number - now if meaning == "epoch" else number)


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _backoff(backoff: float, attempt: int, rng: random.Random | None) -> float:
    """Exponential backoff with equal jitter: half of ``backoff * 2**attempt`` fixed, half random,
    so retries from several replicas spread out but never come back sooner than half the step."""
    step = backoff * 2.0**attempt
    return step / 2 + (rng or _RNG).uniform(0, step / 2)


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    text = " ".join(text.split())
    if not text:
        return ""
    return f": {text[:_SNIPPET]}{'…' if len(text) > _SNIPPET else ''}"


def redact(url: str) -> str:
    """The URL without query string or fragment (queries may carry secrets)."""
    return re.split(r"[?#]", str(url), maxsplit=1)[0]


# --- strict JSON -------------------------------------------------------------------------------


class _StrictJsonError(RapportError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def parse_json(body: bytes, where: str, collector: str) -> Any:
    """Decode ``body`` as strict JSON; anything else is a ``CollectorError`` with the reason."""
    if not body.strip():
        raise CollectorError(collector, f"{where}: empty body where JSON was expected")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CollectorError(
            collector, f"{where}: malformed JSON: not UTF-8 (byte {error.start})"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise CollectorError(
            collector,
            f"{where}: malformed JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from None
    except _StrictJsonError as error:
        raise CollectorError(collector, f"{where}: malformed JSON: {error.reason}") from None


def _reject_constant(name: str) -> Any:
    raise _StrictJsonError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _StrictJsonError(f"duplicate key {key!r}")
        result[key] = value
    return result


def same_origin(base_url: str, url: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``base_url``."""
    import httpx

    base, other = httpx.URL(base_url), httpx.URL(url)
    return (base.scheme, base.host.lower(), _port(base)) == (
        other.scheme,
        other.host.lower(),
        _port(other),
    )


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)
