"""Access control over real HTTP: the full token × endpoint matrix, owner restrictions, the open
(tokenless) mode and where it may run, and the request body limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from live_api import LiveServer, ServerFactory

from rapport.api.app import build_service
from rapport.api.auth import InsecureBindError, check_exposure, is_loopback
from rapport.api.settings import Settings

ACME = {
    "id": "acme", "name": "Acme Corp", "segment": "enterprise", "attrs": {"tier": "gold"},
    "owner": {"name": "Alice Smith", "email": "alice@example.com"},
}  # fmt: skip
GLOBEX = {
    "id": "globex", "name": "Globex", "segment": "smb",
    "owner": {"name": "Bob Jones", "email": "bob@example.com", "locale": "de"},
}  # fmt: skip
SIGNAL = {"signals": [{"event_id": "auth-1", "client": "umbrella", "kind": "response_time",
                       "ts": "2026-06-30T10:00:00Z", "value": 1.0}]}  # fmt: skip
# acme-r1 is Alice's acme's (seeded); Bob posts it for his globex.
TAKEOVER = {"signals": [{"event_id": "acme-r1", "client": "globex", "kind": "response_time",
                         "ts": "2026-06-30T10:00:00Z", "value": 99.0}]}  # fmt: skip

LATER = datetime(2030, 1, 1, tzinfo=UTC)

# (token, method, path, json body, expected status). None = no Authorization header.
MATRIX: list[Any] = [
    # no token: every data endpoint is 401; the probes and the docs stay open
    (None, "GET", "/api/v1/clients", None, 401, "no token cannot list clients"),
    (None, "POST", "/api/v1/signals", SIGNAL, 401, "no token cannot ingest"),
    (None, "GET", "/metrics", None, 401, "no token cannot scrape metrics"),
    (None, "POST", "/-/reload", None, 401, "no token cannot reload rules"),
    (None, "GET", "/-/healthy", None, 200, "no token may ask whether the process is healthy"),
    (None, "GET", "/-/ready", None, 200, "no token may ask whether the service is ready"),
    (None, "GET", "/openapi.json", None, 200, "no token may read the API description"),
    ("wrong-token", "GET", "/api/v1/clients", None, 401, "an unknown token is 401"),
    # read: everything that reads, nothing that writes
    ("read-token", "GET", "/api/v1/clients", None, 200, "read token lists clients"),
    ("read-token", "GET", "/api/v1/clients/globex", None, 200, "read token reads any client"),
    ("read-token", "GET", "/api/v1/clients/globex/history", None, 200, "read token reads history"),
    ("read-token", "GET", "/api/v1/clients/globex/explain", None, 200, "read token explains"),
    ("read-token", "GET", "/api/v1/rules", None, 200, "read token reads the rules"),
    ("read-token", "GET", "/metrics", None, 200, "read token scrapes metrics"),
    ("read-token", "POST", "/api/v1/signals", SIGNAL, 403, "read token cannot ingest"),
    ("read-token", "PUT", "/api/v1/clients/acme", ACME, 403, "read token cannot register"),
    ("read-token", "POST", "/-/reload", None, 403, "read token cannot reload rules"),
    ("read-token", "POST", "/api/v1/evaluate", None, 403, "read token cannot trigger scoring"),
    # ingest: only writes signals
    ("ingest-token", "POST", "/api/v1/signals", SIGNAL, 200, "ingest token ingests"),
    ("ingest-token", "GET", "/api/v1/clients", None, 403, "ingest token cannot list clients"),
    ("ingest-token", "GET", "/api/v1/rules", None, 403, "ingest token cannot read rules"),
    ("ingest-token", "GET", "/metrics", None, 403, "ingest token cannot scrape metrics"),
    ("ingest-token", "POST", "/-/reload", None, 403, "ingest token cannot reload rules"),
    ("ingest-token", "POST", "/api/v1/evaluate", None, 403, "ingest token cannot trigger scoring"),
    ("ingest-token", "PUT", "/api/v1/clients/acme", ACME, 403, "ingest token cannot register"),
    # admin: everything
    ("admin-token", "PUT", "/api/v1/clients/acme", ACME, 200, "admin token registers clients"),
    ("admin-token", "POST", "/-/reload", None, 200, "admin token reloads rules"),
    ("admin-token", "POST", "/api/v1/evaluate", None, 200, "admin token triggers scoring"),
    ("admin-token", "GET", "/metrics", None, 200, "admin token scrapes metrics"),
    ("admin-token", "POST", "/api/v1/signals", SIGNAL, 200, "admin token ingests"),
    # an owner-restricted PM token (Alice) on another PM's (Bob's) client: not found
    ("alice-token", "GET", "/api/v1/clients/acme", None, 200, "PM A reads her own client"),
    ("alice-token", "GET", "/api/v1/clients/globex", None, 404, "PM A cannot see PM B's client"),
    ("alice-token", "GET", "/api/v1/clients/globex/history", None, 404,
     "PM A cannot see PM B's client's history"),
    ("alice-token", "GET", "/api/v1/clients/globex/explain", None, 404,
     "PM A cannot see PM B's client's explanation"),
    ("alice-token", "PUT", "/api/v1/clients/globex", GLOBEX, 404,
     "PM A cannot overwrite PM B's client"),
    ("alice-token", "PUT", "/api/v1/clients/acme", ACME, 200, "PM A (admin) updates her client"),
    ("alice-token", "GET", "/metrics", None, 403, "a PM token cannot scrape everyone's metrics"),
    ("alice-token", "POST", "/api/v1/signals", SIGNAL, 200,
     "admin implies ingest (PM A's items for others' clients are rejected one by one)"),
    ("bob-token", "POST", "/api/v1/signals", TAKEOVER, 200,
     "PM B's item reusing PM A's event id is stored as PM B's own signal"),
    ("bob-token", "PUT", "/api/v1/clients/globex", GLOBEX, 403, "PM B lacks admin: no registry"),
    ("bob-token", "GET", "/api/v1/clients/globex", None, 200, "PM B (by email) reads his client"),
    ("bob-token", "GET", "/api/v1/clients/acme", None, 404, "PM B cannot see PM A's client"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("token", "method", "path", "body", "status"),
    [pytest.param(*case[:5], id=case[5]) for case in MATRIX],
)
def test_access_matrix(
    shared_world: LiveServer, token: str | None, method: str, path: str, body: Any, status: int
) -> None:
    response = shared_world.call(method, path, token=token, json=body)
    assert response.status_code == status, response.text
    if status in (401, 403, 404):
        assert response.json()["reason"]


def test_401_carries_a_bearer_challenge(shared_world: LiveServer) -> None:
    missing = shared_world.call("GET", "/api/v1/clients", token=None)
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="rapport"'
    wrong = shared_world.call("GET", "/api/v1/clients", token="nope")
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="rapport", error="invalid_token"'
    basic = shared_world.call(
        "GET", "/api/v1/clients", token=None, headers={"Authorization": "Basic YTpi"}
    )
    assert basic.status_code == 401


def test_403_names_the_missing_scope(shared_world: LiveServer) -> None:
    response = shared_world.call("GET", "/api/v1/clients", token="ingest-token")
    assert response.json() == {"reason": "token 'ingest' lacks the 'read' scope"}


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param("alice-token", ["acme", "initech"], id="PM A lists only her clients"),
        pytest.param("bob-token", ["globex"], id="PM B lists only his clients"),
        pytest.param("read-token", ["acme", "globex", "initech", "umbrella"],
                     id="an unrestricted token lists everyone"),
    ],
)  # fmt: skip
def test_owner_restricted_tokens_list_only_their_clients(
    shared_world: LiveServer, token: str, expected: list[str]
) -> None:
    page = shared_world.call("GET", "/api/v1/clients", token=token).json()
    assert [i["id"] for i in page["items"]] == expected
    assert page["total"] == len(expected)


def test_a_pm_cannot_register_a_client_for_another_pm(world: LiveServer) -> None:
    hooli = {"id": "hooli", "name": "Hooli", "owner": GLOBEX["owner"]}
    response = world.call("PUT", "/api/v1/clients/hooli", token="alice-token", json=hooli)
    assert response.status_code == 403
    assert response.json()["reason"] == (
        "token 'alice' may only register clients owned by 'alice-smith' ('hooli' is not)"
    )
    assert world.store.client("hooli") is None


def test_a_pm_ingest_token_cannot_write_another_pms_client(world: LiveServer) -> None:
    signals = [
        {"event_id": "b-1", "client": "globex", "kind": "response_time",
         "ts": "2026-06-30T10:00:00Z", "value": 1.0},
        {"event_id": "b-2", "client": "acme", "kind": "response_time",
         "ts": "2026-06-30T10:00:00Z", "value": 1.0},
        {"event_id": "b-3", "client": "unregistered", "kind": "response_time",
         "ts": "2026-06-30T10:00:00Z", "value": 1.0},
    ]  # fmt: skip
    body = world.call("POST", "/api/v1/signals", token="bob-token", json={"signals": signals})
    result = body.json()
    assert [a["event_id"] for a in result["accepted"]] == ["b-1"]
    assert result["rejected"] == [
        {"index": 1, "event_id": "b-2", "reason": "No client by the id of 'acme' was found"},
        {"index": 2, "event_id": "b-3",
         "reason": "No client by the id of 'unregistered' was found"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("bob-token", id="a PM token reusing another PM's event id stores its own"),
        pytest.param("ingest-token", id="an unrestricted token does the same"),
    ],
)
def test_a_write_never_moves_a_signal_to_another_client(world: LiveServer, token: str) -> None:
    result = world.call("POST", "/api/v1/signals", token=token, json=TAKEOVER).json()
    # The answer of an id used nowhere: it tells nothing about acme's signals.
    fresh = {"signals": [{**TAKEOVER["signals"][0], "event_id": "never-used"}]}
    expected = world.call("POST", "/api/v1/signals", token=token, json=fresh).json()
    assert result == expected | {"accepted": [{**expected["accepted"][0], "event_id": "acme-r1"}]}
    assert result["accepted"] == [{"index": 0, "event_id": "acme-r1", "status": "inserted"}]
    acme = world.store.client_signals("acme", ["response_time"], LATER)
    assert [(s.event_id, s.value) for s in acme if s.event_id == "acme-r1"] == [("acme-r1", 1.0)]
    globex = world.store.client_signals("globex", ["response_time"], LATER)
    assert [(s.event_id, s.value) for s in globex if s.event_id == "acme-r1"] == [("acme-r1", 99.0)]


def test_prune_by_a_pm_only_removes_that_pms_clients(world: LiveServer) -> None:
    body = {"clients": [ACME]}
    response = world.call("PUT", "/api/v1/clients?prune=true", token="alice-token", json=body)
    assert response.json()["removed"] == 1  # initech; Bob's globex and unowned umbrella stay
    assert [c.id for c in world.store.clients()] == ["acme", "globex", "umbrella"]


# --- open mode ---------------------------------------------------------------------------------


def test_without_tokens_on_loopback_everything_is_open(serve_api: ServerFactory) -> None:
    server = serve_api(tokens=False)
    assert server.call("GET", "/api/v1/clients", token=None).status_code == 200
    assert server.call("POST", "/api/v1/evaluate", token=None).status_code == 200


def test_without_tokens_a_loud_warning_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="rapport.auth"):
        check_exposure("127.0.0.1", ())
    assert "NO API TOKENS CONFIGURED" in caplog.text


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("0.0.0.0", id="all IPv4 interfaces"),
        pytest.param("::", id="all IPv6 interfaces"),
        pytest.param("192.168.1.10", id="a private address"),
        pytest.param("rapport.example.com", id="a host name"),
    ],
)
def test_binding_beyond_loopback_without_tokens_refuses_to_start(host: str) -> None:
    with pytest.raises(InsecureBindError, match=f"Refusing to serve on {host} without API tokens"):
        build_service(Settings(host=host, database_url="sqlite:///unused.db"))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        pytest.param("127.0.0.1", True, id="127.0.0.1 is loopback"),
        pytest.param("127.8.9.10", True, id="all of 127/8 is loopback"),
        pytest.param("::1", True, id="::1 is loopback"),
        pytest.param("[::1]", True, id="bracketed ::1 is loopback"),
        pytest.param("LOCALHOST", True, id="localhost in any case is loopback"),
        pytest.param("0.0.0.0", False, id="0.0.0.0 is not loopback"),
        pytest.param("10.0.0.1", False, id="a private address is not loopback"),
        pytest.param("myhost", False, id="another host name is not trusted as loopback"),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# --- body size limit ---------------------------------------------------------------------------


@pytest.fixture
def small_limit(serve_api: ServerFactory) -> Iterator[LiveServer]:
    yield serve_api(max_body_bytes=2048)


def test_a_declared_oversized_body_is_413(small_limit: LiveServer) -> None:
    payload = b'{"signals": [' + b" " * 4096 + b"]}"
    response = small_limit.call(
        "POST", "/api/v1/signals", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"reason": "request body is larger than the limit of 2048 bytes"}


def test_a_chunked_body_growing_past_the_limit_is_413(small_limit: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"signals": ['
        for _ in range(10):
            yield b" " * 512
        yield b"]}"

    response = small_limit.call(
        "POST", "/api/v1/signals", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"reason": "request body is larger than the limit of 2048 bytes"}


def test_a_body_within_the_limit_is_served(small_limit: LiveServer) -> None:
    response = small_limit.call("POST", "/api/v1/signals", json=SIGNAL)
    assert response.status_code == 200
