"""explain end to end, through ``rapport explain`` and ``GET /clients/{id}/explain``: the events
behind each component and the cap, and the comparison with the stored scores 7 and 30 days before.

One client, a scorecard whose points are easy to work out, and a history stored by scoring at
T−7d and T−30d. The arithmetic:

As of T (2026-06-30 00:00 UTC), each component weighs 1/3:
- responsiveness: p90 of the six replies [2, 2, 2, 10, 20, 30] = 20 + 0.5·10 = 25 h → 75 points;
- delivery: Go-live (due T−5d, open) and Phase 1 (due T−20d, delivered T−17d) missed, Kickoff on
  time: 2/3 missed → 33.3 points;
- satisfaction: the latest answer, NPS 6 at T−20d → 60 points;
- (75 + 33.3 + 60) / 3 = 56.1, capped at 40 by the open sev1 i-9 → 40, at_risk.
As of T−7d: replies [2, 2, 2] → p90 2 → 98; Go-live is not due yet, Phase 1 missed, Kickoff on
time → 1/2 → 50; NPS 6 → 60; no sev1 yet: (98 + 50 + 60) / 3 = 69.3, watch.
As of T−30d: no reply yet (responsiveness skipped); Kickoff only, on time → 100; the latest answer
is NPS 9 at T−45d → 90: (100 + 90) / 2 = 95, healthy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from live_api import Clock, LiveServer, ServerFactory
from typer.testing import CliRunner

from rapport.api.cli import app
from rapport.api.pipeline import evaluate_store
from rapport.signals.model import Client, StoredSignal
from rapport.signals.store import Store

T = datetime(2026, 6, 30, tzinfo=UTC)

SCORECARD = """\
version: 1
name: explain-tests
scale: {min: 0, max: 100}
grades:
  - {name: healthy, min: 75, color: "#2e7d32"}
  - {name: watch, min: 50, color: "#f9a825"}
  - {name: at_risk, min: 0, color: "#c62828"}
components:
  responsiveness:
    signal: response_time
    aggregate: p90
    window: 30d
    weight: 1
    curve: {linear: {best: 0, worst: 100}}
  delivery:
    signal: milestone
    aggregate: ratio
    numerator: {missed: true}
    window: 90d
    weight: 1
    curve: {linear: {best: 0, worst: 1}}
  satisfaction:
    signal: survey
    measure: normalized
    aggregate: latest
    window: 180d
    weight: 1
    curve: {linear: {best: 100, worst: 0}}
caps:
  - id: open_sev1
    reason: A sev1 incident is open.
    when: {signal: incident, where: {severity: sev1, open: true}, aggregate: count, above: 0}
    max: 40
"""
CLIENTS = """\
version: 1
clients:
  - {id: acme, name: Acme Corp}
