"""The synthetic book (``benchmarks.data``) in a real store, as fast as the database takes it.

The benchmarks that measure reading a store (``benchmarks.load``, ``benchmarks.serve``) need
millions of stored signals; the writer's upsert path (measured by ``benchmarks.bench_api`` and the
import benchmarks) is not what they measure, so the rows go straight into the ``signals`` table:
``executemany`` on SQLite, ``COPY`` on PostgreSQL, with the table's secondary indexes dropped for
the load and created again afterwards from their own stored definitions (building an index once is
several times faster than maintaining it row by row). Rows are generated and written in chunks, so
10M events never sit in memory as Python objects.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg

from benchmarks.data import synthetic_signals
from rapport.engine.frame import ClientSet, SignalSet
from rapport.signals.model import Client
from rapport.signals.store import Store

CHUNK = 100_000
COLUMNS = ("event_id", "client", "kind", "ts", "end_ts", "value", "attrs", "source",
           "ingested_at", "recorded_at", "seq")  # fmt: skip
# One bulk import: every row carries the same change-feed number, as one upsert transaction does.
SEQ = 1


def signal_rows(ids: tuple[str, ...], signals: SignalSet) -> Iterator[list[tuple[Any, ...]]]:
    """Every synthetic event as a ``signals`` row (known as it happened), ``CHUNK`` at a time."""
    client_ids = np.asarray(ids, dtype=object)
    for kind, frame in signals.kinds.items():
        # Each kind has at most one attribute: its row's JSON is one of a few texts.
        names = sorted(frame.attrs)
        texts = _attrs_texts(frame, names)
        for start in range(0, len(frame), CHUNK):
            stop = min(start + CHUNK, len(frame))
            ts = frame.ts[start:stop].tolist()
            end = _nullable(frame.end[start:stop])
            value = _nullable(frame.value[start:stop])
            attrs = texts[start:stop].tolist()
            clients = client_ids[frame.client[start:stop]].tolist()
            yield [
                (f"{kind}:{start + i}", clients[i], kind, ts[i], end[i], value[i], attrs[i],
                 "bench", ts[i], ts[i], SEQ)
                for i in range(stop - start)
            ]  # fmt: skip


def _attrs_texts(frame: Any, names: list[str]) -> np.ndarray:
    if not names:
        return np.full(len(frame), "{}", dtype=object)
    if len(names) > 1:
        raise ValueError("the synthetic book has one attribute per kind")
    categorical = frame.attrs[names[0]]
    lut = np.asarray(
        [json.dumps({names[0]: c}, separators=(",", ":")) for c in categorical.categories],
        dtype=object,
    )
    return lut[categorical.codes]


def _nullable(column: np.ndarray) -> list[float | None]:
    values: list[float | None] = column.tolist()
    for i in np.flatnonzero(np.isnan(column)).tolist():
        values[i] = None
    return values


def fill(
    store: Store, url: str, clients: int, *, seed: int = 7
) -> tuple[ClientSet, int, SignalSet]:
    """``clients`` × 100 synthetic events into an empty store; the client set, the row count and
    the events as the scorer's arrays."""
    ids, signals = synthetic_signals(clients, seed=seed)
    store.upsert_clients([Client(id=c, name=c) for c in ids.ids])
    if url.startswith("sqlite"):
        rows = _fill_sqlite(url.removeprefix("sqlite:///"), ids.ids, signals)
    else:
        rows = _fill_postgresql(libpq(url), ids.ids, signals)
    return store.client_set(), rows, signals


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _fill_sqlite(path: str, ids: tuple[str, ...], signals: SignalSet) -> int:
    insert = f"INSERT INTO signals ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        indexes = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'signals' "
            "AND sql IS NOT NULL"
        ).fetchall()
        db.execute("BEGIN")
        for name, _ in indexes:
            db.execute(f'DROP INDEX "{name}"')
        rows = 0
        for chunk in signal_rows(ids, signals):
            db.executemany(insert, chunk)
            rows += len(chunk)
        for _, sql in indexes:
            db.execute(sql)
        db.execute("COMMIT")
        db.execute("ANALYZE")
    finally:
        db.close()
    return rows


def _fill_postgresql(dsn: str, ids: tuple[str, ...], signals: SignalSet) -> int:
    with psycopg.connect(dsn) as db, db.cursor() as cursor:
        indexes = cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'signals' "
            "AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname)"
        ).fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        rows = 0
        with cursor.copy(f"COPY signals ({','.join(COLUMNS)}) FROM STDIN") as copy:
            for chunk in signal_rows(ids, signals):
                for row in chunk:
                    copy.write_row(row)
                rows += len(chunk)
        for _, sql in indexes:
            cursor.execute(sql)
        db.commit()
        cursor.execute("ANALYZE signals")
    return rows
