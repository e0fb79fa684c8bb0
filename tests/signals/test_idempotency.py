"""Remembered Idempotency-Key responses in the store, on both real backends."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from rapport.signals.idempotency import (
    PENDING,
    StoredResponse,
    complete_key,
    forget_responses,
    idempotency_keys,
    release_key,
    reserve_key,
    stored_response,
)
from rapport.signals.store import Store, StoreError

DropTable = Callable[[str], None]  # the conftest fixture drop_table
FIRST = StoredResponse("hash-1", 200, '{"accepted":[]}')
SECOND = StoredResponse("hash-2", 200, '{"accepted":[1]}')


def store_response(
    store: Store, principal: str, key: str, response: StoredResponse, *, now: float, since: float
) -> StoredResponse | None:
    """Reserve the key and, if that worked, complete it with ``response`` (what the API does)."""
    first = reserve_key(
        store, principal, key, response.request_hash, now=now, since=since, lease_since=since
    )
    if first is None:
        complete_key(store, principal, key, response.status_code, response.body)
    return first


def test_the_migrated_table_matches_the_module(store: Store) -> None:
    inspector = sa.inspect(store._engine)
    columns = {c["name"]: c["nullable"] for c in inspector.get_columns("idempotency_keys")}
    assert columns == {c.name: c.nullable for c in idempotency_keys.columns}


def test_a_response_is_kept_per_principal_and_key_until_it_expires(store: Store) -> None:
    assert store_response(store, "admin", "k", FIRST, now=100.0, since=0.0) is None
    assert stored_response(store, "admin", "k", since=50.0) == FIRST
    assert stored_response(store, "ingest", "k", since=50.0) is None  # another token's key
    assert stored_response(store, "admin", "k", since=150.0) is None  # expired by then


def test_a_live_response_wins_over_a_second_one_and_an_expired_one_is_replaced(
    store: Store,
) -> None:
    store_response(store, "admin", "k", FIRST, now=100.0, since=0.0)
    assert store_response(store, "admin", "k", SECOND, now=110.0, since=50.0) == FIRST
    assert store_response(store, "admin", "k", SECOND, now=300.0, since=200.0) is None
    assert stored_response(store, "admin", "k", since=200.0) == SECOND


def test_forgetting_deletes_only_older_responses(store: Store) -> None:
    store_response(store, "admin", "old", FIRST, now=100.0, since=0.0)
    store_response(store, "admin", "new", FIRST, now=200.0, since=0.0)
    assert forget_responses(store, before=150.0) == 1
    assert stored_response(store, "admin", "new", since=0.0) == FIRST


def reserve(store: Store, key: str, *, now: float, lease_since: float = 0.0) -> object:
    return reserve_key(store, "admin", key, "hash-1", now=now, since=0.0, lease_since=lease_since)


def test_a_reserved_key_is_pending_until_completed(store: Store) -> None:
    assert reserve(store, "k", now=100.0) is None
    assert reserve(store, "k", now=101.0) == StoredResponse("hash-1", PENDING, "")
    complete_key(store, "admin", "k", 200, '{"accepted":[]}')
    assert reserve(store, "k", now=102.0) == FIRST


def test_a_released_key_can_be_reserved_again_and_a_completed_one_is_not_released(
    store: Store,
) -> None:
    reserve(store, "k", now=100.0)
    release_key(store, "admin", "k")
    assert reserve(store, "k", now=101.0) is None
    complete_key(store, "admin", "k", 200, '{"accepted":[]}')
    release_key(store, "admin", "k")
    assert stored_response(store, "admin", "k", since=0.0) == FIRST


def test_a_reservation_past_its_lease_is_abandoned(store: Store) -> None:
    reserve(store, "k", now=100.0)
    assert reserve(store, "k", now=300.0, lease_since=200.0) is None  # the first one died


_WRITES: list[tuple[Callable[[Store], object], str]] = [
    (lambda s: store_response(s, "admin", "k", FIRST, now=1.0, since=0.0), "remembering"),
    (lambda s: reserve(s, "k", now=1.0), "reserving"),
    (lambda s: complete_key(s, "admin", "k", 200, "{}"), "completing"),
    (lambda s: release_key(s, "admin", "k"), "releasing"),
    (lambda s: forget_responses(s, before=1.0), "forgetting"),
]


@pytest.mark.parametrize(
    "write", [w for w, _ in _WRITES], ids=[f"{i} waits for the write lock" for _, i in _WRITES]
)
def test_writes_take_the_store_write_lock(
    write_locked_store: Store, write: Callable[[Store], object]
) -> None:
    with pytest.raises(StoreError, match=r"^Cannot write to the store .*lock timeout"):
        write(write_locked_store)


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: stored_response(s, "admin", "k", since=0.0),
        lambda s: store_response(s, "admin", "k", FIRST, now=1.0, since=0.0),
        lambda s: forget_responses(s, before=1.0),
    ],
    ids=[
        "replaying without the table is a StoreError",
        "remembering without the table is a StoreError",
        "forgetting without the table is a StoreError",
    ],
)
def test_a_database_failure_is_a_store_error(
    store: Store, drop_table: DropTable, operation: Callable[[Store], object]
) -> None:
    drop_table("idempotency_keys")
    with pytest.raises(StoreError, match=r"^Cannot (read from|write to) the store at .*idempot"):
        operation(store)
