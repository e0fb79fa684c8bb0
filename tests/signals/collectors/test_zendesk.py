"""The zendesk collector against a loopback server serving Zendesk's documented incremental ticket
export (cursor based, ``include=metric_sets``)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fakeapi import NOW, FakeAPI, Reply, Seen, drain, fetch_context

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.zendesk import PATH, ZendeskCollector, ZendeskConfig
from rapport.signals.model import StoredSignal

ORGS = [("9001", "acme"), ("9002", "globex")]


def ticket(
    ticket_id: int, org: int | None, created: str, channel: str = "email"
) -> dict[str, object]:
    """A ticket as the incremental export documents it (the fields we read plus a few we don't)."""
    return {
        "id": ticket_id,
        "url": f"https://acme.zendesk.com/api/v2/tickets/{ticket_id}.json",
        "organization_id": org,
        "created_at": created,
        "updated_at": "2024-05-31T10:00:00Z",
        "status": "open",
        "subject": f"Ticket {ticket_id}",
        "via": {"channel": channel},
        "generated_timestamp": 1717149600,
    }


def metric(ticket_id: int, calendar: int | None, business: int | None) -> dict[str, object]:
    """A ticket metric set as side-loaded by ``include=metric_sets``."""
    return {
        "id": 5000 + ticket_id,
        "ticket_id": ticket_id,
        "reply_time_in_minutes": {"calendar": calendar, "business": business},
        "first_resolution_time_in_minutes": {"calendar": None, "business": None},
        "replies": 1 if calendar is not None else 0,
    }


def page(tickets, metrics, after: str | None, end: bool) -> Reply:
    return Reply(
        json={
            "tickets": tickets,
            "metric_sets": metrics,
            "after_cursor": after,
            "after_url": f"https://acme.zendesk.com{PATH}?cursor={after}" if after else None,
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": end,
        }
    )


PAGES = {
    None: page(
        [
            ticket(101, 9001, "2024-05-01T09:00:00Z"),
            ticket(102, 9002, "2024-05-02T10:30:00Z", channel="web"),
            ticket(103, 7777, "2024-05-03T08:00:00Z"),
            {"id": 104, "organization_id": 9001, "via": {"channel": "email"}},
            ticket(105, 9001, "2024-05-04T08:00:00Z"),
        ],
        [
            metric(101, 90, 60),
            metric(102, 30, 30),
            metric(103, 10, 10),
            metric(104, 5, 5),
            metric(105, None, None),
        ],
        after="c1",
        end=False,
    ),
    "c1": page([], [], after="c2", end=False),
    "c2": page(
        [ticket(106, None, "2024-05-20T12:00:00Z"), ticket(107, 9001, "2024-05-21T12:00:00Z")],
        [metric(106, 15, 15), metric(107, 240, 120)],
        after="c3",
        end=True,
    ),
    "c3": page([], [], after="c3", end=True),
}


def export(request: Seen) -> Reply:
    return PAGES[request.arg("cursor")]


def expected(ticket_id: int, client: str, ts: datetime, hours: float, channel: str) -> StoredSignal:
    return StoredSignal(
        event_id=f"zendesk:ticket:{ticket_id}", client=client, kind="response_time", ts=ts,
        value=hours, attrs={"channel": channel, "thread": str(ticket_id)}, source="zendesk",
        recorded_at=ts,  # the ticket's created_at
    )  # fmt: skip


CALENDAR = [
    expected(101, "acme", datetime(2024, 5, 1, 9, tzinfo=UTC), 1.5, "email"),
    expected(102, "globex", datetime(2024, 5, 2, 10, 30, tzinfo=UTC), 0.5, "web"),
    expected(107, "acme", datetime(2024, 5, 21, 12, tzinfo=UTC), 4.0, "email"),
]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add(PATH, export)
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **overrides: object) -> ZendeskCollector:
    settings = {"base_url": api.url, "email": "pm@acme.test", "token_env": "ZENDESK_TOKEN"}
    return ZendeskCollector(ZendeskConfig.model_validate({**settings, **overrides}))


