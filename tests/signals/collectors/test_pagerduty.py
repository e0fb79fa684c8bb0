"""The pagerduty collector against a loopback server serving PagerDuty's documented incident list
(REST API v2, classic offset pagination)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fakeapi import FakeAPI, Reply, Seen, drain, fetch_context

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.pagerduty import PATH, PagerDutyCollector, PagerDutyConfig
from rapport.signals.model import StoredSignal

SERVICES = [("PSVC1", "acme"), ("PSVC2", "globex")]
SERVICE_NAMES = {"PSVC1": "Checkout API", "PSVC2": "Data platform", "PSVC9": "Legacy"}


def incident(incident_id: str, created: str, status: str, urgency: str | None, priority: str | None,
             service: str, **extra: object) -> dict:  # fmt: skip
    """An incident as PagerDuty's "List incidents" documents it."""
    item: dict = {
        "id": incident_id,
        "type": "incident",
        "summary": f"[#{incident_id}] The server is on fire.",
        "self": f"https://api.pagerduty.com/incidents/{incident_id}",
        "incident_number": 1000,
        "title": "The server is on fire.",
        "created_at": created,
        "updated_at": created,
        "status": status,
        "incident_key": "baf7cf21b1da41b4b0221008339ff357",
        "service": {
            "id": service,
            "type": "service_reference",
            "summary": SERVICE_NAMES[service],
            "self": f"https://api.pagerduty.com/services/{service}",
        },
        "priority": None
        if priority is None
        else {"id": "P53ZZH5", "type": "priority_reference", "summary": priority},
        "last_status_change_at": created,
    }
    if urgency is not None:
        item["urgency"] = urgency
    return {**item, **extra}


PAGES = {
    "0": [
        incident("PT1", "2024-05-03T10:00:00Z", "resolved", "high", "P1", "PSVC1",
                 resolved_at="2024-05-03T11:30:00Z", last_status_change_at="2024-05-03T11:30:00Z"),
        incident("PT2", "2024-05-05T08:00:00Z", "acknowledged", "low", None, "PSVC2",
                 resolved_at=None),
    ],
    "2": [
        incident("PT3", "2024-05-06T00:00:00Z", "resolved", "high", "P9", "PSVC1",
                 last_status_change_at="2024-05-06T02:00:00Z"),
        incident("PT4", "2024-05-07T00:00:00Z", "resolved", "high", None, "PSVC9"),
        incident("PT5", "2024-05-04T00:00:00Z", "triggered", None, None, "PSVC1"),
    ],
    "5": [],
}  # fmt: skip


def incidents(request: Seen) -> Reply:
    offset = request.arg("offset") or "0"
    return Reply(
        json={
            "incidents": PAGES[offset],
            "limit": int(request.arg("limit") or 25),
            "offset": int(offset),
            "total": None,
            "more": offset != "5",
        }
    )


def expected(incident_id: str, client: str, severity: str, opened: datetime, resolved, service):
    return StoredSignal(
        event_id=f"pagerduty:incident:{incident_id}", client=client, kind="incident", ts=opened,
        end=resolved, attrs={"severity": severity, "service": service}, source="pagerduty",
        recorded_at=opened,  # the incident's created_at
    )  # fmt: skip


EXPECTED = [
    expected("PT1", "acme", "sev1", datetime(2024, 5, 3, 10, tzinfo=UTC),
             datetime(2024, 5, 3, 11, 30, tzinfo=UTC), "Checkout API"),
    expected("PT2", "globex", "sev4", datetime(2024, 5, 5, 8, tzinfo=UTC), None, "Data platform"),
    expected("PT3", "acme", "sev2", datetime(2024, 5, 6, tzinfo=UTC),
             datetime(2024, 5, 6, 2, tzinfo=UTC), "Checkout API"),
]  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add(PATH, incidents)
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **overrides: object) -> PagerDutyCollector:
    settings = {"base_url": api.url, "token_env": "PD_TOKEN", "page_size": 2}
    return PagerDutyCollector(PagerDutyConfig.model_validate({**settings, **overrides}))


def harness(client: httpx.Client):
    return fetch_context(client, SERVICES, "pagerduty_service", {"PD_TOKEN": "pd-token"})


