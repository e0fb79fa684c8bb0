"""Writes to the store: idempotent upserts of clients and signals inside one transaction.

An item's identity is its key: ``(client, event_id)`` for a signal, ``id`` for a client. Storing
the same key with the same payload again changes nothing and reports ``unchanged``; a different
payload replaces the row and reports ``updated`` (a milestone gets delivered, an incident
resolved).

Event ids are scoped per client, so a write never crosses clients: a signal given with an
``event_id`` that another client's signal also has is a new signal of its own client
(``inserted``), and the other row is neither read into the answer nor touched. The status is the
one it would get if the id were used nowhere else, so a caller allowed to write some clients
learns nothing about the others' ids (with a global key, it could move their signals, and
"updated" would tell it which ids exist).

Each batch is classified by selecting the stored payloads of its keys first, then new rows are
inserted and changed rows updated with one ``executemany`` each, so the table after a series of
upserts depends only on the last payload given for each key.

A signal's ``recorded_at`` (when it first became known) is the exception: it is written once, when
the key is first inserted — the payload's own ``recorded_at``, or else the writer's clock —
and the stored one wins from then on. A later revision (delivered, resolved) carrying another, even
an earlier, value does not move it, and is not a change by itself: moving it would rewrite what an
evaluation as of a past instant saw, so a replay would no longer reproduce the stored score.
Within one batch the first item of a key gives it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update

from rapport.signals import schema
from rapport.signals.dbapi import execute_many
from rapport.signals.model import Client, StoredSignal

UpsertStatus = Literal["inserted", "updated", "unchanged"]

#: Keys per ``IN (...)`` when looking up stored rows: well under SQLite's 32766 variables.
_LOOKUP_CHUNK = 5000


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did: counts, and ``statuses[i]`` for the ``i``-th item given."""

    inserted: int
    updated: int
    unchanged: int
    statuses: tuple[UpsertStatus, ...]

    @classmethod
    def of(cls, statuses: Sequence[UpsertStatus]) -> UpsertResult:
        return cls(
            inserted=statuses.count("inserted"),
            updated=statuses.count("updated"),
            unchanged=statuses.count("unchanged"),
            statuses=tuple(statuses),
        )


def epoch(moment: datetime) -> float:
    """UTC epoch seconds; a naive datetime is read as UTC (never as the machine's local time)."""
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def attrs_json(attrs: Mapping[str, Any]) -> str:
    """Canonical JSON of an attrs mapping (sorted keys, compact), so equal attrs compare equal."""
    return json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: Canonical JSON of signal attrs seen lately, by their items: a million signals carry only a
#: few hundred distinct attrs, and json.dumps was a fifth of an import's time. Bounded by clearing.
_ATTRS_CACHE: dict[tuple[tuple[str, str], ...], str] = {}
_ATTRS_CACHE_SIZE = 100_000


def _signal_attrs_json(attrs: Mapping[str, str]) -> str:
    key = tuple(attrs.items())
    text = _ATTRS_CACHE.get(key)
    if text is None:
        if len(_ATTRS_CACHE) >= _ATTRS_CACHE_SIZE:
            _ATTRS_CACHE.clear()
        text = _ATTRS_CACHE[key] = attrs_json(attrs)
    return text


#: The columns that identify a signal: event ids are scoped per client (the table's primary key).
SIGNAL_KEY = ("client", "event_id")
#: Signal columns whose stored values decide ``unchanged`` vs ``updated`` (not ``ingested_at``).
SIGNAL_PAYLOAD = ("kind", "ts", "end_ts", "value", "attrs", "source")
#: Signal columns written only when a key is first inserted (the first value stays).
SIGNAL_FIRST = ("recorded_at",)
CLIENT_PAYLOAD = (
    "name", "segment", "owner_name", "owner_email", "owner_locale", "attrs", "timezone",
)  # fmt: skip


