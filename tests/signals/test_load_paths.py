"""The store's load paths (``Store._load``: the driver's own tuples, and Arrow columns through ADBC
for bulk loads) build exactly the arrays that SQLAlchemy's rows build, on both backends: full
loads, bounded loads with anchors and the service's memory loads, with NULL ends and values,
attributes that need escaping and clients outside the scored set. (``benchmarks/load.py`` holds
every reader it measures to the same.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from rapport.engine.frame import Categorical, ClientSet, SignalSet
from rapport.engine.lookback import KindReach
from rapport.signals import loading
from rapport.signals.arrow_reader import ArrowSource
from rapport.signals.columnar import SignalSetBuilder
from rapport.signals.model import Client, StoredSignal
from rapport.signals.store import Store, StoreError
from rapport.signals.writer import epoch

AT = datetime(2026, 6, 30, tzinfo=UTC)
DAY = timedelta(days=1)
REACH = {
    "incident": KindReach(seconds=30 * 86400.0, open_before=True, anchor=True),
    "response_time": KindReach(seconds=7 * 86400.0, open_before=False, anchor=True),
    "survey": KindReach(seconds=None, open_before=False, anchor=False),
}
ATTRS = [{}, {"channel": "email"}, {"note": 'tab\there "quoted" back\\slash\nnewline é ✓'}]


def _signals() -> list[StoredSignal]:
    out = []
    for i in range(240):
        kind = ("incident", "response_time", "survey", "milestone")[i % 4]
        ts = AT - (i % 60) * DAY - timedelta(seconds=i * 37.25)
        out.append(
            StoredSignal(
                event_id=f"e{i}",
                client=("a", "b", "c", "gone")[i % 7 % 4],
                kind=kind,
                ts=ts,
                end=None if i % 3 == 0 else ts + timedelta(hours=i % 11, microseconds=125),
                value=None if i % 5 == 0 else i * 0.1 - 3.0,
                attrs=ATTRS[i % 3],
                source="test",
                recorded_at=ts + timedelta(hours=i % 13),
            )
        )
    return out


def _texts(categorical: Categorical) -> list[str | None]:
    return np.asarray([*categorical.categories, None], dtype=object)[categorical.codes].tolist()


def through_sqlalchemy(store: Store, clients: ClientSet, statements: list[Any]) -> SignalSet:
    """The path before: ``Connection.execute``'s ``Row`` objects into the same builder."""
    builder = SignalSetBuilder(clients)
    with store._reading() as connection:
        for statement in statements:
            builder.add(connection.execute(statement).all())
    return builder.build()


def assert_identical(a: SignalSet, b: SignalSet) -> None:
    assert sorted(a.kinds) == sorted(b.kinds)
    for kind, fa in a.kinds.items():
        fb = b.kinds[kind]
        for name in ("client", "ts", "end", "value", "recorded"):
            x, y = getattr(fa, name), getattr(fb, name)
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), (kind, name)
        assert sorted(fa.attrs) == sorted(fb.attrs)
        for name, categorical in fa.attrs.items():
            assert categorical.categories == fb.attrs[name].categories, (kind, name)
            assert np.array_equal(categorical.codes, fb.attrs[name].codes), (kind, name)


def test_driver_tuples_and_sqlalchemy_rows_build_the_same_arrays(store: Store) -> None:
    store.upsert_clients([Client(id=c, name=c) for c in ("a", "b", "c")])
    store.upsert_signals(_signals())
    clients = store.client_set()
    until = epoch(AT)
    queries = [
        [loading.signals_query(None, None)],
        [loading.signals_query(until, REACH)]
        + [
            loading.anchors_query(k, until - r.seconds, until)
            for k, r in sorted(REACH.items())
            if r.anchor and r.seconds is not None
        ],
        [
            *loading.memory_queries(REACH, until, {kind: ["a", "c"] for kind in REACH}),
            loading.memory_anchors_query("incident", until - 30 * 86400.0, ["a", "c"]),
        ],
        loading.memory_queries(REACH, until),
    ]
    for statements in queries:
        fetched = through_sqlalchemy(store, clients, statements)
        assert sum(len(f) for f in fetched.kinds.values()) > 0
        for bulk in (False, True):
            assert_identical(store._load(clients, statements, bulk=bulk).build(), fetched)
    # and the public entry points go through it
    assert_identical(
        store.signal_set(clients, until=AT, reach=REACH),
        through_sqlalchemy(store, clients, queries[1]),
    )


def test_bulk_loads_read_arrow_columns_from_postgresql_only(store: Store) -> None:
    # SQLite's ADBC driver bundles a second SQLite library: never beside the store's own.
    source = ArrowSource.of(store._engine.url)
    assert (source is not None) == (store.backend == "postgresql")


def test_a_column_null_in_every_row_reads_as_nan_through_arrow(store: Store) -> None:
    store.upsert_clients([Client(id="a", name="a")])
    store.upsert_signals(
        [
            StoredSignal(event_id=f"m{i}", client="a", kind="milestone", ts=AT - i * DAY,
                         source="test")
            for i in range(3)
        ]
    )  # fmt: skip
    statements = [loading.signals_query(None, None)]
    clients = store.client_set()
    bulk = store._load(clients, statements, bulk=True).build()
    assert_identical(bulk, through_sqlalchemy(store, clients, statements))
    frame = bulk.kinds["milestone"]
    assert np.isnan(frame.value).all() and np.isnan(frame.end).all()


def test_an_in_memory_store_loads_through_its_own_connection() -> None:
    with Store.open("sqlite://") as store:
        store.upsert_clients([Client(id=c, name=c) for c in ("a", "b", "c")])
        store.upsert_signals(_signals())
        clients = store.client_set()
        statements = [loading.signals_query(None, None)]
        assert_identical(
            store._load(clients, statements, bulk=True).build(),
            through_sqlalchemy(store, clients, statements),
        )


def test_an_unreadable_bulk_load_is_a_store_error_naming_the_url(store: Store) -> None:
    store.upsert_clients([Client(id="a", name="a")])
    with store._engine.begin() as connection:
        connection.execute(text("DROP TABLE signals"))
    with pytest.raises(StoreError, match=r"Cannot read from the store at .*signals"):
        store.signal_set(store.client_set())
