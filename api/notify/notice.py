"""``AlertNotice``: what a notifier is told about one alert transition, self-contained, JSON-able.

A notice carries everything its email needs (names, numbers, links, recipients), so it can wait
in the outbox across restarts and rules reloads and render the same later. ``notice_from`` builds
one from an alert transition, the client it is about and the explanation of its score; the
explanation's fields are read in ``_drivers`` alone, so concrete evidence added to explanations
reaches emails by changing that one function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rapport.engine.explain import Change, Explanation

Kind = Literal["firing", "repeat", "resolved"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Recipient(_Model):
    """Who receives a notice: an address (validated when a header is built), the language of the
    email (a locale such as ``en`` or ``zh-CN``) and the IANA time zone dates are shown in and
    quiet hours are read in."""

    name: str
    email: str
    locale: str = "en"
    timezone: str = "UTC"


class Driver(_Model):
    """One component that moved the score: its contribution before and after (points of the
    score), its measured value and points now, and the concrete signals behind it."""

    id: str
    description: str
    before: float
    after: float
    delta: float
    value: float | None = None
    points: float | None = None
    measured: str = ""
    evidence: tuple[str, ...] = ()


class Links(_Model):
    """Where to look: the client's page, its Grafana board, the explain endpoint (None: not
    configured)."""

    client: str | None = None
    board: str | None = None
    explain: str | None = None


class AlertNotice(_Model):
    """One alert transition of one client, as the notifiers see it."""

    rule: str
    client_id: str
    client_name: str
    episode: str
    kind: Kind
    at: datetime
    severity: str
    labels: Mapping[str, str] = Field(default_factory=dict)
    value: float | None = None
    threshold: float | None = None
    #: what the rule's condition measures (``score``, ``stale``…: the unit of value and
    #: threshold); for ``grade``, the rule's grade is ``threshold_grade``
    measure: str | None = None
    threshold_grade: str | None = None
    dedupe_key: str
    score_before: float | None = None
    score: float | None = None
    grade: str | None = None
    grade_before: str | None = None
    rules_version: str = ""
    drivers: tuple[Driver, ...] = ()
    links: Links = Links()
    recipients: tuple[Recipient, ...] = ()


def notice_from(
    transition: Any, client: Any, explanation: Explanation | None, links: Links
) -> AlertNotice:
    """The notice of ``transition`` about ``client``.

    ``transition`` is any object with the alert evaluator's ``AlertTransition`` attributes:
    ``rule, client, episode, kind, at, severity, labels, value, threshold, silenced, dedupe_key``
    (``silenced`` is the caller's to honour: a silenced transition is not notified).
    ``client`` is a registry ``Client``: its owner (if any) is the recipient, in the owner's
    ``timezone`` or the client's (``UTC`` if neither says). ``explanation`` (None: not scored)
    gives the score, the grade, the change and the components that drove it.
    """
    change = telling_change(explanation)
    return AlertNotice(
        rule=transition.rule,
        client_id=transition.client,
        client_name=getattr(client, "name", None) or transition.client,
        episode=transition.episode,
        kind=transition.kind,
        at=transition.at,
        severity=transition.severity,
        labels=dict(transition.labels),
        value=transition.value,
        threshold=transition.threshold,
        dedupe_key=transition.dedupe_key,
        score_before=change.previous_score if change is not None else None,
        score=explanation.score if explanation is not None else None,
        grade=explanation.grade if explanation is not None else None,
        grade_before=change.previous_grade if change is not None else None,
        rules_version=explanation.rules_version if explanation is not None else "",
        drivers=_drivers(explanation, change),
        links=links,
        recipients=_owner_recipients(client),
    )


def telling_change(explanation: Explanation | None) -> Change | None:
    """The change an email tells: of the comparisons with 7 and 30 days before, the one that
    moved the score most (a client sliding slowly shows its slide, not a flat week), else the
    explanation's own ``change``; None without history."""
    if explanation is None:
        return None
    found = [c.change for c in explanation.comparisons if c.change is not None]
    if not found:
        return explanation.change
    return max(found, key=lambda change: abs(change.score_delta or 0.0))


def _drivers(explanation: Explanation | None, change: Change | None) -> tuple[Driver, ...]:
    """The components that moved the score most in ``change``, with what the explanation says of
    each. The one place that reads an explanation's components: evidence signals are added
    here."""
    if explanation is None or change is None:
        return ()
    components = {c.id: c for c in explanation.components}
    drivers = []
    for move in change.movers:
        component = components.get(move.id)
        evidence: Sequence[str] = getattr(component, "evidence", None) or ()
        drivers.append(
            Driver(
                id=move.id,
                description=component.description if component else move.id,
                before=move.before,
                after=move.after,
                delta=move.delta,
                value=component.value if component else None,
                points=component.points if component else None,
                measured=component.measured if component else "",
                evidence=tuple(str(e) for e in evidence),
            )
        )
    return tuple(drivers)


def _owner_recipients(client: Any) -> tuple[Recipient, ...]:
    owner = getattr(client, "owner", None)
    if owner is None:
        return ()
    zone = getattr(owner, "timezone", None) or getattr(client, "timezone", None) or "UTC"
    return (Recipient(name=owner.name, email=owner.email, locale=owner.locale, timezone=zone),)
