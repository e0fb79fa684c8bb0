"""Remembered ``Idempotency-Key`` responses, a part of the store: the ``idempotency_keys`` table.

Migration ``0003_idempotency`` creates the table; the ``Table`` below describes it. A response is
remembered per principal and key with a hash of the request it answered; times are UTC epoch
seconds. What a replay or a conflict means is the API's business (``api/idempotency.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Double, Index, Integer, MetaData, Table, Text, delete, insert, select

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


@dataclass(frozen=True)
class StoredResponse:
    """The response first given to a request, and the hash of that request."""

    request_hash: str
    status_code: int
    body: str


def stored_response(store: Store, principal: str, key: str, since: float) -> StoredResponse | None:
    """The response remembered for ``(principal, key)`` at or after ``since``; None if none."""
    t = idempotency_keys
    query = select(t.c.request_hash, t.c.status_code, t.c.response).where(
        t.c.principal == principal, t.c.key == key, t.c.created_at >= since
    )
    with store._reading() as connection:
        row = connection.execute(query).first()
    return None if row is None else StoredResponse(row.request_hash, row.status_code, row.response)


def store_response(
    store: Store, principal: str, key: str, response: StoredResponse, *, now: float, since: float
) -> StoredResponse | None:
    """Remember ``response`` for ``(principal, key)`` as of ``now`` and return None — unless one
    remembered at or after ``since`` is there already (a concurrent request stored it first):
    then keep that one and return it. An older one is replaced.

    Race-free because every writer of the table holds the store's write lock.
    """
    t = idempotency_keys
    same = (t.c.principal == principal, t.c.key == key)
    with store._locked("Cannot write to") as (connection, _):
        connection.execute(delete(t).where(*same, t.c.created_at < since))
        row = connection.execute(
            select(t.c.request_hash, t.c.status_code, t.c.response).where(*same)
        ).first()
        if row is not None:
            return StoredResponse(row.request_hash, row.status_code, row.response)
        connection.execute(
            insert(t).values(
                principal=principal,
                key=key,
                request_hash=response.request_hash,
                status_code=response.status_code,
                response=response.body,
                created_at=now,
            )
        )
    return None


def forget_responses(store: Store, before: float) -> int:
    """Delete every response remembered before ``before``; returns how many."""
    t = idempotency_keys
    with store._locked("Cannot write to") as (connection, _):
        return connection.execute(delete(t).where(t.c.created_at < before)).rowcount
