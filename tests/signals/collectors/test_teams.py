"""The teams collector against a loopback server serving Microsoft Graph's documented channel
messages and replies (``@odata.nextLink`` paging) and the identity platform's client-credentials
token endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from fakeapi import NOW, FakeAPI, Reply, Seen, drain, fetch_context
from pydantic import ValidationError

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.teams import TeamsCollector, TeamsConfig
from rapport.signals.model import StoredSignal

OURS, THEIRS = "0c1d2e3f-our-tenant", "9a8b7c6d-acme-tenant"
ACME, GLOBEX, OTHER = "19:acme@thread.tacv2", "19:globex@thread.tacv2", "19:other@thread.tacv2"
BASE = f"/v1.0/teams/team-1/channels/{ACME}/messages"
GLOBEX_BASE = f"/v1.0/teams/team-2/channels/{GLOBEX}/messages"
TOKEN = f"/{OURS}/oauth2/v2.0/token"


def at(hours_before_now: float) -> str:
    return (NOW - timedelta(hours=hours_before_now)).isoformat().replace("+00:00", "Z")


def chat_message(mid: str, hours: float, tenant: str | None, user: str = "u-1", **extra: object):
    """A chatMessage as Graph documents it (the fields we read plus a few we don't)."""
    sender = None if tenant is None else {
        "@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": user,
        "displayName": "Someone", "userIdentityType": "aadUser", "tenantId": tenant,
    }  # fmt: skip
    return {
        "id": mid, "replyToId": None, "etag": mid, "messageType": "message",
        "createdDateTime": at(hours), "lastModifiedDateTime": at(hours), "deletedDateTime": None,
        "subject": None, "importance": "normal", "locale": "en-us",
        "from": {"application": None, "device": None, "user": sender},
        "body": {"contentType": "html", "content": "<p>…</p>"},
        "channelIdentity": {"teamId": "team-1", "channelId": ACME},
        "attachments": [], "mentions": [], "reactions": [], **extra,
    }  # fmt: skip


APP = {"id": "app-1", "displayName": "Deploy bot", "applicationIdentityType": "bot"}
BOT = {"application": APP, "device": None, "user": None}
MISSING = chat_message("1700000000009", 12, THEIRS)
del MISSING["createdDateTime"]
PAGES = {
    None: [
        chat_message("1717225200005", 3, THEIRS),
        chat_message("1717153200004", 20, None, messageType="systemEventMessage"),
        chat_message("1717131600003", 26, OURS),
        chat_message("1717117200002", 30, THEIRS),
    ],
    "page2": [chat_message("1717070400001", 48, THEIRS), MISSING,
              chat_message("1711972800000", 60 * 24, THEIRS)],
    "page3": [],
}  # fmt: skip
REPLIES = {
    "1717070400001": [
        chat_message("1717074000011", 47, OURS, replyToId="1717070400001"),
        chat_message("1717072200012", 47.5, None, **{"from": BOT}),
        chat_message("1717099200013", 40, THEIRS, replyToId="1717070400001"),
    ],
}
GLOBEX_PAGE = [chat_message("g2", 9, OURS), chat_message("g1", 10, OURS, user="guest-1")]


def graph_page(api: FakeAPI, path: str, items: list, following: str | None) -> Reply:
    body: dict[str, object] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#x",
                               "@odata.count": len(items), "value": items}  # fmt: skip
    if following:
        body["@odata.nextLink"] = f"{api.url}{path}?$top=50&$skiptoken={following}"
    return Reply(json=body)


def routes(api: FakeAPI) -> None:
    def messages(request: Seen) -> Reply:
        token = request.arg("$skiptoken")
        following = {None: "page2", "page2": "page3", "page3": None}[token]
        return graph_page(api, BASE, PAGES[token], following)

    def replies_of(mid: str):
        return lambda request: graph_page(api, f"{BASE}/{mid}/replies", REPLIES.get(mid, []), None)

    api.add(TOKEN, Reply(json={"token_type": "Bearer", "expires_in": 3599,
                               "ext_expires_in": 3599, "access_token": "eyJ0-graph"}),
            method="POST")  # fmt: skip
    api.add(BASE, messages)
    for page in PAGES.values():
        for item in page:
            api.add(f"{BASE}/{item['id']}/replies", replies_of(item["id"]))
    api.add(GLOBEX_BASE, lambda request: graph_page(api, GLOBEX_BASE, GLOBEX_PAGE, None))
    for item in GLOBEX_PAGE:
        api.add(f"{GLOBEX_BASE}/{item['id']}/replies", Reply(json={"value": []}))


def expected(channel: str, client: str, first: str, hours: float, created: float, **attrs: str):
    thread = attrs.pop("thread", channel)
    return StoredSignal(
        event_id=f"teams:{channel}:{first}", client=client, kind="response_time",
        ts=NOW - timedelta(hours=created), value=hours,
        attrs={"channel": "chat", "thread": thread, **attrs}, source="teams",
    )  # fmt: skip


ACME_CH, GLOBEX_CH = f"team-1/{ACME}", f"team-2/{GLOBEX}"
EXPECTED = [
    expected(ACME_CH, "acme", "1717070400001", 1.0, 48),  # answered in its thread
    expected(ACME_CH, "acme", "1717117200002", 4.0, 30),
    expected(ACME_CH, "acme", "1717099200013", 40.0, 40, open="true",
             thread=f"{ACME_CH}:1717070400001"),  # a client reply nobody answered
    expected(GLOBEX_CH, "globex", "g1", 1.0, 10),  # a listed guest writes for the client
]  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        routes(server)
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **overrides: object) -> TeamsCollector:
    settings = {
        "base_url": api.url,
        "login_url": api.url,
        "tenant_id": OURS,
        "client_id": "app-client-id",
        "token_env": "TEAMS_SECRET",
        "channels": [ACME_CH, GLOBEX_CH, f"team-9/{OTHER}"],
        "client_users": ["guest-1"],
    }
    return TeamsCollector(TeamsConfig.model_validate({**settings, **overrides}))