def test_incident_pages_become_exact_signals_with_mapped_severity_and_resolution(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api), None, run.context)
    assert signals == EXPECTED
    # the next sweep starts at the oldest incident still open, to read its resolution later
    assert cursor == {"next_since": "2024-05-04T00:00:00+00:00"}
    first, second, third = api.seen(PATH)
    assert (first.arg("since"), first.arg("until")) == (
        "2024-05-02T12:00:00+00:00",
        "2024-06-01T12:00:00+00:00",
    )
    assert [first.arg("offset"), second.arg("offset"), third.arg("offset")] == ["0", "2", "5"]
    assert first.arg("sort_by") == "created_at:asc" and first.arg("limit") == "2"
    assert first.headers["authorization"] == "Token token=pd-token"
    assert first.headers["accept"] == "application/vnd.pagerduty+json;version=2"


def test_an_incident_missing_its_urgency_is_skipped_and_an_unknown_service_counted(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.skipped == ["pagerduty:incident:PT5: missing field 'urgency'"]
    assert run.unmapped == {"psvc9": 1}


def test_the_severity_maps_are_configurable(api, client):
    config = {"priority_severity": {}, "urgency_severity": {"high": "sev1", "low": "sev3"}}
    signals, _ = drain(collector(api, **config), None, harness(client).context)
    assert [s.attrs["severity"] for s in signals] == ["sev1", "sev3", "sev1"]


def test_the_next_sweep_starts_where_the_cursor_says_and_filters_services(api, client):
    drain(
        collector(api, service_ids=["PSVC1", "PSVC2"]),
        {"next_since": "2024-05-04T00:00:00+00:00"},
        harness(client).context,
    )
    first = api.seen(PATH)[0]
    assert first.arg("since") == "2024-05-04T00:00:00+00:00"
    assert first.query["service_ids[]"] == ["PSVC1", "PSVC2"]


def test_a_sweep_with_nothing_open_continues_from_its_until(api, client):
    api.fail_next(PATH, Reply(json={"incidents": [], "limit": 2, "offset": 0, "more": False}))
    _, cursor = drain(collector(api), None, harness(client).context)
    assert cursor == {"next_since": "2024-06-01T12:00:00+00:00"}


def test_the_window_slides_instead_of_passing_the_offset_cap(api, client):
    api.fail_next(
        PATH,
        Reply(json={"incidents": PAGES["0"][:1], "limit": 100, "offset": 9900, "more": True}),
    )
    deep = {
        "since": "2024-05-02T12:00:00+00:00",
        "until": "2024-06-01T12:00:00+00:00",
        "offset": 9900,
        "open": None,
    }
    result = collector(api, page_size=100).fetch(deep, harness(client).context)
    assert result.more and result.cursor == {
        "since": "2024-05-03T10:00:00+00:00",
        "until": "2024-06-01T12:00:00+00:00",
        "offset": 0,
        "open": None,
    }


@pytest.mark.parametrize(
    ("headers", "check"),
    [
        ({"Retry-After": "4"}, lambda sleeps: sleeps == [4.0]),
        ({}, lambda sleeps: len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0),
        (
            {"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": "5"},
            lambda sleeps: sleeps == [5.0],
        ),
    ],
    ids=[
        "429 with Retry-After waits as asked",
        "429 without Retry-After backs off",
        "429 with PagerDuty's ratelimit-reset waits its seconds",
    ],
)
def test_rate_limits_are_waited_out(api, client, headers, check):
    api.fail_next(
        PATH, Reply(status=429, json={"error": {"message": "Rate Limit Exceeded"}}, headers=headers)
    )
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and check(run.sleeps)


def test_ratelimit_reset_on_a_500_is_not_a_wait(api, client):
    # PagerDuty sends ratelimit-* on every answer: only a rate limit makes it a wait
    api.fail_next(PATH, Reply(status=500, headers={"ratelimit-reset": "50"}))
    run = harness(client)
    drain(collector(api), None, run.context)
    assert len(run.sleeps) == 1 and run.sleeps[0] <= 1.0


def test_a_500_is_retried(api, client):
    api.fail_next(PATH, Reply(status=500, json={"error": {"message": "Internal error"}}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_a_timeout_is_retried(api):
    api.fail_next(PATH, Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch(api, client):
    api.fail_next(PATH, Reply(body=b'{"incidents": [], "more": tru'))
    with pytest.raises(CollectorError, match="malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_a_page_without_more_fails_the_fetch(api, client):
    api.fail_next(PATH, Reply(json={"incidents": []}))
    with pytest.raises(CollectorError, match="'more' is missing"):
        collector(api).fetch(None, harness(client).context)


def test_a_foreign_cursor_is_refused(api, client):
    with pytest.raises(CollectorError, match="was not written by this collector"):
        collector(api).fetch({"next_since": "last tuesday"}, harness(client).context)
