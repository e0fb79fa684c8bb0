"""Alert states, notices and silences, a part of the store: the ``alert_states``,
``alert_events`` and ``silences`` tables (migration ``0005_alerts``; times are epoch seconds).

``save_alerts`` replaces the persisted states with an evaluation's and appends its notices in one
transaction, so a restart resumes exactly where the last evaluation left off (a notice already
recorded, by its ``dedupe_key``, is not recorded twice). What the states mean is the engine's
business (``engine.alerts``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    RowMapping,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)  # fmt: skip

from rapport.engine.alerts import AlertState, AlertTransition, Silence
from rapport.engine.errors import RapportError
from rapport.signals.store import Store
from rapport.signals.writer import epoch

metadata = MetaData()

alert_states = Table(
    "alert_states",
    metadata,
    Column("rule", Text, primary_key=True),
    Column("client", Text, primary_key=True),
    Column("phase", Text, nullable=False),
    Column("active_since", Double, nullable=False),
    Column("fired_at", Double),
    Column("last_notified", Double),
    Column("repeats", Integer, nullable=False),
    Column("clearing_since", Double),
    Column("muted", Boolean, nullable=False),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("dedupe_key", Text, primary_key=True),
    Column("rule", Text, nullable=False),
    Column("client", Text, nullable=False),
    Column("episode", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("at", Double, nullable=False),
    Column("severity", Text, nullable=False),
    Column("labels", Text, nullable=False),
    Column("value", Double),
    Column("threshold", Double),
    Column("silenced", Boolean, nullable=False),
    Index("ix_alert_events_at", "at"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Text, primary_key=True),
    Column("client", Text),
    Column("rule", Text),
    Column("labels", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("created", Double, nullable=False),
    Column("expires", Double, nullable=False),
)


class UnknownSilenceError(RapportError):
    def __init__(self, silence_id: str) -> None:
        self.silence_id = silence_id
        super().__init__(f"No silence by the id of {silence_id!r} was found")


def _t(moment: datetime | None) -> float | None:
    return None if moment is None else epoch(moment)


def _m(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- states and notices --------------------------------------------------------------------------


def load_states(store: Store) -> list[AlertState]:
    """Every persisted pending or firing alert, by rule then client."""
    t = alert_states
    with store._reading() as connection:
        rows = connection.execute(select(t).order_by(t.c.rule, t.c.client)).all()
    return [_state(row._mapping) for row in rows]


def _state(row: RowMapping) -> AlertState:
    return AlertState(
        rule=row["rule"], client=row["client"], phase=row["phase"],
        active_since=_at(row["active_since"]), fired_at=_m(row["fired_at"]),
        last_notified=_m(row["last_notified"]), repeats=row["repeats"],
        clearing_since=_m(row["clearing_since"]), muted=bool(row["muted"]),
    )  # fmt: skip


def save_alerts(
    store: Store, states: Sequence[AlertState], transitions: Sequence[AlertTransition]
) -> None:
    """Replace the persisted states with ``states`` and record ``transitions``, atomically."""
    rows = [
        {"rule": s.rule, "client": s.client, "phase": s.phase,
         "active_since": epoch(s.active_since), "fired_at": _t(s.fired_at),
         "last_notified": _t(s.last_notified), "repeats": s.repeats,
         "clearing_since": _t(s.clearing_since), "muted": s.muted}
        for s in states
    ]  # fmt: skip
    with store._locked("Cannot write to") as (connection, _):
        connection.execute(delete(alert_states))
        if rows:
            connection.execute(insert(alert_states), rows)
        keys = [t.dedupe_key for t in transitions]
        known: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found = select(alert_events.c.dedupe_key).where(alert_events.c.dedupe_key.in_(chunk))
            known |= set(connection.execute(found).scalars())
        events = [_event_row(t) for t in transitions if t.dedupe_key not in known]
        if events:
            connection.execute(insert(alert_events), events)


def _event_row(t: AlertTransition) -> dict[str, Any]:
    return {
        "dedupe_key": t.dedupe_key, "rule": t.rule, "client": t.client, "episode": t.episode,
        "kind": t.kind, "at": epoch(t.at), "severity": t.severity,
        "labels": json.dumps(dict(t.labels), sort_keys=True), "value": t.value,
        "threshold": t.threshold, "silenced": t.silenced,
    }  # fmt: skip


def alert_history(
    store: Store, *, client: str | None = None, since: datetime | None = None, limit: int = 1000
) -> list[AlertTransition]:
    """Recorded notices, newest first (of ``client``, at or after ``since``, at most ``limit``)."""
    t = alert_events
    query = select(t).order_by(t.c.at.desc(), t.c.dedupe_key).limit(limit)
    if client is not None:
        query = query.where(t.c.client == client)
    if since is not None:
        query = query.where(t.c.at >= epoch(since))
    with store._reading() as connection:
        rows = connection.execute(query).all()
    return [
        AlertTransition(
            rule=r.rule,
            client=r.client,
            episode=r.episode,
            kind=r.kind,
            at=_at(r.at),
            severity=r.severity,
            labels=json.loads(r.labels),
            value=r.value,
            threshold=r.threshold,
            silenced=bool(r.silenced),
            dedupe_key=r.dedupe_key,
        )
        for r in rows
    ]


# --- silences ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSilence:
    """What a user asks to silence; at least one of ``client``, ``rule`` and ``labels``."""

    client: str | None
    rule: str | None
    labels: dict[str, str]
    reason: str
    author: str


def add_silence(store: Store, new: NewSilence, created: datetime, expires: datetime) -> Silence:
    """Store a silence from ``created`` to ``expires``; ``ValueError`` when it selects nothing or
    ends before it starts."""
    if new.client is None and new.rule is None and not new.labels:
        raise ValueError("a silence needs a client, a rule or labels")
    if expires <= created:
        raise ValueError("a silence must end after it starts")
    silence = Silence(
        id=uuid.uuid4().hex[:12], client=new.client, rule=new.rule, labels=dict(new.labels),
        reason=new.reason, author=new.author, created=created, expires=expires,
    )  # fmt: skip
    with store._locked("Cannot write to") as (connection, _):
        connection.execute(
            insert(silences).values(
                id=silence.id, client=silence.client, rule=silence.rule,
                labels=json.dumps(silence.labels, sort_keys=True), reason=silence.reason,
                author=silence.author, created=epoch(created), expires=epoch(expires),
            )
        )  # fmt: skip
    return silence


def list_silences(store: Store, *, active_at: datetime | None = None) -> list[Silence]:
    """Every stored silence (those active at ``active_at`` when given), oldest first."""
    s = silences
    query = select(s).order_by(s.c.created, s.c.id)
    if active_at is not None:
        moment = epoch(active_at)
        query = query.where(s.c.created <= moment, s.c.expires > moment)
    with store._reading() as connection:
        rows = connection.execute(query).all()
    return [
        Silence(
            id=r.id,
            client=r.client,
            rule=r.rule,
            labels=json.loads(r.labels),
            reason=r.reason,
            author=r.author,
            created=_at(r.created),
            expires=_at(r.expires),
        )
        for r in rows
    ]


def silence_by_id(store: Store, silence_id: str) -> Silence:
    """The silence ``silence_id``; ``UnknownSilenceError`` when there is none."""
    for silence in list_silences(store):
        if silence.id == silence_id:
            return silence
    raise UnknownSilenceError(silence_id)


def expire_silence(store: Store, silence_id: str, at: datetime) -> Silence:
    """End silence ``silence_id`` at ``at`` (kept as history); ``UnknownSilenceError`` if none."""
    found = silence_by_id(store, silence_id)
    ends = min(found.expires, max(at, found.created))
    with store._locked("Cannot write to") as (connection, _):
        connection.execute(
            update(silences).where(silences.c.id == silence_id).values(expires=epoch(ends))
        )
    return replace(found, expires=ends)
