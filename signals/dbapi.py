"""Straight-to-driver execution for the store's hot paths: loading signal rows, writing signal and
score rows.

SQLAlchemy builds a parameter dict and a row object per row; for a million signals that is more
than half of the database time. These helpers compile a Core statement once with SQLAlchemy (so the
SQL stays dialect-correct) and hand the driver plain tuples or dicts. They run on the connection's
own DBAPI connection, inside whatever transaction it has open, and re-raise driver errors as
SQLAlchemy's ``DBAPIError`` so callers catch one kind of error whichever path failed.

Only columns without SQLAlchemy type processing may go through here (text and float columns):
values reach the driver exactly as given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from rapport.signals.columnar import SignalSetBuilder

#: Rows per fetch of a signal load.
FETCH_ROWS = 65_536


@contextmanager
def driver_cursor(connection: Connection) -> Iterator[Any]:
    """A DBAPI cursor on ``connection``'s driver connection; closed afterwards, its driver
    errors re-raised as ``sqlalchemy.exc.DBAPIError``."""
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is None:  # only after Connection.detach()/invalidate(), never here
        raise DBAPIError("driver cursor", None, ConnectionError("connection is closed"))
    error_class = connection.dialect.loaded_dbapi.Error
    cursor = dbapi_connection.cursor()
    try:
        yield cursor
    except error_class as error:
        raise DBAPIError.instance(None, None, error, error_class) from error
    finally:
        cursor.close()


def fetch_into(builder: SignalSetBuilder, cursor: Any, sql: Sequence[str]) -> None:
    """Each query's rows (``signals.loading``'s columns), fetched in chunks of tuples straight
    from the DB-API ``cursor``, into ``builder``: SQLAlchemy's row objects add ~25-40% to a
    million-row load (benchmarks/load.py, README "Cold load: readers compared")."""
    for text in sql:
        cursor.execute(text)
        while chunk := cursor.fetchmany(FETCH_ROWS):
            builder.add(chunk)


def compiled_sql(connection: Connection, statement: Executable, **options: Any) -> Any:
    """``statement`` compiled for ``connection``'s dialect (``options`` as for ``compile``)."""
    return statement.compile(dialect=connection.dialect, **options)  # type: ignore[attr-defined]


def execute_many(
    connection: Connection,
    statement: Executable,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
) -> None:
    """Run ``statement`` once per row of ``rows``; its bind parameters are named ``columns``."""
    if not rows:
        return
    compiled = compiled_sql(connection, statement, column_keys=list(columns))
    order: list[str] | None = compiled.positiontup
    params: Sequence[Any] = rows
    if order is not None:  # a positional paramstyle (SQLite's qmark): tuples in bind order
        values = itemgetter(*order)
        params = [values(row) for row in rows] if len(order) > 1 else [(values(r),) for r in rows]
    with driver_cursor(connection) as cursor:
        cursor.executemany(str(compiled), params)


def copy_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
) -> None:
    """Insert ``rows`` (values of ``columns``) into ``table`` with one PostgreSQL ``COPY``.

    Plain inserts only (no conflict handling). Faster than ``execute_many`` and steady: psycopg's
    pipelined executemany of ~1,000 score rows stalled for ~0.2 s about one time in three."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with driver_cursor(connection) as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])
