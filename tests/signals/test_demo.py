"""signals.demo: deterministic, realistic, and graded by the shipped scorecard as profiled."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from rapport.engine.frame import ClientSet
from rapport.engine.loader import load_scorecard
from rapport.engine.model import BUILTIN_KINDS
from rapport.engine.result import ClientScore
from rapport.engine.scoring import evaluate
from rapport.signals.demo import (
    DETERIORATING,
    PROFILES,
    demo_clients,
    demo_signals,
    render_clients_yaml,
)
from rapport.signals.frames import build_signal_set
from rapport.signals.model import Client, StoredSignal, parse_signal
from rapport.signals.registry import load_clients_file

RULES = Path(__file__).resolve().parents[2] / "rules"
END = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


@cache
def clients() -> tuple[Client, ...]:
    return tuple(demo_clients())


@cache
def signals(seed: int = 7) -> tuple[StoredSignal, ...]:
    return tuple(demo_signals(clients(), end=END, seed=seed))


@cache
def scores() -> dict[str, ClientScore]:
    """The demo scored by the shipped scorecard as of the demo's end."""
    scorecard = load_scorecard(RULES / "scorecard.yaml")
    listed = clients()
    client_set = ClientSet.of([c.id for c in listed], [c.segment for c in listed])
    evaluation = evaluate(
        scorecard, client_set, build_signal_set(client_set, signals()), END, "demo"
    )
    return {record.client: record for record in evaluation.records()}


def with_profile(profile: str) -> list[Client]:
    return [c for c in clients() if c.attrs["demo_profile"] == profile]


# --- clients --------------------------------------------------------------------------------------


def test_there_are_about_sixty_clients_with_unique_ids() -> None:
    ids = [c.id for c in clients()]
    assert len(ids) == 60
    assert len(set(ids)) == 60


def test_clients_span_three_segments_and_every_profile() -> None:
    assert set(Counter(c.segment for c in clients())) == {"enterprise", "midmarket", "smb"}
    profiles = Counter(c.attrs["demo_profile"] for c in clients())
    assert set(profiles) == set(PROFILES)
    # Most clients are healthy; each other profile is a handful.
    assert profiles["healthy"] >= 45
    assert all(1 <= profiles[p] <= 3 for p in PROFILES if p != "healthy")


def test_five_or_six_owners_at_example_com_in_english_or_chinese() -> None:
    owners = {c.owner for c in clients() if c.owner is not None}
    assert len(owners) in (5, 6)
    assert all(o.email.endswith("@example.com") for o in owners)
    assert {o.locale for o in owners} == {"en", "zh-CN"}


def test_the_shipped_clients_file_is_the_demo_clients() -> None:
    assert load_clients_file(RULES / "clients.yaml") == list(clients())


def test_the_shipped_clients_file_is_exactly_what_render_writes() -> None:
    # Regenerate with: render_clients_yaml(demo_clients()) written to rules/clients.yaml.
    text = (RULES / "clients.yaml").read_text(encoding="utf-8")
    assert text == render_clients_yaml(clients())
    assert text.startswith("# yaml-language-server: $schema=.schema/clients.json\n# Demo clients")
    assert "replace them with your own" in text


# --- signals --------------------------------------------------------------------------------------


def test_same_inputs_give_identical_signals() -> None:
    assert demo_signals(clients(), end=END, seed=7) == list(signals())


def test_another_seed_gives_other_signals() -> None:
    assert demo_signals(clients(), end=END, seed=8) != list(signals())


def test_a_clients_signals_do_not_depend_on_the_other_clients() -> None:
    one = clients()[5]
    alone = demo_signals([one], end=END)
    assert alone == [s for s in signals() if s.client == one.id]


def test_moving_the_end_shifts_every_time_and_nothing_else() -> None:
    later = demo_signals(clients(), end=END + timedelta(days=3))
    shift = timedelta(days=3)
    moved = [
        replace(
            s,
            ts=s.ts + shift,
            end=s.end + shift if s.end else None,
            recorded_at=s.recorded_at + shift if s.recorded_at else None,
        )
        for s in signals()
    ]
    assert later == moved


def test_a_few_thousand_signals_of_every_built_in_kind() -> None:
    kinds = Counter(s.kind for s in signals())
    assert set(kinds) == set(BUILTIN_KINDS)
    assert 3000 <= sum(kinds.values()) <= 10000


def test_nothing_is_dated_after_the_end_or_before_the_days() -> None:
    start = END - timedelta(days=180)
    assert all(start < s.ts <= END for s in signals())
    assert all(s.end is None or s.end <= END for s in signals())


def test_event_ids_are_unique_and_follow_the_pattern() -> None:
    ids = [s.event_id for s in signals()]
    assert len(set(ids)) == len(ids)
    assert all(
        i == f"demo:{s.client}:{s.kind}:{i.rsplit(':', 1)[1]}"
        for i, s in zip(ids, signals(), strict=True)
    )
    assert "demo:northwind-logistics:milestone:1" in ids


def test_every_signal_is_valid_input_for_the_import_api() -> None:
    # The stored rows must be reachable through the public signal shapes too.
    for s in signals()[:400]:
        assert s.source == "demo"
        if s.kind == "survey":
            parse_signal(
                {
                    "event_id": s.event_id,
                    "client": s.client,
                    "kind": "survey",
                    "ts": s.ts,
                    "value": s.value,
                    **s.attrs,
                }
            )
        if s.kind == "incident":
            parse_signal(
                {
                    "event_id": s.event_id,
                    "client": s.client,
                    "kind": "incident",
                    "opened_at": s.ts,
                    "resolved_at": s.end,
                    **s.attrs,
                }
            )


