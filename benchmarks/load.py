"""``python -m benchmarks.load``: ways to read the signal table into the scorer's arrays.

The same N clients × 100 events (``benchmarks.data``) in SQLite and in PostgreSQL, read whole
(``signals.loading.signals_query(None, None)``, the cold load's query without its bounds) into
one ``SignalSet`` by each method, every method checked to build the very same arrays:

* ``sqlalchemy_rows``: ``Connection.execute`` → SQLAlchemy ``Row`` objects → ``SignalSetBuilder``;
* ``dbapi_tuples``: the driver's own cursor, ``fetchmany`` tuples (kept for SQLite's one-shot bulk
  loads and every small load);
* ``two_processes`` (SQLite; kept for the service's memory builds, ``signals/sqlite_reader.py``):
  the cursor here and in a worker process, half the table each by rowid;
* ``copy_text`` / ``copy_binary`` (PostgreSQL): ``COPY (SELECT …) TO STDOUT`` through psycopg,
  rows decoded one by one by psycopg's ``Copy.rows()``;
* ``adbc_columns`` (PostgreSQL; kept for its bulk loads, ``signals/arrow_reader.py``): the ADBC
  driver → Arrow columns, text dictionary-encoded by pyarrow → ``add_encoded``;
* ``adbc_sqlite_columns``: the same through ``adbc-driver-sqlite``, measured only when it is
  installed — it is not a dependency: it bundles a second SQLite library, which must not share a
  process with the store's (see ``signals/arrow_reader.py``).

Rows per second are the median of ``--repeat`` reads. Merged into ``benchmarks/results.json``
under ``serve.load_methods``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from benchmarks.book import fill, libpq
from benchmarks.serve import RESULTS, postgres_url
from rapport.engine.frame import Categorical, ClientSet, SignalSet
from rapport.signals import loading
from rapport.signals.arrow_reader import add_table
from rapport.signals.columnar import SignalSetBuilder
from rapport.signals.dbapi import compiled_sql, driver_cursor, fetch_into
from rapport.signals.sqlite_reader import SplitReader, largest_rowid_query
from rapport.signals.store import Store

CHUNK = 65_536


def sql_text(store: Store) -> str:
    with store._engine.connect() as connection:
        statement = loading.signals_query(None, None)
        return str(compiled_sql(connection, statement, compile_kwargs={"literal_binds": True}))


def sqlalchemy_rows(store: Store, url: str, clients: ClientSet) -> SignalSet:
    builder = SignalSetBuilder(clients)
    with store._engine.connect() as connection:
        result = connection.execute(loading.signals_query(None, None))
        while chunk := result.fetchmany(CHUNK):
            builder.add(chunk)
    return builder.build()


def dbapi_tuples(store: Store, url: str, clients: ClientSet) -> SignalSet:
    return store._load(clients, [loading.signals_query(None, None)], bulk=False).build()


def two_processes(store: Store, url: str, clients: ClientSet) -> SignalSet:
    """The cursor here and in a worker process, half the table each by rowid, as SQLite's
    memory builds read (``Store.memory_build``, ``signals/sqlite_reader.py``)."""
    split = SplitReader.of(store._engine.url)
    assert split is not None, "needs a SQLite file and two usable cores"
    builder, upper = SignalSetBuilder(clients), SignalSetBuilder(clients)
    with store._reading() as connection, driver_cursor(connection) as cursor:
        largest = int(cursor.execute(largest_rowid_query()).fetchone()[0])
        statements = [loading.signals_query(None, None)]
        with split.halves(clients, statements, largest, store._sql) as halves:
            fetch_into(upper, cursor, halves.here)
            read = halves.result()
    assert read is not None, "the worker failed"
    builder.add_columns(read.columns)
    builder.add_columns(upper.columns())
    return builder.build()


def adbc_columns(store: Store, url: str, clients: ClientSet) -> SignalSet:
    return store._load(clients, [loading.signals_query(None, None)], bulk=True).build()


def _copy(url: str, sql: str, clients: ClientSet, binary: bool) -> SignalSet:
    builder = SignalSetBuilder(clients)
    form = " (FORMAT BINARY)" if binary else ""
    with (
        psycopg.connect(libpq(url)) as db,
        db.cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT{form}") as copy,
    ):
        copy.set_types(["text", "text", "float8", "float8", "float8", "text", "float8"])
        chunk: list[Any] = []
        for row in copy.rows():
            chunk.append(row)
            if len(chunk) == CHUNK:
                builder.add(chunk)
                chunk = []
        builder.add(chunk)
    return builder.build()


def adbc_sqlite_columns(store: Store, url: str, clients: ClientSet) -> SignalSet:
    # Imported by name: the driver is not installed with Rapport (see the module docstring).
    adbc = importlib.import_module("adbc_driver_sqlite.dbapi")
    builder = SignalSetBuilder(clients)
    with adbc.connect(url.removeprefix("sqlite:///")) as db, db.cursor() as cursor:
        # It infers a column's type from its first batch: one batch sees every row.
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "100000000"})
        cursor.execute(sql_text(store))
        add_table(builder, cursor.fetch_arrow_table())
    return builder.build()


def methods(url: str) -> dict[str, Callable[[Store, str, ClientSet], SignalSet]]:
    found: dict[str, Callable[[Store, str, ClientSet], SignalSet]] = {
        "sqlalchemy_rows": sqlalchemy_rows,
        "dbapi_tuples": dbapi_tuples,
    }
    if not url.startswith("sqlite"):
        found["copy_text"] = lambda s, u, c: _copy(u, sql_text(s), c, binary=False)
        found["copy_binary"] = lambda s, u, c: _copy(u, sql_text(s), c, binary=True)
        found["adbc_columns"] = adbc_columns
    else:
        found["two_processes"] = two_processes
        if importlib.util.find_spec("adbc_driver_sqlite") is not None:
            found["adbc_sqlite_columns"] = adbc_sqlite_columns
    return found


def same(a: SignalSet, b: SignalSet) -> bool:
    if sorted(a.kinds) != sorted(b.kinds):
        return False
    for kind, fa in a.kinds.items():
        fb = b.kinds[kind]
        arrays = ("client", "ts", "end", "value", "recorded")
        if any(not np.array_equal(getattr(fa, n), getattr(fb, n), equal_nan=True) for n in arrays):
            return False
        if {n: _texts(c) for n, c in fa.attrs.items()} != {
            n: _texts(c) for n, c in fb.attrs.items()
        }:
            return False
    return True


def _texts(categorical: Categorical) -> list[str | None]:
    return np.asarray([*categorical.categories, None], dtype=object)[categorical.codes].tolist()


def measure(url: str, clients: int, repeat: int) -> dict[str, Any]:
    with Store.open(url) as store:
        client_set, _, _ = fill(store, url, clients)
        rows = sum(len(f) for f in store.signal_set(client_set).kinds.values())
        figures: dict[str, Any] = {"rows": rows}
        reference = None
        for name, method in methods(url).items():
            seconds = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                loaded = method(store, url, client_set)
                seconds.append(time.perf_counter() - t0)
            reference = reference or loaded
            assert same(reference, loaded), f"{name} built different arrays"
            figures[name] = rows / statistics.median(seconds)
            print(f"  {name:<16} {figures[name]:>12,.0f} rows/s")
            del loaded
    return figures


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'load.db'}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=20_000, help="clients (100 events each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for backend in args.backends.split(","):
        print(f"\n{backend}: {args.clients:,} clients")
        with sqlite_url() if backend == "sqlite" else postgres_url() as url:
            figures[backend] = measure(url, args.clients, args.repeat)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged.setdefault("serve", {})["load_methods"] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "clients": args.clients,
        "unit": "rows/s, whole-table read into a SignalSet, median",
        **figures,
    }
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
