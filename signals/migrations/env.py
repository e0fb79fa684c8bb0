"""Alembic environment: migrate the connection that ``Store.open`` hands in (online only).

``Store.open`` configures Alembic in code (no alembic.ini) and passes its open connection in
``config.attributes["connection"]``, inside a transaction it commits itself, so the upgrade runs
with the same engine settings (SQLite pragmas, PostgreSQL timeouts) as everything else.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from rapport.signals.store import StoreError

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise StoreError("<none>", "migrations run only through Store.open", action="Cannot migrate")

context.configure(
    connection=connection,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