"""


def days(n: float) -> datetime:
    return T - timedelta(days=n)


def signal(event_id: str, kind: str, ts: datetime, **fields: Any) -> StoredSignal:
    """A signal known from its ``ts`` (recorded then), so the stored history at T−7d and T−30d
    sees what was there to see."""
    return StoredSignal(
        event_id=event_id, client="acme", kind=kind, ts=ts, recorded_at=ts, **fields
    )


def acme_signals() -> list[StoredSignal]:
    replies = [(1, 10.0), (2, 20.0), (3, 30.0), (12, 2.0), (13, 2.0), (14, 2.0)]
    return [
        *(
            signal(f"r-{n}", "response_time", days(n), value=v, attrs={"channel": "email"})
            for n, v in replies
        ),
        signal("m-golive", "milestone", days(5), attrs={"name": "Go-live"}),
        signal("m-phase1", "milestone", days(20), end=days(17), attrs={"name": "Phase 1"}),
        signal("m-kickoff", "milestone", days(40), end=days(41), attrs={"name": "Kickoff"}),
        signal("s-old", "survey", days(45), value=9.0, attrs={"scale": "nps"}),
        signal("s-new", "survey", days(20), value=6.0, attrs={"scale": "nps"}),
        signal("i-9", "incident", days(2), attrs={"severity": "sev1", "service": "payments"}),
    ]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The rules of this module (overrides the API tests' shared ones)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "scorecard.yaml").write_text(SCORECARD, encoding="utf-8")
    (rules / "clients.yaml").write_text(CLIENTS, encoding="utf-8")
    return rules


EXPECTED_EVIDENCE = [
    "  open_sev1 (cap at 40): set the score\n"
    "      A sev1 incident is open.\n"
    "      - i-9: sev1 on payments, opened 2026-06-28 00:00 UTC, still open (48.0 h)",
    "      - m-golive: 'Go-live' due 2026-06-25 00:00 UTC, still open: 5.0 days late\n"
    "      - m-phase1: 'Phase 1' due 2026-06-10 00:00 UTC, delivered 2026-06-13 00:00 UTC: "
    "3.0 days late\n",
    "      - r-3: 30.0 h to our first reply by email to a message at 2026-06-27 00:00 UTC\n"
    "      - r-2: 20.0 h to our first reply by email to a message at 2026-06-28 00:00 UTC\n"
    "      - r-1: 10.0 h to our first reply by email to a message at 2026-06-29 00:00 UTC\n",
    "      - s-new: answered 6 on the nps scale at 2026-06-10 00:00 UTC\n"
    "      - s-old: answered 9 on the nps scale at 2026-05-16 00:00 UTC\n",
]
# Movers by contribution (each component 1/3 of the score where it has points).
EXPECTED_COMPARISONS = (
    "7 days before (stored 2026-06-23 00:00 UTC): 69.3 -> 40.0 (-29.3), grade watch -> at_risk\n"
    "  responsiveness  -7.7 (32.7 -> 25.0; points 98.0 -> 75.0)\n"
    "  delivery        -5.6 (16.7 -> 11.1; points 50.0 -> 33.3)\n"
    "  open_sev1 now holds (it did not then)\n"
    "30 days before (stored 2026-05-31 00:00 UTC): 95.0 -> 40.0 (-55.0), grade healthy -> at_risk\n"
    "  delivery        -38.9 (50.0 -> 11.1; points 100.0 -> 33.3)\n"
    "  responsiveness  +25.0 (0.0 -> 25.0; points none -> 75.0)\n"
    "  satisfaction    -25.0 (45.0 -> 20.0; points 90.0 -> 60.0)\n"
    "  open_sev1 now holds (it did not then)"
)


# --- rapport explain ------------------------------------------------------------------------


@pytest.fixture
def cli(rules_dir: Path, tmp_path: Path) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'rapport.db'}"
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, ["--database-url", url, "--rules-dir", str(rules_dir), *args])

    store = Store.open(url)
    try:
        store.upsert_clients([Client(id="acme", name="Acme Corp")])
        store.upsert_signals(acme_signals())
    finally:
        store.close()
    yield invoke


def test_cli_explain_names_the_events_and_the_movers_since_7_and_30_days(cli: Any) -> None:
    for when in (days(30), days(7)):
        assert cli("score", "--as-of", when.isoformat()).exit_code == 0
    result = cli("explain", "acme", "--as-of", T.isoformat())
    assert result.exit_code == 0, result.output
    assert result.output.startswith("acme: 40.0 (at_risk) as of 2026-06-30 00:00 UTC")
    for block in EXPECTED_EVIDENCE:
        assert block in result.output
    assert "      ... and 1 more\n" in result.output  # five listed: 30, 20, 10, 2, 2; one 2 left
    assert EXPECTED_COMPARISONS in result.output


def test_cli_explain_says_when_history_does_not_reach_back_that_far(cli: Any) -> None:
    assert cli("score", "--as-of", days(30).isoformat()).exit_code == 0
    # As of T−20d: 7 days before is T−27d, which the T−30d score is at least; 30 days before
    # is T−50d, before any stored score.
    result = cli("explain", "acme", "--as-of", days(20).isoformat())
    assert result.exit_code == 0, result.output
    assert "7 days before (stored 2026-05-31 00:00 UTC): 95.0 -> " in result.output
    assert "30 days before: no stored score at or before 2026-05-11 00:00 UTC" in result.output


# --- GET /api/v1/clients/{id}/explain ---------------------------------------------------------


@pytest.fixture
def server(serve_api: ServerFactory) -> LiveServer:
    server = serve_api(clock=Clock(T))
    server.store.upsert_clients([Client(id="acme", name="Acme Corp")])
    server.store.upsert_signals(acme_signals())
    ruleset = server.service.rules.current().ruleset  # type: ignore[attr-defined]
    for when in (days(30), days(7)):
        evaluate_store(server.store, ruleset, when)
    server.service.evaluator.evaluate_now()  # type: ignore[attr-defined]
    return server


def test_api_explain_json_has_evidence_per_component_and_limit(server: LiveServer) -> None:
    body = server.call("GET", "/api/v1/clients/acme/explain").json()
    assert body["score"] == pytest.approx(40.0)
    (cap,) = body["limits"]
    assert cap["evidence"]["events"] == [
        {
            "event_id": "i-9",
            "kind": "incident",
            "ts": "2026-06-28T00:00:00Z",
            "end": None,
            "value": pytest.approx(48.0),
            "attrs": {"service": "payments", "severity": "sev1"},
            "why": "sev1 on payments, opened 2026-06-28 00:00 UTC, still open (48.0 h)",
        }
    ]
    parts = {c["id"]: c for c in body["components"]}
    delivery = parts["delivery"]["evidence"]
    assert [(e["event_id"], e["value"]) for e in delivery["events"]] == [
        ("m-golive", pytest.approx(5.0)),
        ("m-phase1", pytest.approx(3.0)),
    ]
    replies = parts["responsiveness"]["evidence"]
    assert [e["event_id"] for e in replies["events"]] == ["r-3", "r-2", "r-1", "r-12", "r-13"]
    assert replies["more"] == 1
    surveys = parts["satisfaction"]["evidence"]
    assert [e["event_id"] for e in surveys["events"]] == ["s-new", "s-old"]


def test_api_explain_compares_with_7_and_30_days_before(server: LiveServer) -> None:
    body = server.call("GET", "/api/v1/clients/acme/explain").json()
    week, month = body["comparisons"]
    assert (week["span"], month["span"]) == ("7d", "30d")
    assert week["change"]["previous_as_of"] == "2026-06-23T00:00:00Z"
    assert week["change"]["score_delta"] == pytest.approx(40.0 - 208 / 3)
    assert week["change"]["previous_grade"] == "watch"
    assert [m["id"] for m in week["change"]["movers"]] == ["responsiveness", "delivery"]
    assert week["change"]["limits_added"] == ["open_sev1"]  # i-9 opened after T−7d
    assert week["change"]["limits_removed"] == []
    assert month["change"]["score_delta"] == pytest.approx(-55.0)
    assert [m["id"] for m in month["change"]["movers"]] == [
        "delivery",
        "responsiveness",
        "satisfaction",
    ]
    assert month["change"]["movers"][0]["points_before"] == pytest.approx(100.0)
    # `change` stays the 7-day comparison unless `compare` asks for another.
    assert body["change"] == week["change"]
    text = server.call("GET", "/api/v1/clients/acme/explain?format=text").text
    assert EXPECTED_COMPARISONS in text
    for block in EXPECTED_EVIDENCE:
        assert block in text


def test_api_explain_compare_adds_its_own_comparison(server: LiveServer) -> None:
    body = server.call("GET", "/api/v1/clients/acme/explain?compare=10d").json()
    assert [c["span"] for c in body["comparisons"]] == ["7d", "30d", "10d"]
    # At least 10 days before T: the T−30d score.
    assert body["change"]["previous_as_of"] == "2026-05-31T00:00:00Z"
    assert body["comparisons"][2]["change"] == body["change"]
