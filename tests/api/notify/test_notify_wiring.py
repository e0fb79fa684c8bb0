"""The wiring end to end, over real parts: a live service (uvicorn on loopback) evaluates, its
alert rules fire, the notice is routed to the client's owner, enqueued once and delivered by the
background sender to a real SMTP server (aiosmtpd); a restart resends nothing; the clear sends
the resolved email. The emails are parsed (MIME), not string-matched whole."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from live_api import Clock, LiveServer, ServerFactory, T, reply, seed_world, wait_for
from smtp_server import Recorder

from rapport.signals import outbox

ALERTS = """version: 1
recipients:
  director: {name: Dana Director, email: dana@example.com}
routes:
  - {severity: critical, to: [director]}
rules:
  at_risk:
    when: {score: {below: 50}}
    clear: {score: {at_least: 55}}
    severity: critical
"""

WEEK = timedelta(days=7)


def _to(recorder: Recorder, address: str, client: str = "Acme Corp") -> list[EmailMessage]:
    return [m for m in recorder.parsed() if m["To"].addresses[0].addr_spec == address
            and client in str(m["Subject"])]  # fmt: skip


def _drop_acme(server: LiveServer, clock: Clock) -> None:
    """A week on, acme's only reply in the window took 8 hours: 100 - 80 = 20 points, so
    (3 x 20 + 80) / 4 = 35, at_risk (it was 80, healthy)."""
    clock.now = T + WEEK
    server.store.upsert_signals([reply("acme-slow", "acme", -WEEK.days * 24 + 1, 8.0)])
    server.service.evaluator.evaluate_now()


@pytest.fixture
def alerting(
    serve_api: ServerFactory, rules_dir: Path, smtp: Recorder
) -> tuple[ServerFactory, Clock]:
    (rules_dir / "alerts.yaml").write_text(ALERTS, encoding="utf-8")
    clock = Clock()

    def start() -> LiveServer:
        return serve_api(clock=clock, smtp_url=f"smtp://127.0.0.1:{smtp.port}")

    return start, clock


def test_a_drop_emails_the_owner_once_a_restart_resends_nothing_and_the_clear_resolves(
    alerting: tuple[ServerFactory, Clock], smtp: Recorder, sqlite_url: str
) -> None:
    start, clock = alerting
    server = start()
    seed_world(server)  # acme 80 (healthy); globex 40 fires for Bob at once
    wait_for(lambda: _to(smtp, "bob@example.com", "Globex"), what="Globex's email to Bob")
    assert not _to(smtp, "alice@example.com")

    _drop_acme(server, clock)
    (fired,) = wait_for(lambda: _to(smtp, "alice@example.com"), what="Acme's email to Alice")
    assert str(fired["Subject"]) == "[Rapport] Acme Corp: 80 → 35 (at risk)"
    text = fired.get_body(("plain",))
    assert text is not None and "Alice Smith" in text.get_content()
    assert fired.get_body(("html",)) is not None
    # Routed: the rule is critical, so the director gets a copy too.
    assert len(wait_for(lambda: _to(smtp, "dana@example.com"), what="the director's copy")) == 1

    server.service.evaluator.evaluate_now()  # the same alert, evaluated again: nothing new
    sent_before = len(smtp.messages)
    server.service.stop()

    again = start()  # a restart on the same store: its first evaluation resumes the states
    assert again.service.notifications is not None
    assert again.service.notifications.deliver_due(clock()).sent == 0
    assert len(smtp.messages) == sent_before
    assert outbox.counts(again.store)["pending"] == 0

    clock.now = T + WEEK + timedelta(hours=1)
    quick = [reply(f"acme-quick-{i}", "acme", -WEEK.days * 24 - 0.5, 0.0) for i in range(5)]
    again.store.upsert_signals(quick)  # mean reply (8 + 0 x 5) / 6 h: back above 55
    again.service.evaluator.evaluate_now()
    resolved = wait_for(
        lambda: [m for m in _to(smtp, "alice@example.com") if "Resolved" in str(m["Subject"])],
        what="the resolved email",
    )
    assert len(resolved) == 1
    assert len(_to(smtp, "alice@example.com")) == 2


def test_the_outbox_endpoint_shows_an_owner_only_their_clients(
    alerting: tuple[ServerFactory, Clock], smtp: Recorder
) -> None:
    start, clock = alerting
    server = start()
    seed_world(server)
    _drop_acme(server, clock)
    wait_for(lambda: _to(smtp, "alice@example.com"), what="Acme's email to Alice")
    every = server.call("GET", "/api/v1/outbox").json()
    assert {e["client"] for e in every["entries"]} == {"acme", "globex"}
    assert every["counts"]["pending"] + every["counts"]["sent"] == len(every["entries"])
    own = server.call("GET", "/api/v1/outbox", token="alice-token").json()
    assert {e["client"] for e in own["entries"]} == {"acme"} and "counts" not in own
    assert server.call("GET", "/api/v1/outbox", token="read-token").status_code == 403


def test_metrics_show_the_outbox_and_what_was_sent(
    alerting: tuple[ServerFactory, Clock], smtp: Recorder
) -> None:
    start, _ = alerting
    server = start()
    seed_world(server)
    wait_for(lambda: _to(smtp, "dana@example.com", "Globex"), what="the director's copy")

    def scraped() -> str | None:
        text = server.call("GET", "/metrics").text
        sent = 'rapport_notifications_sent_total{channel="smtp",result="sent"} 2.0'  # Bob, Dana
        return text if sent in text else None

    text = wait_for(scraped, what="the sent counter")
    assert "rapport_outbox_pending 0.0" in text and "rapport_outbox_failed 0.0" in text
    assert 'rapport_alerts_firing{rule="at_risk",severity="critical"} 1.0' in text