def test_the_storm_has_an_open_sev1_and_the_sparse_clients_have_little_data() -> None:
    for client in with_profile("incident_storm"):
        mine = [s for s in signals() if s.client == client.id and s.kind == "incident"]
        assert any(s.attrs["severity"] == "sev1" and s.end is None for s in mine)
    (sparse,) = with_profile("sparse")
    scored = [s for s in signals() if s.kind != "outcome"]  # outcomes are no data to score
    assert Counter(s.kind for s in scored if s.client == sparse.id) == {
        "response_time": 4,
        "survey": 1,
    }
    (dormant,) = with_profile("dormant")
    kept = [s for s in scored if s.client == dormant.id]
    assert {s.kind for s in kept} == {"response_time", "milestone"}
    assert all(s.ts < END - timedelta(days=90) for s in kept if s.kind == "milestone")


# --- scored by the shipped scorecard --------------------------------------------------------------


def test_healthy_clients_are_graded_healthy() -> None:
    graded = {c.id: scores()[c.id].grade for c in with_profile("healthy")}
    assert set(graded.values()) == {"healthy"}, graded


@pytest.mark.parametrize("profile", DETERIORATING, ids=lambda p: f"{p} is graded watch or at_risk")
def test_each_deteriorating_profile_is_graded_below_healthy(profile: str) -> None:
    graded = {c.id: scores()[c.id].grade for c in with_profile(profile)}
    assert graded and set(graded.values()) <= {"watch", "at_risk"}, graded


@pytest.mark.parametrize(
    ("profile", "component", "points_below"),
    [
        pytest.param(
            "slipping_responsiveness", "responsiveness", 20, id="slow replies empty responsiveness"
        ),
        pytest.param(
            "slipping_delivery",
            "delivery_on_time",
            1,
            id="missed milestones empty on-time delivery",
        ),
        pytest.param(
            "falling_satisfaction", "satisfaction", 1, id="a falling NPS empties satisfaction"
        ),
        pytest.param(
            "falling_satisfaction", "satisfaction_trend", 40, id="and its trend points down"
        ),
        pytest.param("incident_storm", "stability", 1, id="an incident storm empties stability"),
    ],
)
def test_each_profile_deteriorates_in_its_own_component(
    profile: str, component: str, points_below: float
) -> None:
    for client in with_profile(profile):
        points = scores()[client.id].components[component].points
        assert points is not None and points < points_below, (client.id, points)


def test_the_storm_clients_are_capped_by_the_open_sev1() -> None:
    for client in with_profile("incident_storm"):
        record = scores()[client.id]
        assert [lim.id for lim in record.limits] == ["open_sev1"]
        assert record.score == 40


def test_slipping_delivery_is_capped_for_missing_most_milestones() -> None:
    for client in with_profile("slipping_delivery"):
        assert "missed_majority" in [lim.id for lim in scores()[client.id].limits]


def test_sparse_data_shows_the_missing_data_policies() -> None:
    (sparse,) = with_profile("sparse")
    (dormant,) = with_profile("dormant")
    carried = scores()[sparse.id].components
    assert carried["responsiveness"].status == "stale"  # carried from 12 days ago
    assert carried["delivery_on_time"].status == "missing"  # neutral 70
    assert carried["delivery_on_time"].points == 70
    assert carried["satisfaction_trend"].points is None  # one survey: skipped
    skipped = scores()[dormant.id].components
    assert skipped["responsiveness"].status == "missing"  # 20 days old: beyond the carry
    assert skipped["responsiveness"].points is None
    assert skipped["satisfaction"].points is None


# --- outcomes -------------------------------------------------------------------------------------


def outcomes(client: Client, kind: str) -> list[StoredSignal]:
    return [
        s
        for s in signals()
        if s.client == client.id and s.kind == "outcome" and s.attrs["type"] == kind
    ]


def test_troubled_clients_mostly_churn_in_the_last_week_and_healthy_ones_mostly_renew() -> None:
    troubled = [c for p in (*DETERIORATING, "dormant") for c in with_profile(p)]
    churned = [c for c in troubled if outcomes(c, "churned")]
    assert len(churned) >= len(troubled) // 2
    for client in churned:
        assert all(s.ts > END - timedelta(days=7) for s in outcomes(client, "churned"))
    healthy = with_profile("healthy")
    renewals = sum(len(outcomes(c, "renewed")) for c in healthy)
    surprises = sum(len(outcomes(c, "churned")) for c in healthy)
    assert renewals >= 2 * len(healthy) - len(healthy) // 2  # quarterly: about two a half-year
    assert 0 < surprises < renewals / 10


def test_each_storm_client_escalated_and_outcomes_are_valid_import_rows() -> None:
    for client in with_profile("incident_storm"):
        assert outcomes(client, "escalated")
    rows = [s for s in signals() if s.kind == "outcome"]
    for s in rows:
        row = {"event_id": s.event_id, "client": s.client, "kind": "outcome", "ts": s.ts}
        parsed = parse_signal({**row, "value": s.value, **s.attrs})
        assert parsed.kind == "outcome"
