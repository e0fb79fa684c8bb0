"""Remembered ``Idempotency-Key`` responses, a part of the store: the ``idempotency_keys`` table.

Migration ``0003_idempotency`` creates the table; the ``Table`` below describes it. A response is
remembered per principal and key with a hash of the request it answered; times are UTC epoch
seconds. What a replay or a conflict means is the API's business (``api/idempotency.py``).

A key is taken before its request writes anything: ``reserve_key`` inserts a *pending* row
(``status_code`` 0, empty response) under the store's write lock, so of several concurrent
requests with one key exactly one gets it. That one then ``complete_key``s it with its response,
or ``release_key``s it if it failed. A pending row older than its lease is taken to be abandoned
(its request died) and may be reserved again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    insert,
    or_,
    select,
    update,
)

from rapport.signals.store import Store

metadata = MetaData()

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)


#: ``status_code`` of a key whose request is still being handled.
PENDING = 0


@dataclass(frozen=True)
class StoredResponse:
    """The response first given to a request, and the hash of that request; ``pending`` while
    that request is still being handled (``status_code`` is ``PENDING``, ``body`` empty)."""

    request_hash: str
    status_code: int
    body: str

    @property
    def pending(self) -> bool:
        return self.status_code == PENDING


def stored_response(store: Store, principal: str, key: str, since: float) -> StoredResponse | None:
    """The response remembered for ``(principal, key)`` at or after ``since``; None if none."""
    t = idempotency_keys
    query = select(t.c.request_hash, t.c.status_code, t.c.response).where(
        t.c.principal == principal, t.c.key == key, t.c.created_at >= since
    )
    with store._reading() as connection:
        row = connection.execute(query).first()
    return None if row is None else StoredResponse(row.request_hash, row.status_code, row.response)


def reserve_key(
    store: Store,
    principal: str,
    key: str,
    request_hash: str,
    *,
    now: float,
    since: float,
    lease_since: float,
) -> StoredResponse | None:
    """Take ``(principal, key)`` for a request hashing to ``request_hash`` and return None — unless
    it is taken already: then return what holds it (a response remembered at or after ``since``,
    or a pending reservation made at or after ``lease_since``). Older rows are replaced.

    Race-free because every writer of the table holds the store's write lock.
    """
    t = idempotency_keys
    same = (t.c.principal == principal, t.c.key == key)
    expired = or_(
        t.c.created_at < since, (t.c.status_code == PENDING) & (t.c.created_at < lease_since)
    )
    with store._locked("Cannot write to") as (connection, _):
        connection.execute(delete(t).where(*same, expired))
        row = connection.execute(
            select(t.c.request_hash, t.c.status_code, t.c.response).where(*same)
        ).first()
        if row is not None:
            return StoredResponse(row.request_hash, row.status_code, row.response)
        connection.execute(
            insert(t).values(
                principal=principal,
                key=key,
                request_hash=request_hash,
                status_code=PENDING,
                response="",
                created_at=now,
            )
        )
    return None


def complete_key(store: Store, principal: str, key: str, status_code: int, body: str) -> None:
    """Remember the response to the request that reserved ``(principal, key)``."""
    t = idempotency_keys
    with store._locked("Cannot write to") as (connection, _):
        connection.execute(
            update(t)
            .where(t.c.principal == principal, t.c.key == key)
            .values(status_code=status_code, response=body)
        )


def release_key(store: Store, principal: str, key: str) -> None:
    """Free a reservation whose request failed, so that a retry runs it again."""
    t = idempotency_keys
    with store._locked("Cannot write to") as (connection, _):
        connection.execute(
            delete(t).where(t.c.principal == principal, t.c.key == key, t.c.status_code == PENDING)
        )


def forget_responses(store: Store, before: float) -> int:
    """Delete every response remembered before ``before``; returns how many."""
    t = idempotency_keys
    with store._locked("Cannot write to") as (connection, _):
        return connection.execute(delete(t).where(t.c.created_at < before)).rowcount
