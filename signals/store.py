"""The store: clients registry, signals and score history in SQLite or PostgreSQL.

``Store.open(url)`` creates the SQLite file's directory if needed, migrates the schema to the
newest revision (Alembic, configured in code) and returns a ready store. Every failure to reach or
use the database is a ``StoreError`` naming the URL (password masked) and the cause; a user never
sees a driver traceback.

SQLite runs in WAL mode with foreign keys on, ``synchronous=NORMAL`` and a busy timeout; write
batches take the write lock up front (``BEGIN IMMEDIATE``) so that their classify-then-write is not
interleaved with another writer. On PostgreSQL the same is done with a transaction-level advisory
lock. ``postgresql://`` URLs are served by psycopg 3.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import (
    URL,
    Connection,
    Engine,
    RootTransaction,
    RowMapping,
    create_engine,
    event,
    func,
    make_url,
    select,
    text,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from rapport.engine.errors import RapportError
from rapport.engine.frame import ClientSet, SignalSet
from rapport.engine.result import ClientScore, Evaluation
from rapport.signals import history, schema
from rapport.signals.columnar import SignalSetBuilder
from rapport.signals.dbapi import compiled_sql, driver_cursor
from rapport.signals.model import Client, Owner, StoredSignal
from rapport.signals.writer import StoreWriter, UpsertResult, epoch

__all__ = ["DEFAULT_URL", "Store", "StoreError", "StoreWriter", "UpsertResult"]

#: The CLI's default: a SQLite file under ./data, relative to the working directory.
DEFAULT_URL = "sqlite:///data/rapport.db"

_MIGRATIONS = Path(__file__).with_name("migrations")
#: How long a PostgreSQL connection attempt may take before the store is called unreachable.
_CONNECT_TIMEOUT_S = 5
#: How long a SQLite writer waits for another writer's lock before giving up.
_SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Key of the PostgreSQL advisory lock that serialises writers (and migrations): "RAPP".
_PG_WRITE_LOCK = 0x52415050
#: Rows per fetch when loading signals.
_FETCH_ROWS = 65_536


class StoreError(RapportError):
    """The store could not be opened, reached, migrated, read or written.

    The message names the URL with its password masked and the cause, e.g.
    ``Cannot reach the store at postgresql+psycopg://app:***@db:5432/x: connection refused``.
    """

    def __init__(self, url: str, cause: str, *, action: str = "Cannot reach") -> None:
        self.url = url
        self.cause = cause
        super().__init__(f"{action} the store at {url}: {cause}")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Clients, signals and scores in one database. Use ``Store.open``; close it when done (it is
    also a context manager). Safe to share between threads: every call takes its own connection."""

    def __init__(self, url: str, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._url = url
        self._engine = engine
        self._clock = clock

    # --- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = _utc_now) -> Store:
        """Connect to ``url``, migrate its schema to the newest revision, and return the store.

        ``clock`` gives the ``ingested_at``/``updated_at``/``evaluated_at`` stamps (tests pass a
        fixed one). Raises ``StoreError`` if the URL is invalid or the database is unreachable.
        """
        parsed = _parse_url(url)
        shown = parsed.render_as_string(hide_password=True)
        store = cls(shown, _create_engine(parsed, shown), clock)
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
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for other ``signals`` modules that query the tables directly."""
        return self._engine

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
            raise StoreError(self._url, _cause(error)) from error
        with connection:
            try:
                yield connection
            except DBAPIError as error:
                raise StoreError(self._url, _cause(error), action=action) from error

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
            rows = connection.execute(select(schema.clients))
            # Sorted here, not in SQL: PostgreSQL's collation may order ids unlike Python does.
            return sorted((_client(row._mapping) for row in rows), key=lambda c: c.id)

    def client(self, client_id: str) -> Client | None:
        """The client with id ``client_id``, or None if the registry does not know it."""
        table = schema.clients
        with self._reading() as connection:
            row = connection.execute(select(table).where(table.c.id == client_id)).first()
        return None if row is None else _client(row._mapping)

    def client_set(self) -> ClientSet:
        """All registered clients as the scorer's ``ClientSet``, ordered by id."""
        table = schema.clients
        with self._reading() as connection:
            rows = connection.execute(select(table.c.id, table.c.segment))
            pairs = sorted((row.id, row.segment) for row in rows)
        return ClientSet.of([p[0] for p in pairs], [p[1] for p in pairs])

    # --- signals --------------------------------------------------------------------------------

    def upsert_signals(self, signals: Sequence[StoredSignal]) -> UpsertResult:
        """Insert new signals and update changed ones by ``event_id``, in one transaction."""
        with self.writing() as writer:
            return writer.upsert_signals(signals)

    def signal_set(
        self,
        clients: ClientSet,
        *,
        until: datetime | None = None,
        stale: Mapping[str, Iterable[str]] | None = None,
    ) -> SignalSet:
        """The signals of ``clients`` (others are skipped) with ``ts <= until`` as the scorer's
        arrays; within each kind, rows are ordered by client row, then ts. ``stale`` maps a kind
        to the client ids whose source for it is stale."""
        table = schema.signals
        statement = select(
            table.c.kind, table.c.client, table.c.ts, table.c.end_ts, table.c.value, table.c.attrs
        )
        if until is not None:
            statement = statement.where(table.c.ts <= epoch(until))
        builder = SignalSetBuilder(clients)
        with self._reading() as connection, driver_cursor(connection) as cursor:
            # Straight from the driver: SQLAlchemy's row objects would add ~40% to a million-row
            # load. The only parameter is a float we made, rendered exactly as a literal.
            sql = compiled_sql(connection, statement, compile_kwargs={"literal_binds": True})
            cursor.execute(str(sql))
            while chunk := cursor.fetchmany(_FETCH_ROWS):
                builder.add(chunk)
        return builder.build(stale)

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

    def last_signal_times(self) -> dict[tuple[str, str], datetime]:
        """``(client, kind)`` → the latest ``ts`` stored for it."""
        table = schema.signals
        statement = select(table.c.client, table.c.kind, func.max(table.c.ts)).group_by(
            table.c.client, table.c.kind
        )
        with self._reading() as connection:
            rows = connection.execute(statement).all()
        return {(c, k): datetime.fromtimestamp(ts, UTC) for c, k, ts in rows}

    # --- score history --------------------------------------------------------------------------

    def save_evaluation(
        self, evaluation: Evaluation, *, records: Sequence[ClientScore] | None = None
    ) -> int:
        """Append every client's score of ``evaluation`` to the history in one transaction;
        returns the number of rows written. A caller that already built ``evaluation.records()``
        may pass them as ``records`` (building them costs more than storing them)."""
        rows = history.score_rows(
            evaluation.records() if records is None else records, self._clock()
        )
        if rows:
            with self._locked("Cannot write to") as (connection, _):
                history.insert_scores(connection, rows)
        return len(rows)

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

    def latest_scores(self) -> list[ClientScore]:
        """The newest stored score of every client that has one, ordered by client id."""
        with self._reading() as connection:
            rows = connection.execute(history.latest_per_client_query())
            scores = [history.client_score(row._mapping) for row in rows]
        return sorted(scores, key=lambda s: s.client)


def _client(row: RowMapping) -> Client:
    owner = None
    if row["owner_name"] is not None:
        owner = Owner(name=row["owner_name"], email=row["owner_email"], locale=row["owner_locale"])
    return Client(
        id=row["id"],
        name=row["name"],
        segment=row["segment"],
        owner=owner,
        attrs=history.json_object(row["attrs"]),
    )


# --- engines --------------------------------------------------------------------------------------

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def _parse_url(url: str) -> URL:
    """Parse ``url``; ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        shown = _PASSWORD.sub(r"\1***@", url)
        raise StoreError(
            shown, "not a database URL (e.g. sqlite:///data/rapport.db)", action="Cannot open"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _create_engine(url: URL, shown: str) -> Engine:
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(url)
        if backend == "postgresql":
            timeout = (
                {} if "connect_timeout" in url.query else {"connect_timeout": _CONNECT_TIMEOUT_S}
            )
            return create_engine(url, connect_args=timeout, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as error:
        raise StoreError(
            shown, f"no database driver for it ({error})", action="Cannot open"
        ) from None
    raise StoreError(
        shown, f"unsupported database {backend!r} (use sqlite or postgresql)", action="Cannot open"
    )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if in_memory:
        # One shared connection: each new connection to :memory: would be a new, empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        if not database.startswith("file:"):
            _make_parent(Path(database), url)
        engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _make_parent(path: Path, url: URL) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        cause = f"cannot create the directory {str(path.parent)!r}: {error.strerror}"
        raise StoreError(url.render_as_string(), cause, action="Cannot open") from None


def _sqlite_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # Take transaction control from the sqlite3 module (which would BEGIN only before writes,
    # leaving a read-then-write batch unprotected); _sqlite_begin issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "synchronous=NORMAL",
        f"busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}",
        "cache_size=-65536",  # 64 MiB: bulk imports into two B-trees thrash the 2 MiB default
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Writers lock up front: a deferred transaction that reads first may fail to upgrade.
    immediate = connection.get_execution_options().get("rapport_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _cause(error: DBAPIError) -> str:
    """The driver's own words, first line only (psycopg adds advice lines after it)."""
    lines = [line.strip() for line in str(error.orig).splitlines() if line.strip()]
    return lines[0] if lines else type(error.orig).__name__
