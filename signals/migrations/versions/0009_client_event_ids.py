"""Event ids are scoped per client: a signal's key becomes ``(client, event_id)``.

With ``event_id`` alone as the key, a caller allowed to write one client could reach another
client's signal by reusing its id (and learn from the answer that the id exists). Every stored row
is kept: the old key was unique, so the new, wider one is too.

SQLite cannot change a primary key in place, so its table is rebuilt (batch mode, copying every
row) from the definition below; PostgreSQL swaps the constraint.

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def _signals(*key: str) -> sa.Table:
    """The ``signals`` table as 0006 left it, keyed by ``key``: the shape SQLite rebuilds to."""
    return sa.Table(
        "signals",
        sa.MetaData(),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("end_ts", sa.Double),
        sa.Column("value", sa.Double),
        sa.Column("attrs", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("ingested_at", sa.Double, nullable=False),
        sa.Column("recorded_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_signals"),
        sa.Index("ix_signals_kind_client_ts", "kind", "client", "ts"),
    )


def upgrade() -> None:
    _rekey("signals_pkey", "client", "event_id")


def downgrade() -> None:
    # Fails (a duplicate key) once two clients' signals share an event id, as it must.
    _rekey("pk_signals", "event_id")


def _rekey(old: str, *key: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("signals", copy_from=_signals(*key), recreate="always"):
            pass
        return
    op.drop_constraint(old, "signals", type_="primary")
    op.create_primary_key("pk_signals" if len(key) > 1 else "signals_pkey", "signals", list(key))
