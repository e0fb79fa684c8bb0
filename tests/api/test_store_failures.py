"""A database failure behind an endpoint that used to reach the database itself is a 503 with
the store's reason, never a 500."""

from __future__ import annotations

from collections.abc import Callable

from live_api import ServerFactory, seed_world

DropTable = Callable[[str], None]  # the conftest fixture drop_table


def test_a_broken_idempotency_table_is_a_503_with_the_stores_reason(
    serve_api: ServerFactory, store_url: str, drop_table: DropTable
) -> None:
    server = serve_api(url=store_url)
    seed_world(server)
    drop_table("idempotency_keys")
    signal = {
        "event_id": "k-1",
        "client": "acme",
        "kind": "response_time",
        "ts": "2026-06-30T10:00:00Z",
        "value": 2.0,
        "channel": "email",
    }
    answer = server.call(
        "POST", "/api/v1/signals", json={"signals": [signal]}, headers={"Idempotency-Key": "k"}
    )
    assert answer.status_code == 503
    reason = answer.json()["reason"]
    assert reason.startswith("Cannot write to the store at ")  # reserving the key is a write
    assert "idempotency_keys" in reason
