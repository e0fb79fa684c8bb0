"""The store's database connection: URL parsing, one engine per backend, and ``StoreError``.

SQLite runs in WAL mode with foreign keys on, ``synchronous=NORMAL`` and a busy timeout; write
batches take the write lock up front (``BEGIN IMMEDIATE``, asked for with the ``rapport_write``
execution option) so that their classify-then-write is not interleaved with another writer.
``postgresql://`` URLs are served by psycopg 3, with JIT compilation off. Only the store's modules
use this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from rapport.engine.errors import RapportError
from rapport.signals.urls import mask_url

#: How long a PostgreSQL connection attempt may take before the store is called unreachable.
CONNECT_TIMEOUT_S = 5
#: How long a SQLite writer waits for another writer's lock before giving up.
_SQLITE_BUSY_TIMEOUT_MS = 10_000


class StoreError(RapportError):
    """The store could not be opened, reached, migrated, read or written.

    The message names the URL with every credential masked (``mask_url``: the user info's
    password and secret query parameters), whatever the caller passes, and the cause, e.g.
    ``Cannot reach the store at postgresql+psycopg://app:***@db:5432/x: connection refused``.
    """

    def __init__(self, url: str, cause: str, *, action: str = "Cannot reach") -> None:
        url = mask_url(url)
        self.url = url
        self.cause = cause
        super().__init__(f"{action} the store at {url}: {cause}")


# --- engines --------------------------------------------------------------------------------------


def parse_url(url: str) -> URL:
    """Parse ``url``; ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:
        # ValueError: SQLAlchemy parses the port with int() (`postgresql://db:5432x/app`).
        detail = "" if isinstance(error, ArgumentError) else " (the port must be a number)"
        raise StoreError(
            url,
            f"not a database URL{detail}; e.g. sqlite:///data/rapport.db",
            action="Cannot open",
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_store_engine(url: URL, shown: str) -> Engine:
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(url)
        if backend == "postgresql":
            timeout = (
                {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_S}
            )
            engine = create_engine(url, connect_args=timeout, pool_pre_ping=True)
            event.listen(engine, "connect", _postgresql_connect)
            return engine
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


def _postgresql_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # The store's statements are index lookups and scans that run in milliseconds; PostgreSQL's
    # JIT compiled the change-feed sync's lookups of 1,000 clients for 40-230 ms, longer than
    # they ran (README "Performance").
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


def _sqlite_begin(connection: Connection) -> None:
    # Writers lock up front: a deferred transaction that reads first may fail to upgrade.
    immediate = connection.get_execution_options().get("rapport_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def cause_of(error: DBAPIError) -> str:
    """The driver's own words, first line only (psycopg adds advice lines after it)."""
    lines = [line.strip() for line in str(error.orig).splitlines() if line.strip()]
    return lines[0] if lines else type(error.orig).__name__
