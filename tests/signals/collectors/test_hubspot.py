"""The hubspot collector against a loopback server serving HubSpot's CRM v3 lists (deals with
company associations, companies, owners; ``paging.next.after``), in every fault mode; and the
runner applying its client facts to a real registry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fakeapi import NOW, FakeAPI, Reply, Seen, drain, fetch_context

from rapport.signals.collectors.base import ClientMap, CollectorError
from rapport.signals.collectors.config import check_collectors_text
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.hubspot import (
    COMPANIES_PATH,
    DEALS_PATH,
    OWNERS_PATH,
    HubSpotCollector,
    HubSpotConfig,
)
from rapport.signals.collectors.runner import run_collectors
from rapport.signals.model import Client, Owner, StoredSignal
from rapport.signals.store import Store

REGISTRY = [
    Client(id="acme", name="Acme", attrs={"hubspot_company": "9001"}),
    Client(
        id="globex", name="Globex", attrs={"hubspot_company": "9002", "renewal_date": "2023-01-01"},
        owner=Owner(name="Registry PM", email="pm@ourco.example"),
    ),
    Client(id="initech", name="Initech", attrs={"hubspot_company": "9003"},
           timezone="Asia/Shanghai"),
]  # fmt: skip
ADA = Owner(name="Ada Lovelace", email="ada@ourco.example")


def deal(deal_id: str, dealtype: str, stage: str, closes: str | None, amount: str | None = None,
         company: str | None = None, closed: bool = True) -> dict:  # fmt: skip
    """A deal as the v3 list answers it with ``associations=companies`` (strings throughout)."""
    properties = {
        "amount": amount,
        "createdate": "2023-01-10T09:00:00Z",
        "dealname": f"Deal {deal_id}",
        "dealstage": stage,
        "dealtype": dealtype,
        "hs_is_closed": "true" if closed else "false",
        "hs_lastmodifieddate": "2024-05-20T10:00:00Z",
        "hs_object_id": deal_id,
        "pipeline": "default",
    }
    if closes is not None:
        properties["closedate"] = closes
    item: dict[str, object] = {
        "id": deal_id,
        "properties": properties,
        "createdAt": "2023-01-10T09:00:00Z",
        "updatedAt": "2024-05-20T10:00:00Z",
        "archived": False,
    }
    if company is not None:
        links = [{"id": company, "type": "deal_to_company"},
                 {"id": company, "type": "deal_to_company_unlabeled"}]  # fmt: skip
        item["associations"] = {"companies": {"results": links}}
    return item


RENEWAL = "existingbusiness"
DEALS = {
    None: (
        [
            deal("d1", RENEWAL, "closedwon", "2024-03-31T00:00:00Z", "12000.5", "9001"),
            deal("d2", RENEWAL, "closedlost", "2024-04-15T10:00:00Z", "", "9002"),
            deal("d3", "newbusiness", "closedwon", "2024-02-01T00:00:00Z", "500", "9001"),
            deal("d4", RENEWAL, "contractsent", "2024-09-30T00:00:00Z", "9000", "9001", False),
        ],
        "d2",
    ),
    "d2": ([], "d3"),  # an empty page that still says there is more
    "d3": (
        [
            deal("d5", RENEWAL, "appointmentscheduled", "2024-08-15T00:00:00Z", None, "9001",
                 False),
            deal("d6", RENEWAL, "closedwon", None, "10", "9001"),
            deal("d7", RENEWAL, "closedwon", "2024-05-01T00:00:00Z", "10", "9004"),
            deal("d8", RENEWAL, "closedlost", "2024-05-02T00:00:00Z", "10"),
            deal("d9", RENEWAL, "closedwon", "2022-01-01T00:00:00Z", "10", "9001"),
            deal("d10", RENEWAL, "qualifiedtobuy", "2024-06-30T16:00:00Z", None, "9003", False),
            deal("d12", RENEWAL, "qualifiedtobuy", None, None, "9002", False),  # no date yet
        ],
        None,
    ),
}  # fmt: skip
COMPANIES = {
    None: (
        [
            {"id": "9001", "properties": {"name": "Acme Corp", "hubspot_owner_id": "101"}},
            {"id": "9002", "properties": {"name": "Globex", "hubspot_owner_id": "102"}},
        ],
        "c2",
    ),
    "c2": (
        [
            {"id": "9003", "properties": {"name": "Initech", "hubspot_owner_id": "103"}},
            {"id": "9004", "properties": {"name": "Unknown Co", "hubspot_owner_id": "101"}},
            {"properties": {"name": "no id"}},
        ],
        None,
    ),
}
OWNERS = {
    None: ([{"id": "101", "email": "ada@ourco.example", "firstName": "Ada",
             "lastName": "Lovelace", "userId": 1, "archived": False}], "o2"),
    "o2": ([{"id": "102", "email": "grace@ourco.example", "firstName": "Grace",
             "lastName": "Hopper"}, {"id": "103", "email": None, "firstName": "Bot"}], None),
}  # fmt: skip


def lister(pages: dict) -> object:
    """A v3 list endpoint serving ``pages`` (after token → (results, next after))."""

    def answer(request: Seen) -> Reply:
        results, following = pages[request.arg("after")]
        body: dict[str, object] = {"results": results}
        if following is not None:
            body["paging"] = {"next": {"after": following, "link": f"https://x?after={following}"}}
        return Reply(json=body)

    return answer


def outcome(deal_id: str, client: str, ts: datetime, kind: str, value: float | None):
    return StoredSignal(
        event_id=f"hubspot:deal:{deal_id}", client=client, kind="outcome", ts=ts, value=value,
        attrs={"type": kind, "deal": deal_id}, source="hubspot", recorded_at=ts,
    )  # fmt: skip


EXPECTED = [
    outcome("d1", "acme", datetime(2024, 3, 31, tzinfo=UTC), "renewed", 12000.5),
    outcome("d2", "globex", datetime(2024, 4, 15, 10, tzinfo=UTC), "churned", None),
]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add(DEALS_PATH, lister(DEALS))
        server.add(COMPANIES_PATH, lister(COMPANIES))
        server.add(OWNERS_PATH, lister(OWNERS))
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **overrides: object) -> HubSpotCollector:
    settings = {"base_url": api.url, "token_env": "HUBSPOT_TOKEN", **overrides}
    return HubSpotCollector(HubSpotConfig.model_validate(settings))


def harness(client: httpx.Client):
    run = fetch_context(client, secrets={"HUBSPOT_TOKEN": "pat-na1-secret"})
    run.context.clients = ClientMap(REGISTRY, "hubspot_company")
    return run


def sweep(api: FakeAPI, client: httpx.Client, cursor: object = None, **overrides: object):
    """Every fetch of one sweep: (signals, client facts, final cursor, harness)."""
    run, found, facts = harness(client), [], []
    source = collector(api, **overrides)
    for _ in range(20):
        result = source.fetch(cursor, run.context)
        found += result.signals
        facts += result.clients
        cursor = result.cursor
        if not result.more:
            return found, facts, cursor, run
    raise AssertionError("the sweep never ended")


def test_closed_renewals_become_exact_outcomes_across_pages(api, client):
    signals, _, cursor, _ = sweep(api, client)
    assert signals == EXPECTED
    assert [r.arg("after") for r in api.seen(DEALS_PATH)] == [None, "d2", "d3"]
    first = api.seen(DEALS_PATH)[0]
    assert first.arg("associations") == "companies" and first.arg("limit") == "100"
    assert set(first.arg("properties").split(",")) == {
        "amount", "closedate", "dealstage", "dealtype", "hs_is_closed"
    }  # fmt: skip
    assert first.headers["authorization"] == "Bearer pat-na1-secret"
    since = int(NOW.timestamp()) - 3600
    assert cursor == {"phase": "deals", "after": None, "since": since, "sweep": None,
                      "renewals": {}}  # fmt: skip


def test_companies_give_owners_and_the_earliest_open_renewal_as_client_facts(api, client):
    _, facts, _, _ = sweep(api, client)
    by_client = {fact.client: fact for fact in facts}
    assert set(by_client) == {"acme", "globex", "initech"}
    assert dict(by_client["acme"].attrs) == {"renewal_date": "2024-08-15"}
    assert by_client["acme"].owner == ADA
    assert by_client["globex"].cleared == ("renewal_date",)  # no renewal is open
    # 2024-06-30T16:00Z is July 1 in Shanghai, initech's zone; owner 103 has no email: no owner
    assert dict(by_client["initech"].attrs) == {"renewal_date": "2024-07-01"}
    assert by_client["initech"].owner is None
    assert [r.arg("after") for r in api.seen(OWNERS_PATH)] == [None, "o2"]


def test_a_deal_missing_a_field_is_skipped_and_unmapped_companies_are_counted(api, client):
    _, _, _, run = sweep(api, client)
    assert run.context.skipped == [
        "hubspot:deal:d6: missing field 'closedate'",
        "hubspot:company:?: missing field 'id'",
    ]
    assert run.unmapped == {"9004": 2, "<none>": 1}  # d7 and the company itself; d8
    assert run.context.warnings == [
        "companies no client maps (set hubspot_company in clients.yaml): 9004 (Unknown Co)"
    ]


def test_a_first_run_reads_what_backfill_asks(api, client):
    run = harness(client)
    run.context.backfill = 3 * 365 * 86400.0
    signals, _ = drain(collector(api), None, run.context)
    assert [s.event_id for s in signals] == ["hubspot:deal:d1", "hubspot:deal:d2",
                                             "hubspot:deal:d9"]  # fmt: skip


def test_a_later_sweep_stores_only_deals_updated_since(api, client):
    since = int(datetime(2024, 5, 21, tzinfo=UTC).timestamp())  # after every updatedAt above
    cursor = {"phase": "deals", "after": None, "since": since, "sweep": None, "renewals": {}}
    signals, facts, _, _ = sweep(api, client, cursor)
    assert signals == [] and {f.client for f in facts} == {"acme", "globex", "initech"}


def test_a_declared_mapping_reads_another_pipelines_stages(api, client):
    rules = [{"when": {"dealstage": ["closedwon", "closedlost"], "dealtype": "newbusiness"},
              "type": "won_new"}]  # fmt: skip
    signals, _, _, _ = sweep(api, client, outcomes=rules)
    assert [(s.event_id, s.attrs["type"]) for s in signals] == [("hubspot:deal:d3", "won_new")]
    assert set(api.seen(DEALS_PATH)[0].arg("properties").split(",")) >= {"dealstage", "dealtype"}


def test_a_wrong_token_is_one_clear_line_naming_where_it_comes_from(api, client):
    body = {"status": "error", "message": "Authentication credentials not found.",
            "correlationId": "c0ffee", "category": "INVALID_AUTHENTICATION"}  # fmt: skip
    api.fail_next(DEALS_PATH, Reply(status=401, json=body))
    run = harness(client)
    with pytest.raises(CollectorError) as caught:
        collector(api).fetch(None, run.context)
    assert caught.value.reason == (
        f"GET {api.url}{DEALS_PATH}: HubSpot refused the private app token (HTTP 401 "
        "INVALID_AUTHENTICATION): put the app's current access token in token_env HUBSPOT_TOKEN"
    )
    assert run.sleeps == [] and "pat-na1-secret" not in str(caught.value)


def test_missing_scopes_are_one_line_naming_them(api, client):
    body = {"status": "error", "message": "This app hasn't been granted all required scopes",
            "category": "MISSING_SCOPES"}  # fmt: skip
    api.fail_next(DEALS_PATH, Reply(status=403, json=body))
    with pytest.raises(CollectorError, match=r"HTTP 403 MISSING_SCOPES.*crm\.objects\.deals\.read"):
        collector(api).fetch(None, harness(client).context)


RATE_LIMITED = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "waited"),
    [
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "100",
          "X-HubSpot-RateLimit-Remaining": "0"}, 10.0),
        ({"Retry-After": "3", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
          "X-HubSpot-RateLimit-Remaining": "0"}, 3.0),
    ],
    ids=["the rolling window is waited once none remain", "a Retry-After wins over the window"],
)  # fmt: skip
def test_429_waits_what_hubspots_headers_say(api, client, headers, waited):
    api.fail_next(DEALS_PATH, Reply(status=429, json=RATE_LIMITED, headers=headers))
    signals, _, _, run = sweep(api, client)
    assert signals == EXPECTED and run.sleeps == [waited]


def test_a_500_is_retried(api, client):
    api.fail_next(COMPANIES_PATH, Reply(status=500, json={"status": "error", "message": "oops"}))
    signals, facts, _, run = sweep(api, client)
    assert signals == EXPECTED and len(facts) == 3 and len(run.sleeps) == 1


def test_a_timeout_is_retried(api):
    api.fail_next(DEALS_PATH, Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        signals, _, _, run = sweep(api, quick)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch(api, client):
    api.fail_next(DEALS_PATH, Reply(body=b'{"results": [{"id": "d1",'))
    with pytest.raises(CollectorError, match="malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_a_page_without_results_fails_the_fetch(api, client):
    api.fail_next(DEALS_PATH, Reply(json={"paging": {}}))
    with pytest.raises(CollectorError, match="'results' is not a list"):
        collector(api).fetch(None, harness(client).context)


def test_an_amount_that_is_not_a_number_skips_the_deal(api, client):
    bad = deal("d11", RENEWAL, "closedwon", "2024-05-05T00:00:00Z", "lots", "9001")
    api.add(DEALS_PATH, Reply(json={"results": [bad]}))
    _, _, _, run = sweep(api, client)
    assert run.context.skipped[0] == (
        "hubspot:deal:d11: field 'properties.amount' is not a number: 'lots'"
    )


def test_a_cursor_from_elsewhere_is_refused(api, client):
    with pytest.raises(CollectorError, match="was not written by this collector"):
        collector(api).fetch({"after": "d2"}, harness(client).context)


def test_the_runner_stores_outcomes_and_applies_client_facts_to_the_registry(
    api: FakeAPI, store: Store, tmp_path: Path
) -> None:
    store.upsert_clients(REGISTRY)
    text = f"version: 1\ncollectors:\n  crm:\n    type: hubspot\n    base_url: {api.url}\n"
    conf, found = check_collectors_text(text + "    token_env: HUBSPOT_TOKEN\n", "c.yaml")
    assert found == [] and conf is not None
    rescored: list[set[str]] = []
    (record,) = run_collectors(
        store, conf, now=lambda: NOW, secret={"HUBSPOT_TOKEN": "pat"}.__getitem__,
        sleep=lambda _: None, rescore=rescored.append,
    )  # fmt: skip
    assert record.ok, record.error
    assert (record.stored, record.unmapped, record.skipped) == (2, 3, 2)
    registry = {c.id: c for c in store.clients()}
    assert registry["acme"].attrs == {"hubspot_company": "9001", "renewal_date": "2024-08-15"}
    assert registry["acme"].owner == ADA
    assert registry["globex"].attrs == {"hubspot_company": "9002"}  # the stale date removed
    assert registry["globex"].owner == REGISTRY[1].owner  # the registry's own owner wins
    assert registry["initech"].attrs["renewal_date"] == "2024-07-01"
    assert rescored == [{"acme", "globex", "initech"}]
