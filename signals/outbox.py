"""The notification outbox, a part of the store: the ``outbox`` table.

Migration ``0005_outbox`` creates the table; the ``Table`` below describes it. One row is one
message to deliver: an alert notice (``payload``, JSON the notifier side wrote) for one recipient
on one channel, keyed by ``key`` = the transition's dedupe key, recipient and channel. What the
payload means, and how it is sent, is the notifier side's business (``rapport.api.notify``).

The contract that makes delivery at-least-once with dedupe:

- ``enqueue`` inserts only keys not yet present, so a transition enqueued twice (a replay, a
  restart) is one message;
- a row stays ``pending`` until its sender ``mark_sent``s it *after* the channel accepted it, so a
  crash in between resends that one row at most, and a restart resends nothing already marked;
- a failed attempt is recorded (``mark_retry``: attempts + 1, the error, the next attempt time) or
  ends the row (``mark_failed``); ``retry_failed`` puts failed rows back to pending.

Every write holds the store's write lock. Times are UTC epoch seconds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

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
    func,
    insert,
    select,
    update,
)

from rapport.signals.store import Store

metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    Column("key", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("digest", Boolean, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("next_attempt", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("sent_at", Double),
    Index("ix_outbox_state_next_attempt", "state", "next_attempt"),
)

State = Literal["pending", "sent", "failed"]
STATES: tuple[State, ...] = ("pending", "sent", "failed")
#: Keys per ``IN (...)`` list.
_CHUNK = 500


@dataclass(frozen=True)
class NewEntry:
    """A message to enqueue: its key, channel, recipient, JSON payload, whether it waits for the
    recipient's digest, and when it may first be sent."""

    key: str
    channel: str
    recipient: str
    payload: str
    digest: bool
    next_attempt: float


@dataclass(frozen=True)
class OutboxEntry:
    """One stored message and where its delivery stands."""

    key: str
    channel: str
    recipient: str
    payload: str
    digest: bool
    state: State
    attempts: int
    last_error: str | None
    next_attempt: float
    created_at: float
    sent_at: float | None


def enqueue(store: Store, entries: Sequence[NewEntry], *, now: float) -> int:
    """Insert the entries whose key is not stored yet (in any state); returns how many."""
    t = outbox
    added = 0
    with store._locked("Cannot write to") as (connection, _):
        for start in range(0, len(entries), _CHUNK):
            chunk = entries[start : start + _CHUNK]
            known = set(
                connection.execute(
                    select(t.c.key).where(t.c.key.in_([e.key for e in chunk]))
                ).scalars()
            )
            fresh = {e.key: e for e in chunk if e.key not in known}  # also dedupes the chunk
            if fresh:
                connection.execute(insert(t), [_row(e, now) for e in fresh.values()])
            added += len(fresh)
    return added


def _row(entry: NewEntry, now: float) -> dict[str, object]:
    return {
        "key": entry.key,
        "channel": entry.channel,
        "recipient": entry.recipient,
        "payload": entry.payload,
        "digest": entry.digest,
        "state": "pending",
        "attempts": 0,
        "last_error": None,
        "next_attempt": entry.next_attempt,
        "created_at": now,
        "sent_at": None,
    }


def due(store: Store, now: float, *, limit: int = 1000) -> list[OutboxEntry]:
    """Pending entries whose next attempt is at or before ``now``, oldest first."""
    t = outbox
    query = (
        select(t)
        .where(t.c.state == "pending", t.c.next_attempt <= now)
        .order_by(t.c.next_attempt, t.c.created_at, t.c.key)
        .limit(limit)
    )
    with store._reading() as connection:
        return [_entry(row._mapping) for row in connection.execute(query)]


def entries(store: Store, state: State | None = None, *, limit: int = 1000) -> list[OutboxEntry]:
    """Stored entries (of ``state`` when given), newest first."""
    t = outbox
    query = select(t).order_by(t.c.created_at.desc(), t.c.key).limit(limit)
    if state is not None:
        query = query.where(t.c.state == state)
    with store._reading() as connection:
        return [_entry(row._mapping) for row in connection.execute(query)]


def counts(store: Store) -> dict[State, int]:
    """How many entries are in each state (every state present, zeros included)."""
    t = outbox
    query = select(t.c.state, func.count()).group_by(t.c.state)
    with store._reading() as connection:
        found = {state: int(n) for state, n in connection.execute(query)}
    return {state: found.get(state, 0) for state in STATES}


def mark_sent(store: Store, keys: Collection[str], *, now: float) -> None:
    """The channel accepted these entries: they are ``sent`` and never attempted again."""
    _set(store, keys, state="sent", sent_at=now, last_error=None)


def mark_retry(store: Store, keys: Collection[str], error: str, *, next_attempt: float) -> None:
    """An attempt failed but may succeed later: count it, keep the error, wait until
    ``next_attempt``."""
    t = outbox
    with store._locked("Cannot write to") as (connection, _):
        for chunk in _chunks(keys):
            connection.execute(
                update(t)
                .where(t.c.key.in_(chunk), t.c.state == "pending")
                .values(attempts=t.c.attempts + 1, last_error=error, next_attempt=next_attempt)
            )


def mark_failed(store: Store, keys: Collection[str], error: str) -> None:
    """No more attempts: the entries are ``failed`` (counted) until ``retry_failed``."""
    t = outbox
    with store._locked("Cannot write to") as (connection, _):
        for chunk in _chunks(keys):
            connection.execute(
                update(t)
                .where(t.c.key.in_(chunk), t.c.state == "pending")
                .values(state="failed", attempts=t.c.attempts + 1, last_error=error)
            )


def defer(store: Store, keys: Collection[str], *, next_attempt: float) -> None:
    """Move pending entries' next attempt to ``next_attempt`` without counting an attempt (quiet
    hours: a deferral is not a failure)."""
    t = outbox
    with store._locked("Cannot write to") as (connection, _):
        for chunk in _chunks(keys):
            connection.execute(
                update(t)
                .where(t.c.key.in_(chunk), t.c.state == "pending")
                .values(next_attempt=next_attempt)
            )


def retry_failed(store: Store, *, now: float, keys: Collection[str] | None = None) -> int:
    """Put failed entries (all, or those in ``keys``) back to pending, due at ``now``, with their
    attempts reset; returns how many."""
    t = outbox
    statement = (
        update(t).where(t.c.state == "failed").values(state="pending", attempts=0, next_attempt=now)
    )
    with store._locked("Cannot write to") as (connection, _):
        if keys is None:
            return connection.execute(statement).rowcount
        return sum(
            connection.execute(statement.where(t.c.key.in_(chunk))).rowcount
            for chunk in _chunks(keys)
        )


def _set(store: Store, keys: Collection[str], **values: object) -> None:
    t = outbox
    with store._locked("Cannot write to") as (connection, _):
        for chunk in _chunks(keys):
            connection.execute(update(t).where(t.c.key.in_(chunk)).values(**values))


def _chunks(keys: Collection[str]) -> list[list[str]]:
    ordered = sorted(keys)
    return [ordered[i : i + _CHUNK] for i in range(0, len(ordered), _CHUNK)]


def _entry(m: RowMapping) -> OutboxEntry:
    return OutboxEntry(
        key=m["key"],
        channel=m["channel"],
        recipient=m["recipient"],
        payload=m["payload"],
        digest=bool(m["digest"]),
        state=m["state"],
        attempts=int(m["attempts"]),
        last_error=m["last_error"],
        next_attempt=float(m["next_attempt"]),
        created_at=float(m["created_at"]),
        sent_at=m["sent_at"],
    )
