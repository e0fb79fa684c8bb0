"""Alerts in the running service, over real HTTP: every evaluation persists alert states and
notices, silences are kept in the store (and still mute after a restart), the gauges, and the
access matrix of the alerts and silences endpoints for owner-restricted tokens."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from live_api import LiveServer, ServerFactory, seed_world

from rapport.signals.alerts import alert_history, list_silences, load_states

ALERTS = """version: 1
rules:
  scored:
    when: {score: {below: 101}}
    clear: {score: {at_least: 101}}
    severity: critical
"""


@pytest.fixture
def alerting(serve_api: ServerFactory, rules_dir: Path) -> LiveServer:
    (rules_dir / "alerts.yaml").write_text(ALERTS, encoding="utf-8")
    server = serve_api()
    seed_world(server)
    return server


def _firing(server: LiveServer, token: str = "admin-token") -> set[str]:
    body = server.call("GET", "/api/v1/alerts", token=token).json()
    return {a["client"] for a in body["alerts"] if a["state"] == "firing"}


def test_an_evaluation_persists_firing_alerts_and_their_notices(alerting: LiveServer) -> None:
    states = load_states(alerting.store)
    assert {s.client for s in states} == {"acme", "globex", "initech"} == _firing(alerting)
    notices = alert_history(alerting.store)
    assert sorted((t.client, t.kind) for t in notices) == [
        ("acme", "firing"), ("globex", "firing"), ("initech", "firing"),
    ]  # fmt: skip
    alerting.service.evaluator.evaluate_now()  # a second evaluation: no new notice
    assert len(alert_history(alerting.store)) == 3


def test_the_gauges_count_firing_alerts_by_rule_and_severity(alerting: LiveServer) -> None:
    text = alerting.call("GET", "/metrics").text
    assert 'rapport_alerts_firing{rule="scored",severity="critical"} 3.0' in text
    assert 'rapport_alerts_pending{rule="scored",severity="critical"} 0.0' in text


def _silence(server: LiveServer, token: str, **body: Any) -> Any:
    payload = {"duration": "7d", "reason": "on holiday", **body}
    return server.call("POST", "/api/v1/silences", token=token, json=payload)


ACCESS: list[Any] = [
    ("alice-token", {"client": "acme"}, 201, "PM A silences her own client"),
    ("alice-token", {"client": "globex"}, 404, "PM A cannot silence PM B's client"),
    ("alice-token", {"rule": "scored"}, 403, "PM A cannot silence a rule for every client"),
    ("bob-token", {"client": "globex"}, 403, "PM B lacks admin: no silences"),
    ("read-token", {"client": "acme"}, 403, "a read token cannot silence"),
    ("admin-token", {"rule": "scored"}, 201, "an admin silences a rule for everyone"),
    ("admin-token", {}, 422, "a silence selecting nothing is refused"),
    ("admin-token", {"client": "acme", "duration": "soon"}, 422, "a bad duration is refused"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("token", "body", "status"), [pytest.param(*c[:3], id=c[3]) for c in ACCESS]
)
def test_silence_access(alerting: LiveServer, token: str, body: Any, status: int) -> None:
    response = _silence(alerting, token, **body)
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["author"] == token.removesuffix("-token")


def test_owner_tokens_see_only_their_clients_alerts_history_and_silences(
    alerting: LiveServer,
) -> None:
    assert _silence(alerting, "admin-token", client="globex").status_code == 201
    assert _firing(alerting, "alice-token") == {"acme", "initech"}  # both are Alice's
    history = alerting.call("GET", "/api/v1/alerts/history", token="alice-token").json()
    assert {t["client"] for t in history["history"]} == {"acme", "initech"}
    other = alerting.call("GET", "/api/v1/alerts/history?client=globex", token="alice-token")
    assert other.status_code == 404
    assert alerting.call("GET", "/api/v1/silences", token="alice-token").json()["silences"] == []
    sid = list_silences(alerting.store)[0].id
    assert (
        alerting.call("DELETE", f"/api/v1/silences/{sid}", token="alice-token").status_code == 404
    )
    assert alerting.call("DELETE", f"/api/v1/silences/{sid}").status_code == 200
    assert list_silences(alerting.store, active_at=alerting.clock()) == []


def test_a_silence_still_mutes_after_a_restart_and_its_expiry_notifies_at_once(
    serve_api: ServerFactory, rules_dir: Path
) -> None:
    (rules_dir / "alerts.yaml").write_text(ALERTS + "    repeat_every: 1h\n", encoding="utf-8")
    first = serve_api()
    seed_world(first)  # acme fires at T, announced
    assert _silence(first, "admin-token", client="acme", duration="2h").status_code == 201
    first.service.stop()
    second = serve_api(clock=first.clock)  # a new process over the same store
    assert [s.client for s in list_silences(second.store)] == ["acme"]
    second.clock.now += timedelta(hours=1.5)  # a repeat is due, but acme is silenced
    second.service.evaluator.evaluate_now()
    assert [t.kind for t in alert_history(second.store, client="acme")] == ["firing"]
    assert [t.kind for t in alert_history(second.store, client="globex")] == ["repeat", "firing"]
    second.clock.now += timedelta(minutes=45)  # the silence ended 15 minutes ago
    second.service.evaluator.evaluate_now()
    kinds = [(t.kind, t.silenced) for t in alert_history(second.store, client="acme")]
    assert kinds == [("repeat", False), ("firing", False)]