def signal_params(signal: StoredSignal) -> dict[str, Any]:
    """A signal as a row of the ``signals`` table, without ``ingested_at``; ``recorded_at`` is None
    when the signal has none (the writer stamps it on insert).

    A NaN value becomes NULL: NaN means absent, and SQLite would store it as NULL anyway.
    """
    value = signal.value
    recorded = signal.recorded_at
    return {
        "event_id": signal.event_id,
        "client": signal.client,
        "kind": signal.kind,
        "ts": epoch(signal.ts),
        "end_ts": None if signal.end is None else epoch(signal.end),
        "value": None if value is None or math.isnan(value) else value,
        "attrs": _signal_attrs_json(signal.attrs),
        "source": signal.source,
        "recorded_at": None if recorded is None else epoch(recorded),
    }


def next_seq(connection: Connection, table: Table = schema.signals) -> int:
    """The change-feed number for the next write to ``table`` (call it holding the write lock)."""
    return int(connection.execute(select(func.coalesce(func.max(table.c.seq), 0) + 1)).scalar_one())


def client_params(client: Client) -> dict[str, Any]:
    """A client as a row of the ``clients`` table, without ``updated_at``."""
    owner = client.owner
    return {
        "id": client.id,
        "name": client.name,
        "segment": client.segment,
        "owner_name": owner.name if owner else None,
        "owner_email": owner.email if owner else None,
        "owner_locale": owner.locale if owner else None,
        "attrs": attrs_json(client.attrs),
        "timezone": client.timezone,
    }


class StoreWriter:
    """Upserts inside one open transaction (see ``Store.writing``); not shared between threads.

    ``discard()`` makes the transaction roll back instead of commit when the block ends, which a
    dry run uses to learn what an import would do without keeping it.
    """

    def __init__(self, connection: Connection, clock: Callable[[], datetime]) -> None:
        self._connection = connection
        self._clock = clock
        self.discarded = False

    def upsert_signals(self, signals: Sequence[StoredSignal]) -> UpsertResult:
        """Insert new signals, update changed ones, by ``(client, event_id)``; statuses in input
        order. Another client's signal with the same ``event_id`` is never read or written."""
        return self.upsert_signal_params([signal_params(s) for s in signals])

    def upsert_signal_params(self, params: Sequence[dict[str, Any]]) -> UpsertResult:
        """``upsert_signals`` for rows already made by ``signal_params`` (the importer's path)."""
        now = self._clock().timestamp()
        # The change feed's number: taken under the write lock held until commit, so numbers are
        # committed in order and a reader of ``seq > last`` never misses a late commit.
        stamp = {"ingested_at": now, "seq": next_seq(self._connection)}
        # Signals are text and float columns only, so they may skip SQLAlchemy's per-row work.
        return _upsert(
            self._connection, schema.signals, params,
            key=SIGNAL_KEY, payload=SIGNAL_PAYLOAD, stamp=stamp, via_driver=True,
            first={"recorded_at": now},
        )  # fmt: skip

    def upsert_clients(self, clients: Sequence[Client]) -> UpsertResult:
        """Insert new clients, update changed ones, by ``id``; statuses in input order."""
        params = [client_params(c) for c in clients]
        stamp = {"updated_at": self._clock(), "seq": next_seq(self._connection, schema.clients)}
        return _upsert(
            self._connection, schema.clients, params,
            key=("id",), payload=CLIENT_PAYLOAD, stamp=stamp, via_driver=False,
        )  # fmt: skip

    def discard(self) -> None:
        """Roll the whole transaction back at the end of the block instead of committing it."""
        self.discarded = True


_ABSENT: Any = object()


