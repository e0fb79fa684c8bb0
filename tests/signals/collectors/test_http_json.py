"""The generic http_json collector against a loopback server: page-number, cursor-token and Link
pagination, JMESPath mappings to built-in and custom kinds, incremental cursors, failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fakeapi import FakeAPI, Reply, Seen, drain, fetch_context
from pydantic import ValidationError

from rapport.signals.collectors.base import ClientMap, CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.http_json import HttpJsonCollector, HttpJsonConfig
from rapport.signals.model import StoredSignal

ACCOUNTS = [("ACME-CRM", "acme"), ("GLX-CRM", "globex")]


def crm_ticket(ref: int, account: str, opened: str | None, hours: float, medium: str, updated: str):
    item = {"ref": ref, "account": account, "first_reply_hours": hours, "medium": medium,
            "updated": updated, "meta": {"queue": "support"}}  # fmt: skip
    if opened is not None:
        item["opened"] = opened
    return item


TICKET_PAGES = {
    "1": [
        crm_ticket(501, "ACME-CRM", "2024-05-01T09:00:00Z", 2.5, "phone", "2024-05-02T00:00:00Z"),
        crm_ticket(502, "GLX-CRM", "2024-05-03T09:00:00Z", 0.25, "email", "2024-05-20T08:00:00Z"),
    ],
    "2": [
        crm_ticket(503, "ACME-CRM", None, 1.0, "chat", "2024-05-21T00:00:00Z"),
        crm_ticket(504, "NOBODY", "2024-05-04T09:00:00Z", 3.0, "email", "2024-05-05T00:00:00Z"),
    ],
    "3": [],
}


def tickets(request: Seen) -> Reply:
    page = request.arg("page") or "1"
    return Reply(json={"data": {"items": TICKET_PAGES[page]}, "meta": {"page": int(page)}})


TICKETS_CONFIG = {
    "path": "/api/v1/tickets",
    "params": {"status": "all"},
    "kind": "response_time",
    "items": "data.items",
    "event_id": "ref",
    "event_prefix": "crm",
    "client": "account",
    "fields": {"ts": "opened", "value": "first_reply_hours", "channel": "medium"},
    "pagination": {"type": "page", "param": "page", "start": 1},
    "incremental": {"param": "updated_since", "field": "updated", "overlap": "1m"},
}


def rt(ref: int, client: str, ts: datetime, hours: float, channel: str) -> StoredSignal:
    return StoredSignal(
        event_id=f"crm:{ref}", client=client, kind="response_time", ts=ts, value=hours,
        attrs={"channel": channel}, source="http_json",
    )  # fmt: skip


TICKETS = [
    rt(501, "acme", datetime(2024, 5, 1, 9, tzinfo=UTC), 2.5, "phone"),
    rt(502, "globex", datetime(2024, 5, 3, 9, tzinfo=UTC), 0.25, "email"),
]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add("/api/v1/tickets", tickets)
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **settings: object) -> HttpJsonCollector:
    config = {"base_url": api.url, **TICKETS_CONFIG, **settings}
    return HttpJsonCollector(HttpJsonConfig.model_validate(config))


def harness(client: httpx.Client):
    return fetch_context(client, ACCOUNTS, "crm_account", {"CRM_TOKEN": "crm-secret"})


def test_numbered_pages_map_to_exact_signals_until_an_empty_page(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api), None, run.context)
    assert signals == TICKETS
    assert [r.arg("page") for r in api.seen()] == ["1", "2", "3"]
    assert {r.arg("status") for r in api.seen()} == {"all"}
    # the newest change time seen (2024-05-21T00:00Z) minus the one-minute overlap
    assert cursor == {"position": None, "since": "2024-05-20T23:59:00+00:00", "newest": None}


def test_a_malformed_item_is_skipped_and_an_unknown_account_counted(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.skipped == ["crm:503: ts: Field required"]
    assert run.unmapped == {"nobody": 1}


def test_the_next_run_sends_the_saved_lower_bound(api, client):
    saved = {"position": None, "since": "2024-05-20T23:59:00+00:00", "newest": None}
    drain(collector(api), saved, harness(client).context)
    assert {r.arg("updated_since") for r in api.seen()} == {"2024-05-20T23:59:00+00:00"}


def test_a_short_page_ends_the_sweep_when_the_size_is_known(api, client):
    pagination = {"type": "page", "param": "page", "size_param": "per_page", "size": 3}
    drain(collector(api, pagination=pagination), None, harness(client).context)
    assert [(r.arg("page"), r.arg("per_page")) for r in api.seen()] == [("1", "3")]


def test_the_token_goes_in_the_configured_header(api, client):
    drain(collector(api, token_env="CRM_TOKEN"), None, harness(client).context)
    assert api.seen()[0].headers["authorization"] == "Bearer crm-secret"
    api.requests.clear()
    custom = {"token_env": "CRM_TOKEN", "auth_header": "X-Api-Key", "auth_scheme": ""}
    drain(collector(api, **custom), None, harness(client).context)
    assert api.seen()[0].headers["x-api-key"] == "crm-secret"


def invoices(request: Seen) -> Reply:
    if request.arg("after") is None:
        return Reply(
            json={
                "results": [
                    {"id": "inv-1", "customer": "acme", "as_of": 1717200000, "count": 2,
                     "currency": "EUR"},
                    {"id": "inv-2", "customer": "globex", "as_of": "2024-06-01T00:00:00Z",
                     "count": 0, "currency": "USD"},
                ],
                "paging": {"next": "tok-2"},
            }
        )  # fmt: skip
    return Reply(json={"results": [], "paging": {"next": None}})


def test_a_custom_kind_with_cursor_tokens_and_client_ids_in_the_items(api, client):
    api.add("/v2/overdue", invoices)
    run = harness(client)
    run.context.clients = ClientMap([], "id", {"acme": "acme", "globex": "globex"})
    config = {
        "path": "/v2/overdue",
        "params": {},
        "kind": "overdue_invoices",
        "items": "results",
        "event_id": "id",
        "event_prefix": "billing",
        "client": "customer",
        "fields": {"ts": "as_of", "value": "count", "attrs.currency": "currency"},
        "pagination": {"type": "cursor", "param": "after", "next": "paging.next"},
        "incremental": None,
    }
    signals, cursor = drain(collector(api, **config), None, run.context)
    assert signals == [
        StoredSignal(event_id="billing:inv-1", client="acme", kind="overdue_invoices",
                     ts=datetime(2024, 6, 1, tzinfo=UTC), value=2.0, attrs={"currency": "EUR"},
                     source="http_json"),
        StoredSignal(event_id="billing:inv-2", client="globex", kind="overdue_invoices",
                     ts=datetime(2024, 6, 1, tzinfo=UTC), value=0.0, attrs={"currency": "USD"},
                     source="http_json"),
    ]  # fmt: skip
    assert cursor is None  # not incremental: the next run re-reads everything
    assert [r.arg("after") for r in api.seen("/v2/overdue")] == [None, "tok-2"]


def test_link_header_pages_of_incidents(api, client):
    def outages(request: Seen) -> Reply:
        if request.arg("page") == "2":
            return Reply(json=[{"id": 8, "svc": "ACME-CRM", "sev": "sev3", "at": 1717000000}])
        link = f'<{api.url}/outages?page=2>; rel="next"'
        return Reply(
            json=[{"id": 7, "svc": "GLX-CRM", "sev": "sev1", "at": "2024-05-30T10:00:00Z",
                   "fixed": "2024-05-30T12:00:00Z"}],
            headers={"Link": link},
        )  # fmt: skip

    api.add("/outages", outages)
    config = {
        "path": "/outages",
        "params": {},
        "kind": "incident",
        "items": "@",
        "event_id": "id",
        "event_prefix": "status",
        "client": "svc",
        "fields": {"severity": "sev", "opened_at": "at", "resolved_at": "fixed"},
        "pagination": {"type": "link"},
        "incremental": None,
    }
    signals, _ = drain(collector(api, **config), None, harness(client).context)
    assert [(s.event_id, s.client, s.attrs["severity"], s.end is not None) for s in signals] == [
        ("status:7", "globex", "sev1", True),
        ("status:8", "acme", "sev3", False),
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fields": {"ts": "opened", "value": "x", "due": "d"}}, "do not belong to kind"),
        ({"fields": {"ts": "opened"}}, r"needs a mapping for \['value'\]"),
        ({"event_id": "ref["}, "not a JMESPath expression"),
        ({"headers": {"Authorization": "Bearer abc"}}, "use token_env or token_file"),
        ({"pagination": {"type": "scroll"}}, "does not match any of the expected tags"),
        ({"path": "/x?key=1"}, "String should match pattern"),
    ],
    ids=[
        "a field of another kind is refused",
        "a kind's required field must be mapped",
        "an expression that is not JMESPath is refused",
        "a secret header in the config is refused",
        "an unknown pagination type is refused",
        "a query string in the path is refused (use params)",
    ],
)
def test_bad_http_json_configs_are_refused(api, settings, message):
    with pytest.raises(ValidationError, match=message):
        collector(api, **settings)


def test_429_with_retry_after_is_honoured(api, client):
    api.fail_next("/api/v1/tickets", Reply(status=429, json={}, headers={"Retry-After": "11"}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == TICKETS and run.sleeps == [11.0]


def test_a_500_is_retried(api, client):
    api.fail_next("/api/v1/tickets", Reply(status=500, json={"error": "db down"}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == TICKETS and len(run.sleeps) == 1


def test_a_timeout_is_retried(api):
    api.fail_next("/api/v1/tickets", Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == TICKETS and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch(api, client):
    api.fail_next("/api/v1/tickets", Reply(body=b'{"data": {"items": [}}'))
    with pytest.raises(CollectorError, match="malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_items_that_are_not_a_list_fail_the_fetch(api, client):
    api.fail_next("/api/v1/tickets", Reply(json={"data": {"items": {"ref": 1}}}))
    with pytest.raises(CollectorError, match=r"'items' \(data.items\) did not select a list"):
        collector(api).fetch(None, harness(client).context)
