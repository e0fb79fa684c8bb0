"""A 2xx from ``POST /signals`` means committed: SIGKILL a real ``rapport serve`` right after each
acknowledged batch, restart it on the same store, and every acknowledged signal is there."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from live_api import ServeProcess

from rapport.signals import schema
from rapport.signals.store import Store

ROUNDS = 4
BATCH = 250


def batch(round_no: int) -> list[dict[str, object]]:
    return [
        {"event_id": f"dur-{round_no}-{i}", "client": "acme", "kind": "response_time",
         "ts": "2026-06-30T10:00:00Z", "value": float(i % 24)}
        for i in range(BATCH)
    ]  # fmt: skip


def test_every_acknowledged_signal_survives_sigkill(store_url: str, rules_dir: Path) -> None:
    acknowledged: list[str] = []
    for round_no in range(ROUNDS):
        serve = ServeProcess(store_url, rules_dir)
        try:
            response = serve.call(
                "POST", "/api/v1/signals", json={"signals": batch(round_no)},
                headers={"Idempotency-Key": f"round-{round_no}"},
            )  # fmt: skip
            assert response.status_code == 200, response.text
            serve.kill()  # at once: no shutdown, no flush, no goodbye
        finally:
            serve.stop()
        acknowledged += [a["event_id"] for a in response.json()["accepted"]]
    assert len(acknowledged) == ROUNDS * BATCH

    serve = ServeProcess(store_url, rules_dir)
    try:
        # The restarted server answers a retried request from its idempotency record …
        retry = serve.call("POST", "/api/v1/signals", json={"signals": batch(0)},
                           headers={"Idempotency-Key": "round-0"})  # fmt: skip
        assert retry.headers.get("Idempotent-Replayed") == "true"
        assert len(retry.json()["accepted"]) == BATCH
        # … and the store holds every acknowledged signal.
        with Store.open(store_url) as store, store._engine.connect() as conn:
            stored = set(conn.execute(sa.select(schema.signals.c.event_id)).scalars())
        assert set(acknowledged) <= stored
    finally:
        serve.stop()