def _upsert(
    connection: Connection,
    table: Table,
    params: Sequence[dict[str, Any]],
    *,
    key: tuple[str, ...],
    payload: tuple[str, ...],
    stamp: Mapping[str, Any],
    via_driver: bool,
    first: Mapping[str, Any] | None = None,
) -> UpsertResult:
    """Classify ``params`` against the stored rows (and earlier items of the same batch), then
    insert the new keys and update the changed ones, each with its last payload. ``key`` names
    the columns that together identify a row. ``via_driver`` sends the writes through
    ``signals.dbapi`` (only for tables without type processing).

    ``first`` maps columns written only on insert to their default (used where an item gives
    None); they take no part in classifying, and the first item of a new key gives them."""
    first = first or {}
    key_of = _key_getter(key)
    current = _stored_payloads(connection, table, key, [key_of(p) for p in params], payload)
    stored = set(current)
    changed: dict[tuple[Any, ...], dict[str, Any]] = {}
    statuses: list[UpsertStatus] = []
    payload_of = itemgetter(*payload)  # a tuple of the payload columns, at C speed
    for row in params:
        identity = key_of(row)
        values = payload_of(row)
        before = current.get(identity, _ABSENT)
        if before == values:
            statuses.append("unchanged")
            continue
        statuses.append("inserted" if before is _ABSENT else "updated")
        current[identity] = values
        earlier = changed.get(identity)
        # a key seen earlier in this batch keeps the values its first item gave
        kept = {c: earlier[c] for c in first} if earlier is not None else {}
        changed[identity] = {**row, **kept} if kept else row
    inserts = [
        {**row, **stamp, **{c: default for c, default in first.items() if row.get(c) is None}}
        for k, row in changed.items()
        if k not in stored
    ]
    keyed = {f"_key_{c}": i for i, c in enumerate(key)}
    updates = [
        {**row, **stamp, **{name: k[i] for name, i in keyed.items()}}
        for k, row in changed.items()
        if k in stored
    ]
    inserted = [*key, *payload, *first, *stamp]
    updated = [*payload, *stamp]
    modify = update(table).where(*(table.c[c] == bindparam(f"_key_{c}") for c in key))
    modify = modify.values({c: bindparam(c) for c in updated})
    for statement, rows, columns in (
        (insert(table), inserts, inserted),
        (modify, updates, updated),
    ):
        if not rows:
            continue
        if via_driver:
            execute_many(connection, statement, rows, columns)
        else:
            connection.execute(statement, rows)
    return UpsertResult.of(statuses)


def _key_getter(key: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function giving a row's key as a tuple, also for a key of one column."""
    if len(key) == 1:
        column = key[0]
        return lambda row: (row[column],)
    return itemgetter(*key)


def _stored_payloads(
    connection: Connection,
    table: Table,
    key: tuple[str, ...],
    keys: Sequence[tuple[Any, ...]],
    payload: tuple[str, ...],
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """``{key tuple: payload tuple}`` of the stored rows among ``keys``.

    Selected with one ``IN`` list per key column, which every backend answers from the primary
    key (SQLite scans the whole table for a row-value ``IN``); the few extra rows such a cross
    product may match are dropped here, so nothing outside ``keys`` is returned."""
    distinct = list(dict.fromkeys(keys))
    wanted = set(distinct)
    width = len(key)
    columns: list[Any] = [*(table.c[c] for c in key), *(table.c[c] for c in payload)]
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for chunk in _chunks(distinct, _LOOKUP_CHUNK // width):
        where = [table.c[c].in_(sorted({k[i] for k in chunk})) for i, c in enumerate(key)]
        for row in connection.execute(select(*columns).where(*where)):
            identity = tuple(row[:width])
            if identity in wanted:
                found[identity] = tuple(row[width:])
    return found


def _chunks(items: Sequence[tuple[Any, ...]], size: int) -> Iterator[Sequence[tuple[Any, ...]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def signal_params_unchanged(connection: Connection, params: Sequence[dict[str, Any]]) -> bool:
    """Whether every row of ``params`` (``signal_params``) is stored with exactly its payload.

    A read, no lock: a batched import skips the write transaction of a batch that would change
    nothing (an unchanged re-import then never blocks another writer). A batch found changed is
    classified again under the lock by ``upsert_signal_params``, so a race only costs a lock.
    """
    key_of = _key_getter(SIGNAL_KEY)
    current = _stored_payloads(
        connection, schema.signals, SIGNAL_KEY, [key_of(p) for p in params], SIGNAL_PAYLOAD
    )
    payload_of = itemgetter(*SIGNAL_PAYLOAD)
    return all(current.get(key_of(row), _ABSENT) == payload_of(row) for row in params)
