"""How much history a first run reads: ``kind_windows`` over scorecards (pure), handed to the
runner through the bundle, and honoured by the collectors with a start or lookback (Zendesk and
PagerDuty against loopback servers serving a 120-day history)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeapi import NOW, FakeAPI, Reply, Seen, drain, fetch_context

from rapport.api.bundle import load_bundle
from rapport.engine.loader import load_scorecard
from rapport.engine.model import Scorecard
from rapport.signals.collectors.backfill import ALL_HISTORY, kind_windows, window_for
from rapport.signals.collectors.config import check_collectors_text
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.pagerduty import MAX_RANGE, PagerDutyCollector, PagerDutyConfig
from rapport.signals.collectors.zendesk import PATH as ZENDESK_PATH
from rapport.signals.collectors.zendesk import ZendeskCollector, ZendeskConfig

DAY = 86400.0
RULES = Path(__file__).parents[3] / "rules"


def scorecard(components: dict[str, Any], **extra: Any) -> Scorecard:
    return Scorecard.model_validate(
        {
            "version": 1,
            "grades": [{"name": "ok", "min": 0, "color": "green"}],
            "components": components,
            **extra,
        }
    )


def component(signal: str, window: str | None, **extra: Any) -> dict[str, Any]:
    spec = {
        "signal": signal,
        "aggregate": "count",
        "weight": 1,
        "curve": {"linear": {"best": 0, "worst": 9}},
    }
    return {**spec, **({"window": window} if window else {}), **extra}  # fmt: skip


def test_the_shipped_scorecard_reads_these_windows_per_kind() -> None:
    windows = kind_windows(load_scorecard(RULES / "scorecard.yaml"))
    assert windows == {
        "response_time": 44 * DAY,  # 30d, plus the 14 days a value may be carried
        "milestone": 90 * DAY,
        "survey": 180 * DAY,
        "incident": ALL_HISTORY,  # the open_sev1 cap reads all history
    }


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (scorecard({"a": component("incident", "30d")}), {"incident": 30 * DAY}),
        (scorecard({"a": component("incident", None)}), {"incident": ALL_HISTORY}),
        (
            scorecard({"a": component("survey", "30d"), "b": component("survey", "200d")}),
            {"survey": 200 * DAY},
        ),
        (
            scorecard(
                {"a": component("response_time", "30d")},
                segments={"big": {"components": {"a": {"window": "120d"}}}},
            ),
            {"response_time": 120 * DAY},
        ),
        (
            scorecard(
                {"a": component("milestone", "10d")},
                floors=[{"id": "f", "reason": "r", "min": 10, "when": {
                    "signal": "survey", "aggregate": "count", "window": "400d", "above": 1}}],
            ),
            {"milestone": 10 * DAY, "survey": 400 * DAY},
        ),
    ],
    ids=[
        "a component's window is the kind's window",
        "a component without a window reads all history, capped at a year",
        "the longest component of a kind wins",
        "a segment's longer window counts",
        "a floor's inline measurement counts for its own kind",
    ],
)  # fmt: skip
def test_kind_windows(card: Scorecard, expected: dict[str, float]) -> None:
    assert kind_windows(card) == expected


def test_a_collector_needs_the_longest_window_of_its_kinds() -> None:
    windows = {"incident": 30 * DAY, "survey": 90 * DAY}
    assert window_for(("incident", "survey"), windows) == 90 * DAY
    assert window_for(("milestone",), windows) is None


def test_the_bundle_hands_each_collector_what_the_scorecard_reads_for_its_kinds() -> None:
    collectors = load_bundle(RULES).collectors
    assert collectors is not None
    needed = {cid: spec.history_needed for cid, spec in collectors.collectors.items()}
    kinds = {cid: spec.kinds for cid, spec in collectors.collectors.items()}
    windows = kind_windows(load_scorecard(RULES / "scorecard.yaml"))
    assert needed == {cid: max(windows[k] for k in kinds[cid]) for cid in needed}


# --- Zendesk: 97 tickets over 120 days ---------------------------------------------------------


def history(days: int, count: int) -> list[datetime]:
    """``count`` instants spread evenly over the ``days`` before NOW."""
    return [NOW - timedelta(days=days * (i + 0.5) / count) for i in range(count)]


TICKETS = history(120, 97)


def zendesk_export(request: Seen) -> Reply:
    start = int(request.arg("start_time") or 0)
    tickets = [
        {"id": n, "organization_id": 1, "created_at": t.isoformat(), "status": "open"}
        for n, t in enumerate(TICKETS)
        if t.timestamp() >= start
    ]
    metrics = [{"ticket_id": n["id"], "reply_time_in_minutes": {"calendar": 60, "business": 60}}
               for n in tickets]  # fmt: skip
    body = {"tickets": tickets, "metric_sets": metrics, "after_cursor": "c1", "end_of_stream": True}
    return Reply(json=body)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


@pytest.mark.parametrize(
    ("needed", "backfill", "stored"),
    [(None, None, 73), (180 * DAY, None, 97), (180 * DAY, 30 * DAY, 24), (10 * DAY, None, 73)],
    ids=[
        "without a scorecard the 90-day default applies",
        "a scorecard reading 180 days gets the whole 120-day history",
        "an explicit backfill overrides the scorecard",
        "a scorecard reading less keeps the longer default",
    ],
)
def test_a_zendesk_first_run_reads_what_the_scorecard_needs(client, needed, backfill, stored):
    settings = {"email": "pm@acme.test", "token_env": "T"}
    with FakeAPI() as api:
        api.add(ZENDESK_PATH, zendesk_export)
        run = fetch_context(client, [("1", "acme")], "zendesk_organization_id", {"T": "t"})
        run.context.history_needed, run.context.backfill = needed, backfill
        found = ZendeskConfig.model_validate({**settings, "base_url": api.url})
        signals, _ = drain(ZendeskCollector(found), None, run.context)
    assert len(signals) == stored


# --- PagerDuty: 42 incidents over 120 days, and a year in six-month windows --------------------


INCIDENTS = [*history(120, 42), NOW - timedelta(days=300)]  # and one 300 days old


def incident_list(request: Seen) -> Reply:
    since = datetime.fromisoformat(request.arg("since") or "")
    until = datetime.fromisoformat(request.arg("until") or "")
    assert until - since <= timedelta(days=180), "PagerDuty refuses windows over six months"
    found = [
        {"id": f"P{n}", "created_at": t.astimezone(UTC).isoformat().replace("+00:00", "Z"),
         "status": "resolved", "urgency": "high", "service": {"id": "S1", "summary": "API"},
         "resolved_at": t.astimezone(UTC).isoformat().replace("+00:00", "Z")}
        for n, t in enumerate(INCIDENTS) if since <= t <= until
    ]  # fmt: skip
    return Reply(json={"incidents": found, "limit": 100, "offset": 0, "more": False})


@pytest.mark.parametrize(
    ("needed", "stored", "windows"),
    [(None, 11, 1), (ALL_HISTORY, 43, 3)],
    ids=[
        "without a scorecard the 30-day lookback applies",
        "a scorecard reading all history gets a year, in six-month windows",
    ],
)
def test_a_pagerduty_first_run_reads_what_the_scorecard_needs(client, needed, stored, windows):
    with FakeAPI() as api:
        api.add("/incidents", incident_list)
        run = fetch_context(client, [("S1", "acme")], "pagerduty_service", {"T": "t"})
        run.context.history_needed = needed
        config = PagerDutyConfig.model_validate({"base_url": api.url, "token_env": "T"})
        signals, cursor = drain(PagerDutyCollector(config), None, run.context)
        seen = api.seen("/incidents")
    assert len({s.event_id for s in signals}) == stored
    assert len(seen) == windows
    assert seen[-1].arg("until") == NOW.isoformat() and cursor == {"next_since": NOW.isoformat()}
    assert all(
        datetime.fromisoformat(s.arg("until") or "") - datetime.fromisoformat(s.arg("since") or "")
        <= MAX_RANGE
        for s in seen
    )


def test_backfill_is_a_per_collector_duration_and_the_scorecard_need_is_added_by_kind(
    tmp_path: Path,
) -> None:
    text = (
        "version: 1\ncollectors:\n"
        "  pager:\n    type: pagerduty\n    base_url: https://api.pagerduty.com\n"
        "    token_env: T\n    backfill: 400d\n"
        "  helpdesk:\n    type: zendesk\n    base_url: https://acme.zendesk.com\n"
        "    email: pm@acme.test\n    token_env: T\n"
    )
    config, found = check_collectors_text(text, str(tmp_path / "collectors.yaml"))
    assert found == [] and config is not None
    assert config.collectors["pager"].backfill == 400 * DAY
    needed = config.with_backfill({"incident": ALL_HISTORY, "response_time": 44 * DAY})
    assert needed.collectors["pager"].history_needed == ALL_HISTORY
    assert needed.collectors["helpdesk"].history_needed == 44 * DAY
    assert needed.collectors["helpdesk"].backfill is None
