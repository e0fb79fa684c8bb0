"""Initial schema: clients registry, signals, score history.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Written out here rather than imported from signals.schema: a migration must keep creating what
# it created when it was written, whatever the schema module says later.
_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("segment", sa.Text),
        sa.Column("owner_name", sa.Text),
        sa.Column("owner_email", sa.Text),
        sa.Column("owner_locale", sa.Text),
        sa.Column("attrs", sa.Text, nullable=False),
        sa.Column("updated_at", _UTC_TIME, nullable=False),
    )
    # No foreign key to clients: collectors may deliver signals before the registry knows the
    # client; such signals are kept and simply not scored until it is registered.
    op.create_table(
        "signals",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("end_ts", sa.Double),
        sa.Column("value", sa.Double),
        sa.Column("attrs", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("ingested_at", sa.Double, nullable=False),
    )
    op.create_index("ix_signals_kind_client_ts", "signals", ["kind", "client", "ts"])
    op.create_table(
        "scores",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("as_of", _UTC_TIME, nullable=False),
        sa.Column("evaluated_at", _UTC_TIME, nullable=False),
        sa.Column("score", sa.Double),
        sa.Column("grade", sa.Text),
        sa.Column("rules_version", sa.Text, nullable=False),
        sa.Column("components", sa.Text, nullable=False),
        sa.Column("limits", sa.Text, nullable=False),
    )
    op.create_index("ix_scores_client_as_of", "scores", ["client", "as_of"])


def downgrade() -> None:
    op.drop_table("scores")
    op.drop_table("signals")
    op.drop_table("clients")
