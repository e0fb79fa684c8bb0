"""Alembic environment: migrate the connection ``Store.open`` hands in, online only.

``Store.open`` configures Alembic in code (no alembic.ini) and passes its open connection in
``config.attributes["connection"]``, inside a transaction it commits, so the upgrade runs on the
same engine settings (SQLite pragmas, PostgreSQL timeouts) as everything else. With no connection
given (someone running ``alembic`` by hand with ``sqlalchemy.url`` set), an engine is built here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine(url)
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("Rapport's migrations run online only (Store.open runs them)")
run_migrations_online()
