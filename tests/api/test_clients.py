"""The clients endpoints over real HTTP: list, detail, history, explain and the registry writes.

Expected scores are computed by hand in live_api.py's table.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from live_api import LiveServer, ServerFactory, T, reply, seed_world, wait_for

from rapport.signals.model import Client


def test_list_shows_score_grade_owner_segment_and_stale_flags(world: LiveServer) -> None:
    page = world.call("GET", "/api/v1/clients").json()
    assert page["total"] == 4
    assert page["as_of"] == "2026-06-30T12:00:00Z"
    rows = {item["id"]: item for item in page["items"]}
    assert rows["acme"]["score"] == pytest.approx(80.0)
    assert rows["acme"]["grade"] == "healthy"
    assert rows["acme"]["segment"] == "enterprise"
    assert rows["acme"]["owner"] == {
        "name": "Alice Smith",
        "email": "alice@example.com",
        "slug": "alice-smith",
    }
    assert rows["globex"]["score"] == pytest.approx(40.0)
    assert rows["globex"]["grade"] == "at_risk"
    assert rows["initech"]["score"] == pytest.approx(50.0)
    assert rows["initech"]["grade"] == "watch"
    assert rows["initech"]["stale"] == ["responsiveness"]
    assert rows["acme"]["stale"] == []
    assert rows["umbrella"]["score"] is None
    assert rows["umbrella"]["owner"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "owner=alice-smith",
            ["acme", "initech"],
            id="owner by name slug keeps that PM's clients",
        ),
        pytest.param("owner=BOB@example.com", ["globex"], id="owner by email ignores case"),
        pytest.param("segment=smb", ["globex"], id="segment keeps that segment"),
        pytest.param("grade=watch", ["initech"], id="grade keeps that grade"),
        pytest.param(
            "sort=score",
            ["globex", "initech", "acme", "umbrella"],
            id="score ascending puts unscored last",
        ),
        pytest.param(
            "sort=-score",
            ["acme", "initech", "globex", "umbrella"],
            id="score descending puts unscored last too",
        ),
        pytest.param("sort=-name", ["umbrella", "initech", "globex", "acme"], id="name descending"),
        pytest.param(
            "sort=id&offset=1&limit=2", ["globex", "initech"], id="offset and limit paginate"
        ),
    ],
)
def test_list_filters_sorts_and_paginates(
    world: LiveServer, query: str, expected: list[str]
) -> None:
    page = world.call("GET", f"/api/v1/clients?{query}").json()
    assert [item["id"] for item in page["items"]] == expected


def test_pagination_reports_the_total_before_slicing(world: LiveServer) -> None:
    page = world.call("GET", "/api/v1/clients?limit=1&offset=3").json()
    assert (page["total"], page["offset"], page["limit"]) == (4, 3, 1)
    assert [i["id"] for i in page["items"]] == ["umbrella"]


def test_bad_query_values_are_422_with_a_reason(world: LiveServer) -> None:
    response = world.call("GET", "/api/v1/clients?limit=0&sort=happiness")
    assert response.status_code == 422
    body = response.json()
    assert "limit" in body["reason"] and "sort" in body["reason"]


@pytest.fixture
def world_on_each_store(serve_api: ServerFactory, store_url: str) -> LiveServer:
    """The seeded world on SQLite and on PostgreSQL (for the queries written against tables)."""
    server = serve_api(url=store_url)
    seed_world(server)
    return server


def test_deltas_compare_with_the_stored_score_7_and_30_days_earlier(
    world_on_each_store: LiveServer,
) -> None:
    world = world_on_each_store
    # The world was scored at T. Score again 8 days later: acme's replies are now outside the
    # 7d window and carried (mean 2h → 80), its invoice still counts (30d) → 80, delta 0.
    # globex's reply (6h, 10 days old now) is carried too → 40, delta 0. Add a fast reply for
    # globex at T+8d−1h (1h): its mean over 7d is 1 → 90 → delta_7d = 90 − 40 = +50.
    world.clock.now = T + timedelta(days=8)
    world.store.upsert_signals([reply("globex-r2", "globex", -(8 * 24 - 1), 1.0)])
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    rows = {i["id"]: i for i in world.call("GET", "/api/v1/clients").json()["items"]}
    assert rows["globex"]["score"] == pytest.approx(90.0)
    assert rows["globex"]["delta_7d"] == pytest.approx(50.0)
    assert rows["globex"]["delta_30d"] is None  # nothing stored 30 days before T+8d
    assert rows["acme"]["delta_7d"] == pytest.approx(0.0)
    assert rows["umbrella"]["delta_7d"] is None


def test_detail_has_components_limits_attrs_and_newest_signals(world: LiveServer) -> None:
    body = world.call("GET", "/api/v1/clients/acme").json()
    assert body["score"] == pytest.approx(80.0)
    assert body["attrs"] == {"tier": "gold"}
    responsiveness = body["components"]["responsiveness"]
    assert responsiveness["value"] == pytest.approx(2.0)
    assert responsiveness["points"] == pytest.approx(80.0)
    assert responsiveness["weight"] == pytest.approx(0.75)
    assert body["components"]["invoices"]["points"] == pytest.approx(80.0)
    assert body["limits"] == []
    assert body["last_signals"] == {
        "overdue_invoices": "2026-06-28T12:00:00Z",
        "response_time": "2026-06-29T12:00:00Z",
    }


def test_unknown_client_is_a_json_404(world: LiveServer) -> None:
    response = world.call("GET", "/api/v1/clients/nobody")
    assert response.status_code == 404
    assert response.json() == {"reason": "No client by the id of 'nobody' was found"}


def test_history_lists_stored_scores_within_from_and_to(world_on_each_store: LiveServer) -> None:
    world = world_on_each_store
    world.clock.now = T + timedelta(days=1)
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    everything = world.call("GET", "/api/v1/clients/acme/history").json()
    assert [p["as_of"] for p in everything["points"]] == [
        "2026-06-30T12:00:00Z",
        "2026-07-01T12:00:00Z",
    ]
    assert everything["points"][0]["components"]["responsiveness"] == pytest.approx(80.0)
    later = world.call(
        "GET", "/api/v1/clients/acme/history", params={"from": "2026-07-01T00:00:00Z"}
    ).json()
    assert [p["as_of"] for p in later["points"]] == ["2026-07-01T12:00:00Z"]
    earlier = world.call(
        "GET", "/api/v1/clients/acme/history", params={"to": "2026-06-30T23:00:00Z"}
    ).json()
    assert [p["as_of"] for p in earlier["points"]] == ["2026-06-30T12:00:00Z"]


def test_history_with_from_after_to_is_422(world: LiveServer) -> None:
    response = world.call(
        "GET",
        "/api/v1/clients/acme/history",
        params={"from": "2026-07-02T00:00:00Z", "to": "2026-07-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert response.json()["reason"] == "'from' is after 'to'"


def test_explain_returns_the_components_in_json(world: LiveServer) -> None:
    body = world.call("GET", "/api/v1/clients/initech/explain").json()
    assert body["client"] == "initech"
    assert body["score"] == pytest.approx(50.0)
    assert body["grade"] == "watch"
    parts = {c["id"]: c for c in body["components"]}
    assert parts["responsiveness"]["status"] == "stale"
    assert body["change"] is None  # nothing stored 7 days before


def test_explain_at_a_past_instant_scores_as_of_then(world_on_each_store: LiveServer) -> None:
    world = world_on_each_store
    # As of T−3d, acme's replies (T−1d, T−2d) are in the future and its invoice too (T−2d):
    # no data at all → no score.
    past = (T - timedelta(days=3)).isoformat()
    body = world.call("GET", "/api/v1/clients/acme/explain", params={"as_of": past}).json()
    assert body["as_of"] == "2026-06-27T12:00:00Z"
    assert body["score"] is None


def test_explain_as_text_is_the_cli_rendering(world: LiveServer) -> None:
    response = world.call("GET", "/api/v1/clients/acme/explain?format=text")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("acme: 80.0 (healthy)")


def test_explain_reports_the_change_since_the_compared_score(world: LiveServer) -> None:
    world.clock.now = T + timedelta(days=1)
    world.store.upsert_signals([reply("acme-r3", "acme", -23, 8.0)])  # mean (1+3+8)/3 = 4 → 60
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    body = world.call("GET", "/api/v1/clients/acme/explain?compare=1d").json()
    # (3·60 + 80)/4 = 65, against 80 a day before
    assert body["score"] == pytest.approx(65.0)
    assert body["change"]["score_delta"] == pytest.approx(-15.0)


def test_put_client_inserts_then_updates_then_is_unchanged(world: LiveServer) -> None:
    client = {
        "id": "hooli",
        "name": "Hooli",
        "segment": "smb",
        "owner": {"name": "Bob Jones", "email": "bob@example.com"},
    }
    first = world.call("PUT", "/api/v1/clients/hooli", json=client)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "inserted"
    second = world.call("PUT", "/api/v1/clients/hooli", json={**client, "name": "Hooli XYZ"})
    assert second.json()["status"] == "updated"
    third = world.call("PUT", "/api/v1/clients/hooli", json={**client, "name": "Hooli XYZ"})
    assert third.json()["status"] == "unchanged"
    detail = world.call("GET", "/api/v1/clients/hooli").json()
    assert detail["name"] == "Hooli XYZ"
    assert detail["score"] is None  # registered after the last evaluation


def test_a_registered_client_is_scored_by_the_rescore_it_triggers(world: LiveServer) -> None:
    world.store.upsert_signals([reply("hooli-r1", "hooli", 1, 0.0)])  # 0h → 100
    client = {"id": "hooli", "name": "Hooli"}
    world.call("PUT", "/api/v1/clients/hooli", json=client).raise_for_status()
    scored = wait_for(
        lambda: world.call("GET", "/api/v1/clients/hooli").json()["score"] is not None,
        what="the registry change to trigger a re-score",
    )
    assert scored
    assert world.call("GET", "/api/v1/clients/hooli").json()["score"] == pytest.approx(100.0)


def test_put_client_with_a_different_id_in_the_body_is_422(world: LiveServer) -> None:
    response = world.call("PUT", "/api/v1/clients/hooli", json={"id": "other", "name": "X"})
    assert response.status_code == 422
    assert response.json()["reason"] == "id 'other' in the body differs from 'hooli' in the path"


def test_put_clients_in_bulk_counts_and_prunes(world_on_each_store: LiveServer) -> None:
    world = world_on_each_store
    body = {
        "clients": [
            {
                "id": "acme",
                "name": "Acme Corp",
                "segment": "enterprise",
                "owner": {"name": "Alice Smith", "email": "alice@example.com"},
                "attrs": {"tier": "gold"},
            },
            {"id": "hooli", "name": "Hooli"},
        ]
    }
    response = world.call("PUT", "/api/v1/clients?prune=true", json=body)
    assert response.json() == {"inserted": 1, "updated": 0, "unchanged": 1, "removed": 3}
    ids = [c.id for c in world.store.clients()]
    assert ids == ["acme", "hooli"]


def test_put_clients_with_a_repeated_id_is_422(world: LiveServer) -> None:
    body = {"clients": [{"id": "a1", "name": "A"}, {"id": "a1", "name": "B"}]}
    response = world.call("PUT", "/api/v1/clients", json=body)
    assert response.status_code == 422
    assert response.json()["reason"] == "client ids listed more than once: a1"


def test_registry_writes_from_elsewhere_show_at_the_next_evaluation(world: LiveServer) -> None:
    # Reads are served from the last evaluation's registry until this process writes a client;
    # a write by another process (here: straight into the store) shows once re-scored.
    world.store.upsert_clients([Client(id="globex", name="Globex International")])
    assert world.call("GET", "/api/v1/clients/globex").json()["name"] == "Globex"
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    assert world.call("GET", "/api/v1/clients/globex").json()["name"] == "Globex International"
