"""Fixtures shared by every test package: real stores on both backends.

``store_url`` runs a test once on SQLite (a file in ``tmp_path``) and once on PostgreSQL (a
throwaway database on 127.0.0.1:5432, created for the session and dropped after it; each test gets
an empty ``public`` schema). PostgreSQL tests are never skipped: if the server is down they fail
and say so. ``RAPPORT_TEST_POSTGRES`` overrides the server URL (its database is only used to
create and drop the throwaway one).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, make_url, select, text

from rapport.signals import schema
from rapport.signals.store import _PG_WRITE_LOCK, Store

POSTGRES_ADMIN_URL = os.environ.get(
    "RAPPORT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def _admin(database: str | None = None) -> psycopg.Connection[Any]:
    url = make_url(POSTGRES_ADMIN_URL)
    if database is not None:
        url = url.set(database=database)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL at {url.render_as_string()} is needed by the store tests "
            f"and could not be reached: {error}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database created for this test session and dropped after it."""
    name = f"rapport_test_{secrets.token_hex(6)}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with _admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _empty_schema(url: str) -> None:
    """Drop everything in the database's ``public`` schema (tables, Alembic's version row)."""
    with _admin(make_url(url).database) as connection:
        # A leaked connection holding a lock should fail the test, not hang it.
        connection.execute("SET lock_timeout = '10s'")
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of an empty store, once per backend (ids ``sqlite`` and ``postgresql``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store')}/rapport.db"
    url: str = request.getfixturevalue("pg_url")
    _empty_schema(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, migrated, empty store on ``store_url``; closed after the test."""
    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture
def write_locked_store(pg_url: str) -> Iterator[Store]:
    """An open PostgreSQL store whose write lock another session holds for the whole test. The
    store's lock waits give up after 200 ms (``lock_timeout``), so every write that takes the
    lock fails with a ``StoreError``, and one that skips it goes through."""
    _empty_schema(pg_url)
    url = make_url(pg_url).update_query_dict({"options": "-c lock_timeout=200"})
    with (
        Store.open(url.render_as_string(hide_password=False)) as store,
        _admin(url.database) as holder,
    ):
        holder.execute("SELECT pg_advisory_lock(%s)", (_PG_WRITE_LOCK,))
        yield store


DropTable = Callable[[str], None]


@pytest.fixture
def drop_table(store_url: str) -> DropTable:
    """``drop_table("scores")`` drops that table of the store at ``store_url`` behind the store's
    back, from a connection of its own: a database broken under a running store."""

    def drop(table: str) -> None:
        engine = create_engine(store_url)
        try:
            with engine.begin() as connection:
                connection.execute(text(f"DROP TABLE {table}"))
        finally:
            engine.dispose()

    return drop


TableRows = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture
def table_rows(store: Store) -> TableRows:
    """``table_rows("signals", "event_id", "ts")`` → those columns of every row of a store
    table, ordered by its primary key: for asserting exactly what was stored.

    It reads through the store's private ``_engine`` on purpose: a check of what is stored should
    not go through the store's own queries, and a public method for raw rows would widen the very
    boundary ``tests/signals/test_boundary.py`` keeps closed."""

    def rows(table_name: str, *columns: str) -> list[tuple[Any, ...]]:
        table = schema.metadata.tables[table_name]
        selected = [table.c[c] for c in columns] if columns else list(table.c)
        statement = select(*selected).order_by(*table.primary_key.columns)
        with store._engine.connect() as connection:
            return [tuple(row) for row in connection.execute(statement)]

    return rows
