"""The store: clients registry, signals and score history in SQLite or PostgreSQL.

``Store.open(url)`` creates the SQLite file's directory if needed, migrates the schema to the
newest revision (Alembic, configured in code) and returns a ready store. Every failure to reach or
use the database is a ``StoreError`` naming the URL (password masked) and the cause; a user never
sees a driver traceback.

The store is this module plus a few focused ones, each a part of it: ``database`` (connecting),
``schema`` (the tables), ``writer`` (upserts), ``history`` (score rows and queries),
``collector_state`` (cursors and the run log), ``idempotency`` (remembered API responses) and
``locks`` (the collector leader's lock). Only they hold SQL or touch the SQLAlchemy engine
(``tests/signals/test_boundary.py`` checks); everyone else calls them. Every write, theirs
included, takes the store's write lock: ``BEGIN IMMEDIATE`` on SQLite, a transaction-level
advisory lock on PostgreSQL, so that a classify-then-write is not interleaved with another writer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import adbc_driver_manager
import numpy as np
import numpy.typing as npt
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, RootTransaction, RowMapping, delete, func, select, text
from sqlalchemy.exc import DBAPIError

from rapport.engine.frame import ClientSet, SignalSet
from rapport.engine.lookback import KindReach
from rapport.engine.result import ClientScore, Evaluation
from rapport.signals import history, loading, schema
from rapport.signals.arrow_reader import ArrowSource
from rapport.signals.columnar import SignalSetBuilder
from rapport.signals.database import StoreError, cause_of, create_store_engine, parse_url
from rapport.signals.dbapi import driver_cursor, fetch_into
from rapport.signals.model import Client, Owner, StoredSignal
from rapport.signals.past_scores import PastScores
from rapport.signals.sqlite_reader import SplitReader, largest_rowid_query
from rapport.signals.urls import mask_url
from rapport.signals.writer import (
    StoreWriter,
    UpsertResult,
    UpsertStatus,
    epoch,
    signal_params_unchanged,
)

__all__ = ["DEFAULT_URL", "Store", "StoreError", "StoreWriter", "UpsertResult"]

#: The CLI's default: a SQLite file under ./data, relative to the working directory.
DEFAULT_URL = "sqlite:///data/rapport.db"

_MIGRATIONS = Path(__file__).with_name("migrations")
#: Key of the PostgreSQL advisory lock that serialises writers (and migrations): "RAPP".
_PG_WRITE_LOCK = 0x52415050
#: Rows per fetch when loading signals.
_LITERALS = {"literal_binds": True}
#: Keys per ``IN (...)`` list in deletes.
_DELETE_CHUNK = 500


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Clients, signals and scores in one database. Use ``Store.open``; close it when done (it is
    also a context manager). Safe to share between threads: every call takes its own connection.

    The store's own modules open connections through ``_reading()`` and ``_locked()``, which
    translate database errors into ``StoreError``; ``_engine`` is theirs too (tests read it to
    inspect tables behind the store's back). Nothing else may use any of the three.
    """

    def __init__(self, url: str, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._url = url
        self._engine = engine
        self._clock = clock
        self._past = PastScores()

    # --- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = _utc_now) -> Store:
        """Connect to ``url``, migrate its schema to the newest revision, and return the store.

        ``clock`` gives the ``ingested_at``/``updated_at``/``evaluated_at`` stamps (tests pass a
        fixed one). Raises ``StoreError`` if the URL is invalid or the database is unreachable.
        """
        parsed = parse_url(url)
        shown = mask_url(parsed.render_as_string(hide_password=True))
        store = cls(shown, create_store_engine(parsed, shown), clock)
        try:
            store._migrate()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def url(self) -> str:
        """The store's URL as given (``postgresql://`` rewritten to psycopg), password masked."""
        return self._url

    @property
    def backend(self) -> str:
        """The database's kind: ``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers a trivial query."""
        with self._reading() as connection:
            connection.execute(text("SELECT 1"))

    # --- connections and transactions -----------------------------------------------------------

    @contextmanager
    def _connection(self, action: str) -> Iterator[Connection]:
        """A connection; DBAPI errors become ``StoreError``s ("Cannot reach" if connecting failed,
        ``action`` if a statement did)."""
        try:
            connection = self._engine.connect()
        except DBAPIError as error:
            raise StoreError(self._url, cause_of(error)) from error
        with connection:
            try:
                yield connection
            except DBAPIError as error:
                raise StoreError(self._url, cause_of(error), action=action) from error

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._connection("Cannot read from") as connection:
            yield connection

    @contextmanager
    def _locked(self, action: str) -> Iterator[tuple[Connection, RootTransaction]]:
        """A connection inside a transaction that holds the store's write lock. The transaction
        commits when the block ends (unless already rolled back), rolls back if it raises."""
        with self._connection(action) as connection:
            connection.execution_options(rapport_write=True)  # SQLite: BEGIN IMMEDIATE
            with connection.begin() as transaction:
                if connection.dialect.name == "postgresql":
                    lock = text("SELECT pg_advisory_xact_lock(:key)")
                    connection.execute(lock, {"key": _PG_WRITE_LOCK})
                yield connection, transaction

    @contextmanager
    def writing(self) -> Iterator[StoreWriter]:
        """One write transaction for several upserts: all of them are kept, or none.

        The transaction commits when the block ends, unless the block raises or calls
        ``writer.discard()``. It holds the store's write lock, so keep it short in a server.
        """
        with self._locked("Cannot write to") as (connection, transaction):
            writer = StoreWriter(connection, self._clock)
            yield writer
            if writer.discarded:
                transaction.rollback()

    def _migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self._locked("Cannot migrate") as (connection, _):
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, "head")
            except CommandError as error:
                hint = "was it written by a newer Rapport? upgrade Rapport"
                raise StoreError(self._url, f"{error} ({hint})", action="Cannot migrate") from None

    # --- clients --------------------------------------------------------------------------------

    def upsert_clients(self, clients: Sequence[Client]) -> UpsertResult:
        """Insert new clients and update changed ones by ``id``, in one transaction."""
        with self.writing() as writer:
            return writer.upsert_clients(clients)

    def clients(self) -> list[Client]:
        """Every registered client, ordered by id."""
        with self._reading() as connection:
            rows = connection.execute(select(*_CLIENT_COLUMNS))
            # Sorted here, not in SQL: PostgreSQL's collation may order ids unlike Python does.
            return sorted((_client(row._mapping) for row in rows), key=lambda c: c.id)

    def registry_stamp(self) -> tuple[int, int]:
        """How many clients are registered and the newest write's number (``clients.seq``): it
        changes with every insert, delete or change of a client, so a reader may keep
        ``clients()`` while it holds."""
        with self._reading() as connection:
            return _registry_stamp(connection)

    def client(self, client_id: str) -> Client | None:
        """The client with id ``client_id``, or None if the registry does not know it."""
        table = schema.clients
        with self._reading() as connection:
            row = connection.execute(
                select(*_CLIENT_COLUMNS).where(table.c.id == client_id)
            ).first()
        return None if row is None else _client(row._mapping)

    def client_set(self) -> ClientSet:
        """All registered clients as the scorer's ``ClientSet``, ordered by id."""
        table = schema.clients
        with self._reading() as connection:
            rows = connection.execute(select(table.c.id, table.c.segment))
            pairs = sorted((row.id, row.segment) for row in rows)
        return ClientSet.of([p[0] for p in pairs], [p[1] for p in pairs])

    def remove_clients_except(
        self, keep: Collection[str], among: Collection[str] | None = None
    ) -> int:
        """Delete registered clients not in ``keep`` (only those in ``among`` when given), in one
        transaction; returns how many. Their signals and score history stay: a client registered
        again later gets them back."""
        table = schema.clients
        with self._locked("Cannot write to") as (connection, _):
            present = connection.execute(select(table.c.id)).scalars().all()
            doomed = [c for c in present if c not in keep and (among is None or c in among)]
            for start in range(0, len(doomed), _DELETE_CHUNK):  # bounded IN lists
                chunk = doomed[start : start + _DELETE_CHUNK]
                connection.execute(delete(table).where(table.c.id.in_(chunk)))
        return len(doomed)

    # --- signals --------------------------------------------------------------------------------

    def upsert_signals(self, signals: Sequence[StoredSignal]) -> UpsertResult:
        """Insert new signals and update changed ones by ``(client, event_id)``, in one
        transaction."""
        with self.writing() as writer:
            return writer.upsert_signals(signals)

    def upsert_signal_batches(
        self, params: Sequence[dict[str, Any]], *, batch_rows: int = 5000
    ) -> UpsertResult:
        """Upsert ``params`` (rows made by ``writer.signal_params``) in batches of ``batch_rows``,
        each in its own short write transaction, so that other writers wait at most one batch.

        Not atomic as a whole (validate everything before calling it); each batch is idempotent,
        so calling it again after an interruption completes the work. A batch already stored as
        given is only read, never locked. Counts and statuses cover every row, in order.
        """
        statuses: list[UpsertStatus] = []
        for start in range(0, len(params), batch_rows):
            batch = params[start : start + batch_rows]
            with self._reading() as connection:
                unchanged = signal_params_unchanged(connection, batch)
            if unchanged:
                statuses.extend(["unchanged"] * len(batch))
                continue
            with self.writing() as writer:
                statuses.extend(writer.upsert_signal_params(batch).statuses)
        return UpsertResult.of(statuses)

    def signal_set(
        self,
        clients: ClientSet,
        *,
        until: datetime | None = None,
        stale: Mapping[str, Iterable[str]] | None = None,
        covered: Mapping[str, Iterable[str]] | None = None,
        reach: Mapping[str, KindReach] | None = None,
    ) -> SignalSet:
        """The signals of ``clients`` (others are skipped) visible as of ``until`` (``ts <= until``
        and ``recorded_at <= until``) as the scorer's arrays, with their ``recorded_at``; within
        each kind, rows are ordered by client row, then ts. ``stale`` maps a kind to the client
        ids whose source for it is stale, ``covered`` to those a fresh collector of it maps. The
        engine applies the same visibility rule itself; this filter only saves loading rows it
        would not see. ``reach`` (``engine.lookback.reach_of``, needs ``until``) loads only what
        a scorecard can read as of ``until`` (``signals.loading``): it scores the same."""
        cutoff = None if until is None else epoch(until)
        statements = [loading.signals_query(cutoff, reach)]
        if reach is not None and cutoff is not None:
            statements += [
                loading.anchors_query(kind, cutoff - r.seconds, cutoff)
                for kind, r in sorted(reach.items())
                if r.anchor and r.seconds is not None
            ]
        return self._load(clients, statements, bulk=True).build(stale, covered)

    def memory_signals(
        self,
        clients: ClientSet,
        reach: Mapping[str, KindReach],
        built: datetime,
        only: Mapping[str, Collection[str]],
    ) -> SignalSet:
        """The signals ``signals.memory`` keeps (see ``memory_build``) of just the kinds
        ``only`` names, of just the clients it names for each."""
        since = epoch(built)
        statements = [
            *loading.memory_queries(reach, since, only),
            *_memory_anchors(reach, since, only),
        ]
        return self._load(clients, statements).build()

    def memory_build(
        self, clients: ClientSet, reach: Mapping[str, KindReach], built: datetime
    ) -> tuple[SignalSet, dict[tuple[str, str], datetime]]:
        """What ``signals.memory`` is built from: the signals of ``clients`` that evaluations as
        of ``built`` or later can read by ``reach``, whenever dated or recorded
        (``signals.loading.memory_queries``; no stale masks), and ``last_signal_times()``.

        On a SQLite file of enough rows a worker process reads half the rows and the newest
        times while this one reads the rest (``signals.sqlite_reader``): the two halves are two
        read transactions, which the memory's next sync repairs (it reads again whatever was
        written after the position it took before this)."""
        since = epoch(built)
        rows = loading.memory_queries(reach, since)
        anchors = _memory_anchors(reach, since, None)
        split = SplitReader.of(self._engine.url)
        if split is None:
            loaded = self._load(clients, [*rows, *anchors], bulk=True).build()
            return loaded, self.last_signal_times()
        return self._sqlite_memory_build(split, clients, rows, anchors)

    def _sqlite_memory_build(
        self, split: SplitReader, clients: ClientSet, rows: Sequence[Any], anchors: Sequence[Any]
    ) -> tuple[SignalSet, dict[tuple[str, str], datetime]]:
        builder, upper = SignalSetBuilder(clients), SignalSetBuilder(clients)
        last = loading.last_times_query(None, lateral=False)
        with self._reading() as connection, driver_cursor(connection) as cursor:
            largest = int(cursor.execute(largest_rowid_query()).fetchone()[0])
            if not split.worth_it(largest):
                fetch_into(builder, cursor, [self._sql(s) for s in (*rows, *anchors)])
                return builder.build(), _last_times(cursor.execute(self._sql(last)).fetchall())
            with split.halves(clients, rows, largest, self._sql, extra=[last]) as halves:
                fetch_into(upper, cursor, halves.here)
                anchored = SignalSetBuilder(clients)
                fetch_into(anchored, cursor, [self._sql(s) for s in anchors])
                read = halves.result()
            if read is None:  # the worker failed: its part read here, as in one piece
                fetch_into(builder, cursor, halves.there)
                newest = cursor.execute(halves.extra[0]).fetchall()
            else:
                builder.add_columns(read.columns)
                newest = read.rows[0]
        # In the order one piece is read (rowid order, then the anchors), so that rows tied on
        # (client, ts) keep the same order either way.
        builder.add_columns(upper.columns())
        builder.add_columns(anchored.columns())
        return builder.build(), _last_times(newest)

    def signal_feed_position(self) -> int:
        """The newest change-feed number (``signals.seq``; 0 for no signals)."""
        with self._reading() as connection:
            return int(connection.execute(loading.feed_position_query()).scalar_one())

    def signal_changes(self, after: int) -> tuple[dict[tuple[str, str], float], int]:
        """What was written since change-feed number ``after``: per ``(client, kind)`` the
        newest ``ts`` among the rows written (new or revised), and the newest number seen
        (``after`` when nothing was written)."""
        with self._reading() as connection:
            rows = connection.execute(loading.changes_query(after)).all()
        newest: dict[tuple[str, str], float] = {}
        for client, kind, ts, _ in rows:
            key = (client, kind)
            if ts > newest.get(key, -math.inf):
                newest[key] = ts
        return newest, max((seq for *_, seq in rows), default=after)

    def _load(
        self, clients: ClientSet, statements: Sequence[Any], *, bulk: bool = False
    ) -> SignalSetBuilder:
        """The rows of ``statements`` (``signals.loading``'s columns) in a builder. A ``bulk``
        load (every client) reads Arrow columns through ADBC where it can
        (``signals.arrow_reader``); any other, the driver's own cursor."""
        builder = SignalSetBuilder(clients)
        source = ArrowSource.of(self._engine.url) if bulk else None
        if source is not None:
            try:
                source.load([self._sql(s) for s in statements], builder)
            except adbc_driver_manager.Error as error:
                cause = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                raise StoreError(self._url, cause, action="Cannot read from") from error
            return builder
        with self._reading() as connection, driver_cursor(connection) as cursor:
            fetch_into(builder, cursor, [self._sql(s) for s in statements])
        return builder

    def _sql(self, statement: Any) -> str:
        # The parameters are floats, kind names and client ids, rendered as (quoted) literals.
        return str(statement.compile(dialect=self._engine.dialect, compile_kwargs=_LITERALS))

    def client_signals(
        self, client_id: str, kinds: Iterable[str], until: datetime
    ) -> list[StoredSignal]:
        """``client_id``'s signals of ``kinds`` visible as of ``until`` (``ts <= until`` and
        ``recorded_at <= until``), ordered by kind, then ts."""
        table = schema.signals
        cutoff = epoch(until)
        statement = (
            select(table)
            .where(
                table.c.kind.in_(sorted(set(kinds))),  # kind first: the index's leading column
                table.c.client == client_id,
                table.c.ts <= cutoff,
                table.c.recorded_at <= cutoff,
            )
            .order_by(table.c.kind, table.c.ts)
        )
        with self._reading() as connection:
            return [_signal(row._mapping) for row in connection.execute(statement)]

    def open_by_attr(self, kind: str, attr: str, as_of: datetime) -> dict[str, dict[str, int]]:
        """Per client with any ``kind`` signal known by ``as_of``: how many are open then (no
        ``end`` by ``as_of``), by the value of ``attr`` (absent: ``"none"``). A client with such
        signals but none open maps to ``{}`` — known to have none — while one without any is
        left out: nothing is known of it, which is not zero."""
        table = schema.signals
        cutoff = epoch(as_of)
        statement = select(table.c.client, table.c.end_ts, table.c.attrs).where(
            table.c.kind == kind, table.c.ts <= cutoff, table.c.recorded_at <= cutoff
        )
        counts: dict[str, dict[str, int]] = {}
        with self._reading() as connection:
            for client, end, attrs in connection.execute(statement):
                seen = counts.setdefault(client, {})
                if end is None or end > cutoff:
                    value = str(history.json_object(attrs).get(attr, "none"))
                    seen[value] = seen.get(value, 0) + 1
        return counts

    def signal_count(self) -> int:
        """How many signals are stored (of registered clients or not)."""
        with self._reading() as connection:
            return int(
                connection.execute(select(func.count()).select_from(schema.signals)).one()[0]
            )

    def is_empty(self) -> bool:
        """True when the store holds neither clients nor signals (a fresh install)."""
        with self._reading() as connection:
            for table in (schema.clients, schema.signals):
                if connection.execute(select(table).limit(1)).first() is not None:
                    return False
        return True

    def last_signal_times(
        self, only: Collection[str] | None = None
    ) -> dict[tuple[str, str], datetime]:
        """``(client, kind)`` → the latest ``ts`` stored for it (of the clients ``only``)."""
        statement = loading.last_times_query(only, lateral=self.backend == "postgresql")
        with self._reading() as connection:
            return _last_times(connection.execute(statement).all())

    # --- score history --------------------------------------------------------------------------

    def save_evaluation(
        self, evaluation: Evaluation, *, rows: npt.NDArray[np.intp] | None = None
    ) -> int:
        """Append the scores of ``evaluation``'s clients (of row indexes ``rows``; every client
        when None) to the history in one transaction; returns the number of rows written."""
        if rows is None:
            rows = np.arange(len(evaluation.clients))
        table_rows = history.evaluation_rows(evaluation, rows, self._clock())
        if table_rows:
            with self._locked("Cannot write to") as (connection, _):
                history.insert_scores(connection, table_rows)
        return len(table_rows)

    def replace_history(
        self, evaluations: Sequence[Evaluation], *, since: datetime, until: datetime
    ) -> tuple[int, int]:
        """Replace every stored score with ``since <= as_of <= until`` by every client's score of
        ``evaluations``, in one transaction (a reader sees the old window or the new, never a
        mix); returns (rows removed, rows written)."""
        stamp = self._clock()
        rows = [
            row
            for e in evaluations
            for row in history.evaluation_rows(e, np.arange(len(e.clients)), stamp)
        ]
        with self._locked("Cannot write to") as (connection, _):
            removed = connection.execute(history.window_delete(since, until)).rowcount
            connection.execute(history.epoch_bump())
            if rows:
                history.insert_scores(connection, rows)
        return removed, len(rows)

    def prune_history(self, before: datetime) -> int:
        """Delete stored scores older than ``before``, keeping each client's newest one before it
        (``history.prune_query``); returns how many rows went."""
        with self._locked("Cannot write to") as (connection, _):
            removed = int(connection.execute(history.prune_query(before)).rowcount)
            if removed:
                connection.execute(history.epoch_bump())
        return removed

    def history(
        self, client_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[ClientScore]:
        """``client_id``'s stored scores with ``since <= as_of <= until``, oldest first."""
        with self._reading() as connection:
            rows = connection.execute(history.history_query(client_id, since, until))
            return [history.client_score(row._mapping) for row in rows]

    def latest_score(self, client_id: str, *, before: datetime | None = None) -> ClientScore | None:
        """``client_id``'s newest stored score (with ``as_of`` strictly before ``before``)."""
        with self._reading() as connection:
            row = connection.execute(history.latest_query(client_id, before)).first()
        return None if row is None else history.client_score(row._mapping)

    def scores_at(self, cutoff: datetime) -> dict[str, float | None]:
        """Each registered client's newest stored score with ``as_of <= cutoff`` (None: it was
        unscored then); clients with no score by then are left out. Answers for recent cutoffs
        are kept and brought forward (``signals.past_scores``)."""
        lateral = self.backend == "postgresql"
        with self._reading() as connection:

            def rows(statement: Any) -> list[Any]:
                return [tuple(row) for row in connection.execute(statement)]

            return self._past.scores_at(
                cutoff,
                stamp=(_registry_stamp(connection), connection.execute(history.epoch()).scalar()),
                newest_id=lambda: int(connection.execute(history.newest_row_id()).scalar_one()),
                newest_at=lambda at: rows(history.newest_at(at, lateral=lateral)),
                moved_past=lambda since, until, after, through: rows(
                    history.moved_past(since, until, after, through)
                ),
            )

    def latest_scores(self) -> list[ClientScore]:
        """The newest stored score of every client that has one, ordered by client id."""
        with self._reading() as connection:
            rows = connection.execute(history.latest_per_client_query())
            scores = [history.client_score(row._mapping) for row in rows]
        return sorted(scores, key=lambda s: s.client)


#: What a ``Client`` is read from (not ``updated_at``: parsing 100k timestamps nobody reads).
_CLIENT_COLUMNS = tuple(
    schema.clients.c[name]
    for name in ("id", "name", "segment", "owner_name", "owner_email", "owner_locale", "attrs",
                 "timezone")
)  # fmt: skip


def _registry_stamp(connection: Connection) -> tuple[int, int]:
    table = schema.clients
    statement = select(func.count(), func.coalesce(func.max(table.c.seq), 0))
    count, newest = connection.execute(statement).one()
    return int(count), int(newest)


def _client(row: RowMapping) -> Client:
    # Unvalidated: every stored client passed the model on its way in, and validating the
    # registry again cost seconds at 100k clients on every read of it.
    owner = None
    if row["owner_name"] is not None:
        owner = Owner.model_construct(
            name=row["owner_name"], email=row["owner_email"], locale=row["owner_locale"]
        )
    return Client.model_construct(
        id=row["id"],
        name=row["name"],
        segment=row["segment"],
        owner=owner,
        attrs={} if row["attrs"] == "{}" else history.json_object(row["attrs"]),
        timezone=row["timezone"],
    )


def _signal(row: RowMapping) -> StoredSignal:
    end = row["end_ts"]
    return StoredSignal(
        event_id=row["event_id"],
        client=row["client"],
        kind=row["kind"],
        ts=datetime.fromtimestamp(row["ts"], UTC),
        end=None if end is None else datetime.fromtimestamp(end, UTC),
        value=row["value"],
        attrs={} if row["attrs"] == "{}" else history.json_object(row["attrs"]),
        source=row["source"],
        recorded_at=datetime.fromtimestamp(row["recorded_at"], UTC),
    )


def _memory_anchors(
    reach: Mapping[str, KindReach], since: float, only: Mapping[str, Collection[str]] | None
) -> list[Any]:
    return [
        loading.memory_anchors_query(kind, since - r.seconds, None if only is None else only[kind])
        for kind, r in sorted(reach.items())
        if r.anchor and r.seconds is not None and (only is None or only.get(kind))
    ]


def _last_times(rows: Iterable[Any]) -> dict[tuple[str, str], datetime]:
    """``loading.last_times_query``'s rows as ``last_signal_times`` answers them."""
    return {(c, k): datetime.fromtimestamp(ts, UTC) for c, k, ts in rows}