def harness(client: httpx.Client, now: datetime = NOW):
    channels = [(ACME, "acme"), (GLOBEX, "globex")]
    return fetch_context(client, channels, "teams_channel", {"TEAMS_SECRET": "s3cret"}, now=now)


def test_pages_and_replies_become_exact_reply_times_with_the_silence_shown_open(api, client):
    signals, cursor = drain(collector(api), None, harness(client).context)
    assert signals == EXPECTED
    assert set(cursor["channels"]) == {ACME_CH, GLOBEX_CH}
    (token,) = api.seen(TOKEN)
    assert parse_qs(token.body.decode()) == {
        "grant_type": ["client_credentials"], "client_id": ["app-client-id"],
        "client_secret": ["s3cret"], "scope": ["https://graph.microsoft.com/.default"],
    }  # fmt: skip
    assert token.query == {}  # the secret travels in the body, never in a URL
    pages = api.seen(BASE)
    assert [p.arg("$skiptoken") for p in pages] == [None, "page2", "page3"]
    assert pages[0].arg("$top") == "50" and pages[0].headers["authorization"] == "Bearer eyJ0-graph"
    # replies are read for the threads inside the read window only
    assert api.seen(f"{BASE}/1711972800000/replies") == []


def test_a_message_missing_a_field_is_skipped_and_an_unmapped_channel_counted(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    skipped = f"teams:{ACME_CH}:1700000000009: missing field 'createdDateTime'"
    assert run.context.skipped == [skipped]
    assert run.unmapped == {OTHER: 1}


def test_the_next_run_adds_nothing_twice_and_the_open_wait_grows(api, client):
    _, cursor = drain(collector(api), None, harness(client).context)
    signals, _ = drain(collector(api), cursor, harness(client, NOW + timedelta(hours=2)).context)
    # the young client message (5 h) is not open yet; the thread reply has now waited 42 h
    assert [(s.event_id, s.value, s.attrs.get("open")) for s in signals] == [
        (f"teams:{ACME_CH}:1717099200013", 42.0, "true")
    ]


@pytest.mark.parametrize(
    ("status", "wait"),
    [(429, "7"), (503, "3")],
    ids=["429 with Retry-After waits as asked", "503 with Retry-After waits as asked"],
)
def test_throttling_is_waited_out(api, client, status, wait):
    error = {"error": {"code": "TooManyRequests", "message": "Too many requests"}}
    api.fail_next(BASE, Reply(status=status, json=error, headers={"Retry-After": wait}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and run.sleeps == [float(wait)]


def test_a_500_is_retried_and_the_run_completes(api, client):
    api.fail_next(f"{BASE}/1717070400001/replies", Reply(status=500, json={"error": {}}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_a_timeout_is_retried_and_the_run_completes(api):
    api.fail_next(BASE, Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch_with_the_reason(api, client):
    api.fail_next(BASE, Reply(body=b'{"value": [{"id": "1",'))
    with pytest.raises(CollectorError, match=r"Collector 'teams' failed: GET .* malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_a_page_without_value_fails_the_fetch(api, client):
    api.fail_next(BASE, Reply(json={"@odata.context": "x"}))
    with pytest.raises(CollectorError, match="'value' is not a list"):
        collector(api).fetch(None, harness(client).context)


def test_a_refused_client_secret_is_one_clear_line_without_retrying(api, client):
    description = (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
        "request is the client secret value.\r\nTrace ID: 0000\r\nCorrelation ID: 1111"
    )
    refused = {"error": "invalid_client", "error_description": description, "error_codes": [1]}
    api.fail_next(TOKEN, Reply(status=401, json=refused), method="POST")
    run = harness(client)
    with pytest.raises(CollectorError) as failure:
        collector(api).fetch(None, run.context)
    message = str(failure.value)
    assert message == (
        "Collector 'teams' failed: the identity platform refused the app's credentials "
        "(invalid_client: AADSTS7000215: Invalid client secret provided. Ensure the secret being "
        "sent in the request is the client secret value.): check client_id, tenant_id and the "
        "secret in token_env/token_file"
    )
    assert "\n" not in message and "s3cret" not in message and run.sleeps == []


def test_a_refused_graph_token_names_the_status(api, client):
    error = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}
    api.fail_next(BASE, Reply(status=401, json=error))
    with pytest.raises(CollectorError, match=r"HTTP 401: .*InvalidAuthenticationToken"):
        collector(api).fetch(None, harness(client).context)


def test_a_next_link_off_the_base_url_is_refused(api, client):
    page = {"value": [], "@odata.nextLink": "https://elsewhere.example/v1.0/x?$skiptoken=1"}
    api.fail_next(BASE, Reply(json=page))
    with pytest.raises(CollectorError, match="not on base_url"):
        collector(api).fetch(None, harness(client).context)


def test_a_channel_without_its_team_is_a_config_error():
    with pytest.raises(ValidationError, match="expected <team id>/<channel id>"):
        TeamsConfig.model_validate(
            {"base_url": "https://graph.microsoft.com", "tenant_id": OURS, "client_id": "c",
             "token_env": "S", "channels": [ACME]}
        )  # fmt: skip


def test_a_cursor_from_elsewhere_is_refused(api, client):
    with pytest.raises(CollectorError, match="was not written by this collector"):
        collector(api).fetch({"channels": {"x": {"waits": 3}}}, harness(client).context)
