"""Bulk signal loads from SQLite in two processes, a part of the store.

Through the stdlib cursor every value becomes a Python object before numpy sees it (~3 µs a row
with the builder); at 100k clients the arrays ``rapport serve`` keeps are 3M rows, most of its cold
start, and bound by one core: threads share the GIL (a second reader thread slowed the load from
9 s to 15 s). So the table is read in two halves by rowid — each half one range of the table's
own b-tree — this process reading one and a worker process the other into a builder of its own,
whose columns come back as numpy arrays (``SignalSetBuilder.columns``).

The worker is a new interpreter running this module (``python -m``), not a fork: no connection of
this process crosses into it (sqlite.org/howtocorrupt.html §2.6), and unlike ``multiprocessing``'s
spawn it does not import the caller's main script again. It opens the file read-only with the same
stdlib SQLite, so the two processes lock as any two readers do (unlike a second SQLite library in
one process: see ``signals.arrow_reader``). Its request and answer are pickles on its stdin and
stdout, between two processes of this program. If it fails in any way its half is read here, where
a real database error surfaces as it would without a worker.

The halves are two read transactions, so a write may land between them: only a load that is
repaired afterwards may be read this way — the memory build (``signals.memory``), whose next sync
reads again everything written after the change-feed position it took before the load. Tables
under ``MIN_ROWS`` rows, one usable core, or an in-memory database: read in one piece.
"""

from __future__ import annotations

import logging
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, ColumnClause, Integer, Select, literal_column

from rapport.engine.frame import ClientSet
from rapport.signals.columnar import Columns, SignalSetBuilder
from rapport.signals.dbapi import fetch_into

log = logging.getLogger("rapport.store")

#: Below this many rows a worker's start (~0.5 s: a new interpreter importing numpy) costs more
#: than reading half the rows saves.
MIN_ROWS = 500_000
#: How long a worker may take before its half is read here instead.
WORKER_TIMEOUT_S = 600.0
_rowid: ColumnClause[int] = literal_column("signals.rowid", Integer)


@dataclass(frozen=True)
class Read:
    """What a worker read: the rows of its half as columns, and each of its other queries'
    rows."""

    columns: Columns
    rows: list[list[tuple[Any, ...]]]


@dataclass
class Halves:
    """A load split in two: ``here`` is this process's SQL, ``there`` the worker's half and
    ``extra`` the worker's other queries."""

    here: list[str]
    there: list[str]
    extra: list[str]
    process: subprocess.Popen[bytes] | None

    def result(self) -> Read | None:
        """What the worker read, once it is done; None if it failed (read it here instead)."""
        if self.process is None:
            return None
        try:
            out, _ = self.process.communicate(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _stop(self.process)
            log.warning(
                "the reading process took over %.0f s; reading its part here", WORKER_TIMEOUT_S
            )
            return None
        if self.process.returncode != 0:
            log.warning(
                "the reading process failed (exit %s); reading its part here",
                self.process.returncode,
            )
            return None
        read: Read = pickle.loads(out)
        return read


@dataclass(frozen=True)
class SplitReader:
    """A SQLite store file whose bulk loads may be read in two processes."""

    path: Path

    @classmethod
    def of(cls, url: URL) -> SplitReader | None:
        """The reader for a store URL: a SQLite database file, on a machine with two usable
        cores; None otherwise."""
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return None
        if database.startswith("file:") or url.query.get("mode") == "memory":
            return None
        if usable_cores() < 2:
            return None
        return cls(Path(database).absolute())

    def worth_it(self, rows: int) -> bool:
        """Whether a table whose largest rowid is ``rows`` is read in two processes."""
        return rows >= MIN_ROWS

    @contextmanager
    def halves(
        self,
        clients: ClientSet,
        statements: Sequence[Select[Any]],
        rows: int,
        render: Callable[[Select[Any]], str],
        extra: Sequence[Select[Any]] = (),
    ) -> Iterator[Halves]:
        """Start a worker reading the rows of ``statements`` with rowid ≤ ``rows // 2``
        (``rows``: the table's largest rowid), then the queries ``extra``; ``render`` compiles a
        statement to SQL text with its parameters bound as literals. The worker is stopped when
        the block ends."""
        middle = rows // 2
        halves = Halves(
            here=[render(s.where(_rowid > middle)) for s in statements],
            there=[render(s.where(_rowid <= middle)) for s in statements],
            extra=[render(s) for s in extra],
            process=None,
        )
        # The request from a file, not a pipe: writing it never waits for the worker to start.
        with tempfile.TemporaryFile() as request:
            pickle.dump((str(self.path), clients, halves.there, halves.extra), request)
            request.seek(0)
            try:
                halves.process = subprocess.Popen(
                    [sys.executable, "-m", __name__], stdin=request, stdout=subprocess.PIPE
                )
            except OSError as error:  # no process to be had
                log.warning("reading all signals in one process: %s", error)
            else:
                log.debug("reading rows up to rowid %d in process %d", middle, halves.process.pid)
        try:
            yield halves
        finally:
            _stop(halves.process)


def usable_cores() -> int:
    """The cores this process may run on (all of the machine's where the OS cannot say)."""
    if hasattr(os, "sched_getaffinity"):  # not on macOS
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.communicate()


def read_part(path: str, clients: ClientSet, sql: Sequence[str], extra: Sequence[str]) -> Read:
    """The rows of the queries ``sql`` (``signals.loading``'s columns) into a builder of
    ``clients``, as columns, and the rows of the queries ``extra``, read from the database file
    at ``path`` opened read-only."""
    builder = SignalSetBuilder(clients)
    uri = Path(path).as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30.0)) as connection:
        cursor = connection.cursor()
        fetch_into(builder, cursor, sql)
        rows = [cursor.execute(text).fetchall() for text in extra]
    return Read(builder.columns(), rows)


def largest_rowid_query() -> str:
    """The table's largest rowid (0 when empty): the far end of its b-tree, read in O(log n)."""
    return "SELECT coalesce(max(rowid), 0) FROM signals"


def _worker() -> None:
    path, clients, sql, extra = pickle.load(sys.stdin.buffer)
    pickle.dump(read_part(path, clients, sql, extra), sys.stdout.buffer, pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    # By the module's own name, so that what it pickles names rapport.signals.sqlite_reader.
    from rapport.signals import sqlite_reader

    sqlite_reader._worker()
