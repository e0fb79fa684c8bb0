"""A sample notice (Northwind Logistics, 82 → 61) for ``rapport alerts test-email``, the README
and the benchmark: every part of an alert email filled in."""

from __future__ import annotations

from datetime import datetime

from rapport.api.notify.notice import AlertNotice, Driver, Links, Recipient


def sample_notice(
    at: datetime,
    links: Links,
    *,
    key: str = "test",
    recipients: tuple[Recipient, ...] = (),
    client_name: str = "Northwind Logistics",
) -> AlertNotice:
    """A firing ``score-drop`` notice at ``at`` with two drivers and their evidence."""
    return AlertNotice(
        rule="score-drop",
        client_id="northwind",
        client_name=client_name,
        episode=f"{key}-episode",
        kind="firing",
        at=at,
        severity="critical",
        labels={"team": "delivery"},
        value=-21.0,
        threshold=-15.0,
        dedupe_key=key,
        score_before=82.0,
        score=61.0,
        grade="at_risk",
        grade_before="healthy",
        rules_version="3f2c1ab",
        drivers=(
            Driver(
                id="milestones",
                description="Milestones delivered on time.",
                before=22.5,
                after=9.0,
                delta=-13.5,
                value=0.4,
                points=40.0,
                evidence=("2 milestones missed: Beta release due 3 Nov, 9 days late",),
            ),
            Driver(
                id="nps",
                description="The client's latest NPS answer.",
                before=13.5,
                after=6.0,
                delta=-7.5,
                value=4.0,
                points=40.0,
                evidence=("latest NPS 4, was 9",),
            ),
        ),
        links=links,
        recipients=recipients,
    )
