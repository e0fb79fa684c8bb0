"""``POST /api/v1/signals`` over real HTTP, on SQLite and PostgreSQL: strict validation, per-item
results, idempotency by (client, event_id) and by Idempotency-Key, commit before the 2xx,
re-scoring."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from live_api import LiveServer, ServerFactory, seed_world, wait_for
from prometheus_client.parser import text_string_to_metric_families

from rapport.api.schemas import MAX_SIGNALS_PER_REQUEST
from rapport.signals import schema
from rapport.signals.idempotency import idempotency_keys, stored_response
from rapport.signals.store import Store


def reply_json(
    event_id: str, client: str = "acme", value: Any = 2.0, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "client": client,
        "kind": "response_time",
        "ts": "2026-06-30T10:00:00Z",
        "value": value,
        "channel": "email",
        **extra,
    }


@pytest.fixture
def live(serve_api: ServerFactory, store_url: str) -> LiveServer:
    """The seeded world on each backend (ids sqlite / postgresql)."""
    server = serve_api(url=store_url)
    seed_world(server)
    return server


DropTable = Callable[[str], None]  # the conftest fixture drop_table
T_END = datetime(2030, 1, 1, tzinfo=UTC)


def stored_event_ids(url: str) -> list[str]:
    """What another connection sees: committed rows only."""
    with Store.open(url) as other, other._engine.connect() as conn:
        return sorted(conn.execute(sa.select(schema.signals.c.event_id)).scalars())


def test_each_item_is_reported_as_accepted_duplicate_or_rejected(
    live: LiveServer, store_url: str
) -> None:
    batch = [
        reply_json("new-1"),  # 0 inserted
        reply_json("acme-r1", value=1.0, ts="2026-06-29T12:00:00Z"),  # 1 same as stored: duplicate
        reply_json("acme-r2", value=4.0, ts="2026-06-28T12:00:00Z"),  # 2 changed: updated
        reply_json("new-1"),  # 3 repeats item 0: duplicate
        reply_json("new-1", value=9.0),  # 4 same id, other payload: rejected
        {
            "event_id": "inv-1",
            "client": "globex",
            "kind": "overdue_invoices",
            "ts": "2026-06-30T09:00:00Z",
            "value": 2,
            "attrs": {"currency": "USD"},
        },  # 5 inserted
        {
            "event_id": "x-1",
            "client": "globex",
            "kind": "overdue_invoice",
            "ts": "2026-06-30T09:00:00Z",
            "value": 2,
        },  # 6 undeclared kind: rejected
        {
            "event_id": "s-1",
            "client": "acme",
            "kind": "survey",
            "ts": "2026-06-30T09:00:00Z",
            "value": 9,
            "scale": "nps",
        },  # 7 inserted
    ]
    response = live.call("POST", "/api/v1/signals", token="ingest-token", json={"signals": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == [
        {"index": 0, "event_id": "new-1", "status": "inserted"},
        {"index": 2, "event_id": "acme-r2", "status": "updated"},
        {"index": 5, "event_id": "inv-1", "status": "inserted"},
        {"index": 7, "event_id": "s-1", "status": "inserted"},
    ]
    assert body["duplicates"] == [
        {"index": 1, "event_id": "acme-r1", "reason": "already stored with the same payload"},
        {"index": 3, "event_id": "new-1", "reason": "repeats item 0 of this batch"},
    ]
    assert [(r["index"], r["event_id"]) for r in body["rejected"]] == [(4, "new-1"), (6, "x-1")]
    assert body["rejected"][0]["reason"] == (
        "same event_id as item 0 of this batch but a different payload"
    )
    assert body["rejected"][1]["reason"].startswith(
        "unknown signal kind 'overdue_invoice' (declare it under signals: in the scorecard; "
    )
    # A 200 means committed: a separate connection already sees the rows.
    assert {"new-1", "inv-1", "s-1"} <= set(stored_event_ids(store_url))


def test_accepted_items_of_clients_not_in_the_registry_are_flagged_unscored(
    live: LiveServer,
) -> None:
    batch = [
        reply_json("u-1", client="contoso-retal"),
        reply_json("u-2"),  # acme is registered
        reply_json("u-3", client="contoso-retal", value=3.0),
        reply_json("u-4", client="beta-new"),
    ]
    response = live.call("POST", "/api/v1/signals", json={"signals": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == [
        {"index": 0, "event_id": "u-1", "status": "inserted", "unscored": True},
        {"index": 1, "event_id": "u-2", "status": "inserted"},
        {"index": 2, "event_id": "u-3", "status": "inserted", "unscored": True},
        {"index": 3, "event_id": "u-4", "status": "inserted", "unscored": True},
    ]
    assert body["unscored"] == ["beta-new", "contoso-retal"]


def test_ingesting_the_same_batch_twice_stores_it_once(live: LiveServer) -> None:
    batch = {"signals": [reply_json("twice-1"), reply_json("twice-2", value=3.0)]}
    first = live.call("POST", "/api/v1/signals", json=batch).json()
    second = live.call("POST", "/api/v1/signals", json=batch).json()
    assert [a["status"] for a in first["accepted"]] == ["inserted", "inserted"]
    assert second["accepted"] == []
    assert [d["event_id"] for d in second["duplicates"]] == ["twice-1", "twice-2"]
    assert live.store.signal_count() == 5 + 2


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        pytest.param(
            reply_json("a", value="3.5"),
            "value: Input should be a valid number",
            id="a string where a number belongs is refused, not coerced",
        ),
        pytest.param(
            reply_json("a", value=True),
            "value: Input should be a valid number",
            id="a boolean where a number belongs is refused",
        ),
        pytest.param(
            reply_json("a", ts=1782813600),
            "ts: Value error, expected an ISO 8601 date-time string such as 2026-05-01T09:30:00Z",
            id="an epoch number where a timestamp belongs is refused",
        ),
        pytest.param(
            reply_json("a", colour="red"),
            "colour: Extra inputs are not permitted",
            id="an unknown field is refused",
        ),
        pytest.param(
            {
                "event_id": "a",
                "client": "acme",
                "kind": "survey",
                "ts": "2026-06-30T10:00:00Z",
                "value": 11,
            },
            "item: Value error, value 11 is outside the nps scale 0..10",
            id="a survey answer off its scale is refused",
        ),
        pytest.param(
            reply_json("a", client="no spaces"),
            "client: Value error, ' ' may not be in a client id (up to 64 letters or digits of "
            "any script (上海云帆, müller-gmbh), '.', '_' or '-', starting with a letter or digit, "
            "in Unicode NFC form)",
            id="a malformed client id is refused",
        ),
        pytest.param(
            {**reply_json("a"), "kind": "incident", "severity": "sev9"},
            "severity: Input should be 'sev1', 'sev2', 'sev3' or 'sev4'; opened_at: Field "
            "required; ts: Extra inputs are not permitted; value: Extra inputs are not permitted; "
            "channel: Extra inputs are not permitted",
            id="an incident of an unknown severity is refused",
        ),
        pytest.param(
            "not an object",
            "item: Input should be a valid dictionary or instance of CustomIn",
            id="an item that is not an object is refused",
        ),
    ],
)
def test_an_invalid_item_is_rejected_alone_naming_its_field_and_counted(
    live: LiveServer, item: Any, reason: str
) -> None:
    before = live.store.signal_count()
    body = {"signals": [reply_json("ok-1"), item, reply_json("ok-2", value=3.0)]}
    response = live.call("POST", "/api/v1/signals", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert [a["event_id"] for a in result["accepted"]] == ["ok-1", "ok-2"]
    event_id = item["event_id"] if isinstance(item, dict) else ""
    assert result["rejected"] == [{"index": 1, "event_id": event_id, "reason": reason}]
    assert live.store.signal_count() == before + 2  # the valid items are stored
    assert ingested_counts(live)["rejected"] == 1.0


@pytest.mark.parametrize(
    ("item", "field"),
    [
        pytest.param(reply_json("nul-1", channel="e\x00mail"), "channel", id="in an attribute"),
        pytest.param(reply_json("nul\x00-2"), "event_id", id="in the event id"),
        pytest.param(
            {"event_id": "nul-3", "client": "globex", "kind": "overdue_invoices",
             "ts": "2026-06-30T09:00:00Z", "value": 2, "attrs": {"currency": "U\x00SD"}},
            "attrs.currency", id="in a custom attribute's value",
        ),
        pytest.param(
            {"event_id": "nul-4", "client": "globex", "kind": "overdue_invoices",
             "ts": "2026-06-30T09:00:00Z", "value": 2, "attrs": {"cur\x00rency": "USD"}},
            "attrs.cur\x00rency", id="in a custom attribute's name",
        ),
    ],
)  # fmt: skip
def test_a_nul_character_in_any_text_rejects_its_item_on_every_backend(
    live: LiveServer, item: dict[str, Any], field: str
) -> None:
    body = {"signals": [item, reply_json("after-nul")]}
    response = live.call("POST", "/api/v1/signals", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["rejected"] == [
        {
            "index": 0,
            "event_id": item["event_id"],
            "reason": f"{field}: text must not contain NUL characters (\\u0000)",
        }
    ]
    assert [a["event_id"] for a in result["accepted"]] == ["after-nul"]


def test_an_event_id_of_another_client_is_a_new_signal_of_ones_own_and_reveals_nothing(
    live: LiveServer, store_url: str
) -> None:
    # acme-r1 is acme's (seeded, PM A's). PM B posts that id and a fresh one for globex: both get
    # the answer of an id used nowhere, and acme's signal is neither moved nor changed.
    foreign = reply_json("acme-r1", client="globex", value=50.0)
    fresh = reply_json("never-used", client="globex", value=50.0)
    response = live.call(
        "POST", "/api/v1/signals", token="bob-token", json={"signals": [foreign, fresh]}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result == {
        "accepted": [
            {"index": 0, "event_id": "acme-r1", "status": "inserted"},
            {"index": 1, "event_id": "never-used", "status": "inserted"},
        ],
        "duplicates": [],
        "rejected": [],
        "unscored": [],
    }
    with Store.open(store_url) as other:
        acme = other.client_signals("acme", ["response_time"], T_END)
        globex = other.client_signals("globex", ["response_time"], T_END)
    assert [s.value for s in acme if s.event_id == "acme-r1"] == [1.0]
    assert [(s.client, s.value) for s in globex if s.event_id == "acme-r1"] == [("globex", 50.0)]
    counts = ingested_counts(live)
    assert (counts["inserted"], counts["rejected"]) == (2.0, 0.0)
    # Posting it again is idempotent within globex: a duplicate, as for any stored id.
    again = live.call("POST", "/api/v1/signals", token="bob-token", json={"signals": [foreign]})
    assert again.json()["duplicates"] == [
        {"index": 0, "event_id": "acme-r1", "reason": "already stored with the same payload"}
    ]


def test_an_empty_batch_and_an_oversized_batch_are_422(live: LiveServer) -> None:
    empty = live.call("POST", "/api/v1/signals", json={"signals": []})
    assert empty.status_code == 422
    too_many = [reply_json(f"e{i}") for i in range(MAX_SIGNALS_PER_REQUEST + 1)]
    response = live.call("POST", "/api/v1/signals", json={"signals": too_many})
    assert response.status_code == 422
    assert f"at most {MAX_SIGNALS_PER_REQUEST} items" in response.json()["reason"]


def test_a_body_that_is_not_json_is_422_with_a_reason(live: LiveServer) -> None:
    response = live.call(
        "POST",
        "/api/v1/signals",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["reason"]


def test_same_idempotency_key_and_body_replays_the_first_response(live: LiveServer) -> None:
    batch = {"signals": [reply_json("idem-1")]}
    headers = {"Idempotency-Key": "retry-42"}
    first = live.call("POST", "/api/v1/signals", json=batch, headers=headers)
    # Stored in between, so a fresh run would now call the item a duplicate:
    again = live.call("POST", "/api/v1/signals", json=batch, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["accepted"][0]["status"] == "inserted"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_same_idempotency_key_with_another_body_is_409(live: LiveServer, store_url: str) -> None:
    headers = {"Idempotency-Key": "retry-43"}
    live.call("POST", "/api/v1/signals", json={"signals": [reply_json("k-1")]}, headers=headers)
    other = live.call(
        "POST", "/api/v1/signals", json={"signals": [reply_json("k-2")]}, headers=headers
    )
    assert other.status_code == 409
    assert other.json()["reason"] == (
        "Idempotency-Key 'retry-43' was already used with a different request body "
        "(use a new key for a new request)"
    )
    assert "k-2" not in stored_event_ids(store_url)


def test_idempotency_keys_belong_to_one_token(live: LiveServer) -> None:
    headers = {"Idempotency-Key": "shared-name"}
    first = live.call(
        "POST",
        "/api/v1/signals",
        json={"signals": [reply_json("t-1")]},
        headers=headers,
        token="admin-token",
    )
    other = live.call(
        "POST",
        "/api/v1/signals",
        json={"signals": [reply_json("t-2")]},
        headers=headers,
        token="ingest-token",
    )
    assert first.status_code == other.status_code == 200
    assert other.json()["accepted"][0]["event_id"] == "t-2"


def test_a_malformed_idempotency_key_is_400(live: LiveServer) -> None:
    response = live.call(
        "POST",
        "/api/v1/signals",
        json={"signals": [reply_json("m-1")]},
        headers={"Idempotency-Key": "has space"},
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["reason"]


def test_new_signals_trigger_a_rescore(live: LiveServer) -> None:
    # globex: replies 6h and now 0h → mean 3 → 70 (was 40).
    live.call("POST", "/api/v1/signals", json={"signals": [reply_json("g-2", "globex", 0.0)]})
    wait_for(
        lambda: live.call("GET", "/api/v1/clients/globex").json()["score"] == pytest.approx(70.0),
        what="the ingest to trigger a re-score",
    )


def ingested_counts(server: LiveServer) -> dict[str, float]:
    """``rapport_signals_ingested_total`` by result, as scraped from /metrics."""
    text = server.call("GET", "/metrics", token="read-token").text
    return {
        s.labels["result"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "rapport_signals_ingested"
        for s in family.samples
        if s.name.endswith("_total")
    }


def test_ingest_results_are_counted_in_metrics(live: LiveServer) -> None:
    batch = [
        reply_json("c-1"),  # inserted
        reply_json("c-1"),  # repeated: unchanged
        reply_json("acme-r1", value=1.0, ts="2026-06-29T12:00:00Z"),  # stored already: unchanged
        {
            "event_id": "c-2",
            "client": "acme",
            "kind": "nope",
            "ts": "2026-06-30T10:00:00Z",
            "value": 1,
        },  # undeclared kind: rejected
    ]
    live.call("POST", "/api/v1/signals", json={"signals": batch}).raise_for_status()
    text = live.call("GET", "/metrics", token="read-token").text
    samples = {
        s.labels["result"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "rapport_signals_ingested"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert samples == {"inserted": 1.0, "updated": 0.0, "unchanged": 2.0, "rejected": 1.0}


def test_the_idempotency_table_matches_its_migration(live: LiveServer) -> None:
    inspector = sa.inspect(live.store._engine)
    columns = {c["name"]: c["nullable"] for c in inspector.get_columns("idempotency_keys")}
    assert columns == {c.name: c.nullable for c in idempotency_keys.columns}
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("idempotency_keys")}
    assert indexes == {i.name: [c.name for c in i.columns] for i in idempotency_keys.indexes}


def test_a_burst_of_ingests_is_rescored_once(serve_api: ServerFactory) -> None:
    server = serve_api(evaluate_debounce="3s")
    seed_world(server)

    def evaluations() -> float:
        text = server.call("GET", "/metrics").text
        return next(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "rapport_evaluations_total" and s.labels["result"] == "ok"
        )

    before = evaluations()
    for i in range(5):  # globex: replies 6h and five of 0h → mean 1 → 90
        body = {"signals": [reply_json(f"burst-{i}", "globex", 0.0)]}
        server.call("POST", "/api/v1/signals", json=body).raise_for_status()
    wait_for(
        lambda: server.call("GET", "/api/v1/clients/globex").json()["score"] == pytest.approx(90.0),
        what="the burst to be re-scored",
    )
    assert evaluations() == before + 1


def post_concurrently(live: LiveServer, bodies: list[dict[str, Any]], key: str) -> list[Any]:
    """POST every body at once (released together by a barrier), all with one Idempotency-Key."""
    barrier = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]) -> Any:
        barrier.wait()
        return live.call("POST", "/api/v1/signals", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_concurrent_requests_with_one_key_and_different_bodies_commit_exactly_one(
    live: LiveServer, store_url: str
) -> None:
    before = set(stored_event_ids(store_url))
    bodies = [
        {"signals": [reply_json(f"race-{n}-{i}", value=float(i)) for i in range(300)]}
        for n in range(6)
    ]
    responses = post_concurrently(live, bodies, "race-key")
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409, 409], [r.text for r in responses]
    [winner] = [n for n, r in enumerate(responses) if r.status_code == 200]
    for response in responses:
        if response.status_code == 409:
            assert "race-key" in response.json()["reason"]
    written = set(stored_event_ids(store_url)) - before
    assert written == {f"race-{winner}-{i}" for i in range(300)}  # the others wrote nothing


def test_concurrent_retries_of_one_body_store_it_once_and_replay_or_wait(
    live: LiveServer, store_url: str
) -> None:
    body = {"signals": [reply_json(f"retry-{i}", value=float(i)) for i in range(300)]}
    responses = post_concurrently(live, [body] * 4, "retry-key")
    first = [
        r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    ]
    assert len(first) == 1
    for response in responses:
        if response.status_code == 409:  # arrived while the first was running
            assert response.json()["reason"] == (
                "a request with Idempotency-Key 'retry-key' is still in progress "
                "(retry it shortly to get its answer)"
            )
        else:
            assert response.status_code == 200
            assert response.json() == first[0].json()
    inserted = [a for a in first[0].json()["accepted"] if a["status"] == "inserted"]
    assert len(inserted) == 300
    again = live.call(
        "POST", "/api/v1/signals", json=body, headers={"Idempotency-Key": "retry-key"}
    )
    assert again.json() == first[0].json()  # once done, every retry replays it


def test_a_failed_request_releases_its_idempotency_key(
    live: LiveServer, store_url: str, drop_table: DropTable
) -> None:
    drop_table("signals")
    body = {"signals": [reply_json("fail-1")]}
    failed = live.call("POST", "/api/v1/signals", json=body, headers={"Idempotency-Key": "f-1"})
    assert failed.status_code == 503
    assert stored_response(live.store, "admin", "f-1", since=0.0) is None
