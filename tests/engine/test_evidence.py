"""engine.evidence: the concrete events behind one client's components and limits, picked from
the arrays its score was computed from. Every expectation is worked out by hand in comments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scorer_builders import AS_OF, GRADES, Ev, ev, signal_set

from rapport.engine.evidence import ClientEvidence, EvidenceList, evidence_of
from rapport.engine.explain import explain
from rapport.engine.explain_text import render_explanation
from rapport.engine.frame import ClientSet
from rapport.engine.model import Scorecard
from rapport.engine.scoring import evaluate

SCORECARD = Scorecard.model_validate(
    {
        "version": 1,
        "grades": GRADES,
        "components": {
            "responsiveness": {
                "signal": "response_time",
                "aggregate": "p90",
                "window": "30d",
                "min_count": 3,
                "weight": 25,
                "curve": {"points": [[4, 100], [24, 60], [72, 0]]},
            },
            "delivery_on_time": {
                "signal": "milestone",
                "aggregate": "ratio",
                "numerator": {"missed": True},
                "window": "90d",
                "weight": 20,
                "curve": {"bands": [{"max": 0.5, "points": 100}, {"min": 0.5, "points": 0}]},
            },
            "satisfaction": {
                "signal": "survey",
                "measure": "normalized",
                "aggregate": "latest",
                "window": "180d",
                "weight": 20,
                "curve": {"linear": {"best": 90, "worst": 40}},
            },
        },
        "caps": [
            {
                "id": "open_sev1",
                "reason": "A sev1 incident is open.",
                "when": {
                    "signal": "incident",
                    "where": {"severity": "sev1", "open": True},
                    "aggregate": "count",
                    "above": 0,
                },
                "max": 40,
            }
        ],
    }
)

# Client row 1 (acme) is explained; row 0 (other) has events of every kind that must not show.
# Each list is in frame order; IDS names its rows' event ids in the same order.
REPLIES = [
    ev(0, 1, 200.0, channel="email"),  # other's: the slowest of all, but not acme's
    ev(1, 1, 2.0, channel="email"),
    ev(1, 2, 30.0, channel="chat"),
    ev(1, 3, 5.0, channel="email"),
    ev(1, 4, 50.0, channel="email"),
    ev(1, 5, 1.0, channel="ticket"),
    ev(1, 6, 8.0, channel="email"),
    ev(1, 7, 3.0, channel="email"),
    ev(1, 40, 100.0, channel="email"),  # outside the 30d window
]
MILESTONES = [
    # Due 10 days before the instant, delivered 2 days after it: still open as of the instant.
    ev(1, 10, end=-2, name="Go-live"),
    ev(1, 20, end=15, name="Phase 1"),  # delivered 5 days after its due
    ev(1, 5, end=6, name="Kickoff"),  # delivered a day early: not missed
    ev(1, -1, name="Phase 2"),  # due tomorrow: not seen yet
]
SURVEYS = [
    ev(1, 30, 9.0, scale="nps"),
    ev(1, 10, 6.0, scale="nps", survey="q2"),
    ev(1, 50, 4.0, scale="csat"),
]
INCIDENTS = [
    ev(0, 1, severity="sev1", service="other-svc"),  # other's open sev1
    ev(1, 2, severity="sev1", service="payments"),  # open: holds the cap
    ev(1, 6, end=5, severity="sev1", service="payments"),  # resolved
    ev(1, 1, severity="sev2", service="web"),  # open, but not sev1
]
IDS = {
    "response_time": ["o-r", *(f"r-{i}" for i in range(1, 9))],
    "milestone": ["m-golive", "m-phase1", "m-kickoff", "m-phase2"],
    "survey": ["s-old", "s-new", "s-csat"],
    "incident": ["o-i", "i-9", "i-8", "i-7"],
}
CLIENTS = ClientSet.of(["other", "acme"])


def evidence(**overrides: list[Ev]) -> ClientEvidence:
    kinds = {
        "response_time": REPLIES,
        "milestone": MILESTONES,
        "survey": SURVEYS,
        "incident": INCIDENTS,
        **overrides,
    }
    signals = signal_set(2, **kinds)
    evaluation = evaluate(SCORECARD, CLIENTS, signals, AS_OF, "v1")
    return evidence_of(SCORECARD, evaluation, signals, 1, event_ids=IDS)


def ids(found: EvidenceList | None) -> list[str | None]:
    assert found is not None
    return [e.event_id for e in found.events]


def test_the_open_sev1_cap_names_that_incident_its_service_and_when_it_opened() -> None:
    cap = evidence().limits["open_sev1"]
    assert ids(cap) == ["i-9"]  # not the resolved sev1, the open sev2 or the other client's
    (incident,) = cap.events
    assert incident.attrs == {"severity": "sev1", "service": "payments"}
    assert incident.ts == datetime(2026, 5, 30, tzinfo=UTC)
    assert incident.end is None
    assert incident.value == pytest.approx(48.0)  # hours open as of the instant
    assert incident.why == "sev1 on payments, opened 2026-05-30 00:00 UTC, still open (48.0 h)"


def test_missed_milestones_are_named_with_their_days_late() -> None:
    on_time = evidence().components["delivery_on_time"]
    # The ratio's numerator matches: Go-live (due 10 days ago, open as of the instant because
    # its delivery came later: 10 days late) and Phase 1 (delivered 5 days after due); Kickoff
    # was on time and Phase 2 is not due yet.
    assert ids(on_time) == ["m-golive", "m-phase1"]
    assert [e.value for e in on_time.events] == [pytest.approx(10.0), pytest.approx(5.0)]
    assert [e.why for e in on_time.events] == [
        "'Go-live' due 2026-05-22 00:00 UTC, still open: 10.0 days late",
        "'Phase 1' due 2026-05-12 00:00 UTC, delivered 2026-05-17 00:00 UTC: 5.0 days late",
    ]
    assert on_time.events[0].end is None  # delivered after the instant: not yet then
    assert on_time.more == 0


def test_a_p90_lists_the_slowest_replies_of_the_window_and_counts_the_rest() -> None:
    replies = evidence().components["responsiveness"]
    # Seven replies in 30 days; the five slowest are 50, 30, 8, 5 and 3 hours; 2 and 1 remain.
    assert ids(replies) == ["r-4", "r-2", "r-6", "r-3", "r-7"]
    assert [e.value for e in replies.events] == [50.0, 30.0, 8.0, 5.0, 3.0]
    assert replies.more == 2
    assert replies.events[1].why == (
        "30.0 h to our first reply by chat to a message at 2026-05-30 00:00 UTC"
    )


def test_latest_survey_lists_the_newest_answer_and_the_one_before() -> None:
    surveys = evidence().components["satisfaction"]
    assert ids(surveys) == ["s-new", "s-old"]  # 10 days ago, then 30; the csat at 50 is older
    assert [e.value for e in surveys.events] == [60.0, 90.0]  # normalized: NPS 6 → 60, 9 → 90
    assert surveys.more == 1
    assert surveys.events[0].why == "answered 6 on the nps scale (q2) at 2026-05-22 00:00 UTC"


def test_a_limit_that_did_not_hold_has_no_evidence() -> None:
    quiet = evidence(incident=[ev(1, 6, end=5, severity="sev1", service="payments")])
    assert quiet.limits == {}


def test_no_event_ids_leaves_them_none_but_still_lists_the_events() -> None:
    signals = signal_set(2, incident=INCIDENTS)
    evaluation = evaluate(SCORECARD, CLIENTS, signals, AS_OF, "v1")
    found = evidence_of(SCORECARD, evaluation, signals, 1).limits["open_sev1"]
    assert [e.event_id for e in found.events] == [None]


def test_the_text_explanation_prints_the_evidence_under_each_component_and_limit() -> None:
    signals = signal_set(
        2, response_time=REPLIES, milestone=MILESTONES, survey=SURVEYS, incident=INCIDENTS
    )
    evaluation = evaluate(SCORECARD, CLIENTS, signals, AS_OF, "v1")
    found = evidence_of(SCORECARD, evaluation, signals, 1, event_ids=IDS)
    text = render_explanation(explain(evaluation.record(1), SCORECARD, evidence=found))
    assert (
        # The weighted average is already below 40, so the cap holds without setting the score.
        "  open_sev1 (cap at 40): held, but did not set the score\n"
        "      A sev1 incident is open.\n"
        "      - i-9: sev1 on payments, opened 2026-05-30 00:00 UTC, still open (48.0 h)"
    ) in text
    assert "      - r-4: 50.0 h to our first reply by email" in text
    assert "      ... and 2 more" in text


def test_an_open_chat_wait_reads_as_time_waited_not_as_a_reply() -> None:
    waits = [
        ev(1, 2, 40.0, channel="chat", open="true"),  # a chat collector's unanswered message
        ev(1, 3, 1.0, channel="chat"),
        ev(1, 4, 2.0, channel="email"),
    ]
    signals = signal_set(2, response_time=waits)
    evaluation = evaluate(SCORECARD, CLIENTS, signals, AS_OF, "v1")
    replies = evidence_of(SCORECARD, evaluation, signals, 1).components["responsiveness"]
    assert [e.why for e in replies.events][:2] == [
        "40.0 h waited so far, no reply yet by chat, to a message at 2026-05-30 00:00 UTC",
        "2.0 h to our first reply by email to a message at 2026-05-28 00:00 UTC",
    ]
