"""``POST /api/v1/signals`` and outcome types: built-in and declared types are stored, any other
is rejected with its reason, as an undeclared custom kind is (a typo, mostly: stored, it would
never be read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from live_api import ServerFactory


def outcome(event_id: str, kind: str) -> dict[str, Any]:
    return {"event_id": event_id, "client": "acme", "kind": "outcome",
            "ts": "2026-06-30T00:00:00Z", "type": kind}  # fmt: skip


def test_an_outcome_type_neither_built_in_nor_declared_is_rejected(
    serve_api: ServerFactory, rules_dir: Path
) -> None:
    scorecard = rules_dir / "scorecard.yaml"
    text = scorecard.read_text()
    scorecard.write_text(text.replace("signals:\n", "signals:\n  outcome: {types: [downsell]}\n"))
    server = serve_api()
    batch = [outcome("o-1", "churned"), outcome("o-2", "downsell"), outcome("o-3", "downsel"),
             outcome("o-4", "upsell")]  # fmt: skip
    response = server.call("POST", "/api/v1/signals", token="ingest-token", json={"signals": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [a["event_id"] for a in body["accepted"]] == ["o-1", "o-2"]
    assert {r["event_id"]: r["reason"] for r in body["rejected"]} == {
        "o-3": "type: unknown outcome type 'downsel' (did you mean 'downsell'? or declare it "
        "under signals: outcome: {types: [downsel]} in the scorecard)",
        "o-4": "type: unknown outcome type 'upsell' (known: renewed, churned, escalated, "
        "downsell; declare it under signals: outcome: {types: [upsell]} in the scorecard)",
    }


def test_without_declared_types_only_the_built_in_ones_are_taken(serve_api: ServerFactory) -> None:
    server = serve_api()
    batch = [outcome("o-1", "escalated"), outcome("o-2", "downsell")]
    body = server.call(
        "POST", "/api/v1/signals", token="ingest-token", json={"signals": batch}
    ).json()
    assert [a["event_id"] for a in body["accepted"]] == ["o-1"]
    assert [r["event_id"] for r in body["rejected"]] == ["o-2"]