def harness(client: httpx.Client):
    return fetch_context(client, ORGS, "zendesk_organization_id", {"ZENDESK_TOKEN": "tok"})


def test_several_pages_become_exact_signals_and_the_cursor_is_zendesks_last_after_cursor(
    api, client
):
    run = harness(client)
    signals, cursor = drain(collector(api), None, run.context)
    assert signals == CALENDAR
    assert cursor == {"after_cursor": "c3"}
    first, second, third = api.seen(PATH)
    lookback = int((NOW - timedelta(days=90)).timestamp())
    assert (first.arg("start_time"), first.arg("cursor")) == (str(lookback), None)
    assert (second.arg("cursor"), third.arg("cursor")) == ("c1", "c2")
    assert first.arg("include") == "metric_sets" and first.arg("exclude_deleted") == "true"
    token = base64.b64encode(b"pm@acme.test/token:tok").decode()
    assert first.headers["authorization"] == f"Basic {token}"


def test_a_ticket_missing_a_field_is_skipped_with_its_reason_and_the_page_is_kept(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.skipped == ["zendesk:ticket:104: missing field 'created_at'"]


def test_unmapped_organizations_are_counted_not_dropped_silently(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.unmapped == {"7777": 1, "<none>": 1}


def test_business_hours_are_used_when_configured(api, client):
    signals, _ = drain(collector(api, hours="business"), None, harness(client).context)
    assert [s.value for s in signals] == [1.0, 0.5, 2.0]


def test_the_next_run_resumes_from_the_saved_cursor_not_the_start_time(api, client):
    signals, cursor = drain(collector(api), {"after_cursor": "c3"}, harness(client).context)
    assert (signals, cursor) == ([], {"after_cursor": "c3"})
    (seen,) = api.seen(PATH)
    assert seen.arg("cursor") == "c3" and seen.arg("start_time") is None


def test_a_configured_start_time_is_used_for_the_first_run(api, client):
    start = "2024-01-01T00:00:00Z"
    drain(collector(api, start_time=start), None, harness(client).context)
    assert api.seen(PATH)[0].arg("start_time") == str(
        int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    )


def test_429_with_retry_after_waits_as_asked_then_continues(api, client):
    api.fail_next(
        PATH, Reply(status=429, json={"error": "TooManyRequests"}, headers={"Retry-After": "7"})
    )
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == CALENDAR and run.sleeps == [7.0]


def test_a_500_is_retried_and_the_run_completes(api, client):
    api.fail_next(PATH, Reply(status=500, json={"error": "InternalError"}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == CALENDAR and len(run.sleeps) == 1


def test_a_timeout_is_retried_and_the_run_completes(api):
    api.fail_next(PATH, Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == CALENDAR and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch_with_the_reason(api, client):
    api.fail_next(PATH, Reply(body=b'{"tickets": [{"id": 1,'))
    with pytest.raises(CollectorError, match=r"Collector 'zendesk' failed: GET .* malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_a_page_without_tickets_fails_the_fetch(api, client):
    api.fail_next(PATH, Reply(json={"error": "oops", "end_of_stream": True}))
    with pytest.raises(CollectorError, match="'tickets' is not a list"):
        collector(api).fetch(None, harness(client).context)


def test_a_refused_token_fails_the_fetch_without_retrying(api, client):
    api.fail_next(PATH, Reply(status=401, json={"error": "Couldn't authenticate you"}))
    run = harness(client)
    with pytest.raises(CollectorError, match="HTTP 401"):
        collector(api).fetch(None, run.context)
    assert run.sleeps == []


def test_a_cursor_from_elsewhere_is_refused(api, client):
    with pytest.raises(CollectorError, match="was not written by this collector"):
        collector(api).fetch({"page": 3}, harness(client).context)
