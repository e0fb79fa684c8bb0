"""The shared HTTP layer against a real loopback server: retries, rate limits, timeouts, size
limits, strict JSON, origins, config and secrets."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fakeapi import NOW, FakeAPI, Reply, fetch_context, http_date
from pydantic import ValidationError

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.http import (
    DeadlineExceededError,
    make_http_client,
    request,
    same_origin,
)
from rapport.signals.collectors.http_collector import HttpSourceConfig, Source, read_token


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def get(client: httpx.Client, url: str, sleeps: list[float], **options: object) -> object:
    options.setdefault("rng", random.Random(7))
    return request(client, "GET", url, sleep=sleeps.append, **options).body  # type: ignore[arg-type]


def test_a_json_answer_is_parsed_and_the_query_and_headers_are_sent(api, client):
    api.add("/things", Reply(json={"things": [1, 2]}))
    sleeps: list[float] = []
    body = request(
        client, "GET", api.url + "/things", params={"page": 2}, headers={"X-Key": "k"},
        sleep=sleeps.append,
    ).body  # fmt: skip
    assert body == {"things": [1, 2]}
    (seen,) = api.seen("/things")
    assert seen.arg("page") == "2"
    assert seen.headers["x-key"] == "k"
    assert seen.headers["user-agent"].startswith("rapport-collector")
    assert sleeps == []


def test_a_500_is_retried_after_a_jittered_backoff_and_the_retry_succeeds(api, client):
    api.add("/things", Reply(json={"ok": True}))
    api.fail_next("/things", Reply(status=500, json={"error": "boom"}))
    sleeps: list[float] = []
    assert get(client, api.url + "/things", sleeps, backoff=1.0) == {"ok": True}
    assert len(api.seen("/things")) == 2
    # equal jitter: half of backoff * 2**0 fixed, half random
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0


def test_persistent_5xx_gives_up_after_the_retry_budget_with_growing_waits(api, client):
    api.add(
        "/things", Reply(status=503, body=b"upstream down", headers={"Content-Type": "text/plain"})
    )
    sleeps: list[float] = []
    with pytest.raises(
        CollectorError, match=r"server error \(HTTP 503\) \(gave up after 3 attempts\)"
    ):
        get(client, api.url + "/things", sleeps, retries=2, backoff=1.0)
    assert len(api.seen("/things")) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_a_backoff_longer_than_max_wait_is_cut_to_max_wait(api, client):
    api.add("/things", Reply(json={}))
    api.fail_next("/things", Reply(status=500, json={}))
    sleeps: list[float] = []
    get(client, api.url + "/things", sleeps, backoff=100.0, max_wait=3.0)
    assert sleeps == [3.0]


@pytest.mark.parametrize(
    ("headers", "status", "expected_wait"),
    [
        ({"Retry-After": "7"}, 429, 7.0),
        (
            {"Retry-After": http_date(NOW + timedelta(minutes=2)), "Date": http_date(NOW)},
            429,
            120.0,
        ),
        (
            {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(NOW.timestamp()) + 42),
                "Date": http_date(NOW),
            },
            403,
            42.0,
        ),
        ({"Retry-After": "5"}, 503, 5.0),
    ],
    ids=[
        "429 with Retry-After in seconds waits exactly that long",
        "429 with Retry-After as an HTTP date waits until then by the server's clock",
        "403 with x-ratelimit-remaining 0 waits until x-ratelimit-reset",
        "503 with Retry-After is honoured like a rate limit",
    ],
)
def test_the_wait_the_server_asks_for_is_honoured(api, client, headers, status, expected_wait):
    api.add("/things", Reply(json={"ok": True}))
    api.fail_next("/things", Reply(status=status, json={"message": "slow down"}, headers=headers))
    sleeps: list[float] = []
    assert get(client, api.url + "/things", sleeps) == {"ok": True}
    assert sleeps == [expected_wait]


def test_a_rate_limit_wait_beyond_max_wait_fails_at_once_without_sleeping(api, client):
    api.add("/things", Reply(status=429, json={}, headers={"Retry-After": "3600"}))
    sleeps: list[float] = []
    with pytest.raises(CollectorError, match=r"asks to wait 3600s, more than max_wait 300s"):
        get(client, api.url + "/things", sleeps, max_wait=300.0)
    assert sleeps == [] and len(api.seen("/things")) == 1


def test_a_403_that_is_not_a_rate_limit_fails_at_once_and_quotes_the_body(api, client):
    api.add("/things", Reply(status=403, json={"message": "Resource not accessible"}))
    sleeps: list[float] = []
    with pytest.raises(
        CollectorError, match=r"HTTP 403: \{\"message\": \"Resource not accessible\"\}"
    ):
        get(client, api.url + "/things", sleeps)
    assert sleeps == [] and len(api.seen("/things")) == 1


def test_a_server_slower_than_the_timeout_is_retried(api):
    api.add("/slow", Reply(json={"ok": True}))
    api.fail_next("/slow", Reply(hang=True))
    sleeps: list[float] = []
    with make_http_client(timeout=0.3) as quick:
        assert get(quick, api.url + "/slow", sleeps) == {"ok": True}
    assert len(sleeps) == 1 and len(api.seen("/slow")) == 2


def test_a_server_that_never_answers_times_out_after_the_retries(api):
    api.add("/slow", Reply(hang=True))
    sleeps: list[float] = []
    with (
        make_http_client(timeout=10.0) as patient,
        pytest.raises(CollectorError, match="timed out"),
    ):
        # the per-call timeout wins over the client's
        get(patient, api.url + "/slow", sleeps, retries=1, timeout=0.2)
    assert len(sleeps) == 1


def test_a_refused_connection_is_retried_then_reported(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    with pytest.raises(CollectorError, match=r"connection failed \(ConnectError\)"):
        get(client, f"http://127.0.0.1:{port}/x", sleeps, retries=2)
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"things": [1, 2', "malformed JSON: Expecting"),
        (b'{"value": NaN}', "malformed JSON: NaN is not JSON"),
        (b'{"id": 1, "id": 2}', "malformed JSON: duplicate key 'id'"),
        (b'{"name": "\xff"}', r"malformed JSON: not UTF-8 \(byte 10\)"),
        (b"  ", "empty body where JSON was expected"),
        (b"<html>oops</html>", "malformed JSON: Expecting value at line 1 column 1"),
    ],
    ids=[
        "a truncated document is refused",
        "NaN is refused",
        "a duplicate key is refused",
        "bytes that are not UTF-8 are refused",
        "an empty body is refused",
        "an HTML error page with status 200 is refused",
    ],
)
def test_malformed_json_fails_with_a_clear_reason_and_is_not_retried(api, client, body, reason):
    api.add("/things", Reply(body=body))
    sleeps: list[float] = []
    with pytest.raises(CollectorError, match=reason):
        get(client, api.url + "/things", sleeps)
    assert len(api.seen("/things")) == 1


@pytest.mark.parametrize(
    "chunked",
    [False, True],
    ids=["a declared Content-Length over the limit is refused", "a streamed body is cut off"],
)
def test_a_response_over_the_size_limit_is_refused(api, chunked):
    api.add("/big", Reply(body=b'{"pad": "' + b"x" * 5000 + b'"}', chunked=chunked))
    sleeps: list[float] = []
    with (
        make_http_client(max_response_bytes=1000) as small,
        pytest.raises(CollectorError, match="response is larger than the 1000-byte limit"),
    ):
        get(small, api.url + "/big", sleeps)


def test_a_redirect_is_not_followed(api, client):
    api.add("/old", Reply(status=302, json={}, headers={"Location": "http://elsewhere.test/new"}))
    sleeps: list[float] = []
    with pytest.raises(
        CollectorError, match=r"redirected \(HTTP 302\) to http://elsewhere.test/new"
    ):
        get(client, api.url + "/old", sleeps)


def test_error_messages_never_show_the_query_string(api, client):
    api.add("/token", Reply(status=401, json={"error": "bad client"}))
    sleeps: list[float] = []
    with pytest.raises(CollectorError) as caught:
        get(client, api.url + "/token?client_secret=hunter2", sleeps)
    assert "hunter2" not in str(caught.value)
    assert "GET http://127.0.0.1" in str(caught.value)


def test_an_accepted_status_is_returned_instead_of_raised(api, client):
    api.add("/me", Reply(status=401, json={"code": "expired"}))
    answer = request(client, "GET", api.url + "/me", accept_status=[401])
    assert (answer.status, answer.body) == (401, {"code": "expired"})


def test_the_link_header_gives_the_next_page(api, client):
    link = f'<{api.url}/items?page=2>; rel="next", <{api.url}/items?page=9>; rel="last"'
    api.add("/items", Reply(json=[], headers={"Link": link}))
    answer = request(client, "GET", api.url + "/items")
    assert answer.link("next") == f"{api.url}/items?page=2"
    assert answer.link("last") == f"{api.url}/items?page=9"
    assert answer.link("prev") is None


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://acme.zendesk.com/api/v2/x?y=1", True),
        ("https://ACME.zendesk.com:443/other", True),
        ("http://acme.zendesk.com/api", False),
        ("https://evil.example/api", False),
        ("https://acme.zendesk.com:8443/api", False),
    ],
    ids=[
        "a path under the base is the same origin",
        "host case and the default port do not matter",
        "another scheme is another origin",
        "another host is another origin",
        "another port is another origin",
    ],
)
def test_same_origin(url, same):
    assert same_origin("https://acme.zendesk.com", url) is same


class TokenConfig(HttpSourceConfig):
    pass


class OptionalTokenConfig(HttpSourceConfig):
    token_required = False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"base_url": "ftp://host", "token_env": "T"}, r"expected an http\(s\) URL"),
        ({"base_url": "https://host/api?key=1", "token_env": "T"}, "must not carry a query"),
        ({"base_url": "https://user:pw@host", "token_env": "T"}, "must not carry a query"),
        ({"base_url": "https://host"}, "a secret is required: set token_env"),
        ({"base_url": "https://host", "token_env": "T", "token_file": "/f"}, "not both"),
        ({"base_url": "https://host", "token_env": "T", "backoff": 2}, "expected a duration"),
        ({"base_url": "https://host", "token_env": "T", "token": "abc"}, "Extra inputs"),
    ],
    ids=[
        "a non-http base URL is refused",
        "a base URL with a query is refused",
        "a base URL with credentials is refused",
        "a connector that needs a secret refuses a config without one",
        "naming both an environment variable and a file is refused",
        "a bare number where a duration belongs is refused",
        "a secret written into the config itself is refused as an unknown key",
    ],
)
def test_bad_http_configs_are_refused(config, message):
    with pytest.raises(ValidationError, match=message):
        TokenConfig.model_validate(config)


def test_a_good_config_normalises_the_base_url_and_parses_durations():
    config = TokenConfig.model_validate(
        {
            "base_url": "https://acme.example/api/",
            "token_env": "T",
            "backoff": "2s",
            "max_wait": "1m",
        }
    )
    assert (config.base_url, config.backoff, config.max_wait) == (
        "https://acme.example/api",
        2.0,
        60.0,
    )
    assert OptionalTokenConfig.model_validate({"base_url": "https://x.example"}).token_env is None


def test_the_token_is_read_through_the_context_and_must_not_be_empty(client):
    harness = fetch_context(client, secrets={"TOKEN": " abc\n", "EMPTY": ""})
    assert (
        read_token(TokenConfig(base_url="https://h", token_env="TOKEN"), harness.context, "x")
        == "abc"
    )
    with pytest.raises(CollectorError, match="the secret in environment variable 'EMPTY' is empty"):
        read_token(TokenConfig(base_url="https://h", token_env="EMPTY"), harness.context, "x")
    with pytest.raises(CollectorError, match="cannot read the secret from file '/nope'"):
        read_token(TokenConfig(base_url="https://h", token_file="/nope"), harness.context, "x")


def test_a_source_refuses_urls_off_its_base_origin(api, client):
    harness = fetch_context(client)
    source = Source(OptionalTokenConfig(base_url=api.url), harness.context, "demo")
    with pytest.raises(CollectorError, match="not on base_url"):
        source.get("http://example.invalid/steal")
    assert api.seen() == []


class _Trickle(BaseHTTPRequestHandler):
    """Answers 200 with a 10,000-byte JSON body, one byte every 50 ms (8 minutes in all), until
    the client hangs up or the server is told to stop."""

    stop: threading.Event

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "10000")
        self.end_headers()
        self.wfile.flush()
        try:
            for _ in range(10_000):
                if self.server.stop.wait(0.05):  # type: ignore[attr-defined]
                    return
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            return  # the client gave up: what the test wants

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def trickle() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.stop = threading.Event()  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slow"
    server.stop.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_a_source_trickling_bytes_fails_within_the_deadline_although_each_read_is_quick(trickle):
    # every read gets a byte within 50 ms, far inside the 3 s timeout: only a deadline stops it
    with make_http_client(timeout=3.0) as http:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match=r"within the 1s deadline") as failed:
            request(http, "GET", trickle, deadline=1.0, retries=3, sleep=lambda _: None)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"held for {elapsed:.1f}s"
    assert failed.value.deadline == 1.0  # and not retried: it failed once, within the deadline


def test_a_source_config_has_a_deadline_that_the_source_applies(trickle):
    config = HttpSourceConfig(base_url=trickle.rsplit("/", 1)[0], token_env="T", deadline="1s")
    assert config.deadline == 1.0
    assert HttpSourceConfig(base_url="https://x.example", token_env="T").deadline == 120.0
    with make_http_client(timeout=3.0) as http:
        source = Source(config, fetch_context(http).context, "slowpoke")
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match="Collector 'slowpoke' failed"):
            source.get("/slow")
    assert time.monotonic() - started < 2.0
