"""Collector state: each collector's cursor, and one row per collector run.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# Written out here rather than imported from signals.collector_state: a migration must keep
# creating what it created when it was written.
_UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "collector_cursors",
        sa.Column("collector", sa.Text, primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),  # JSON
        sa.Column("updated_at", _UTC_TIME, nullable=False),
    )
    op.create_table(
        "collector_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("collector", sa.Text, nullable=False),
        sa.Column("started_at", _UTC_TIME, nullable=False),
        sa.Column("finished_at", _UTC_TIME, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("unmapped", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("details", sa.Text, nullable=False),  # JSON: skip reasons, unmapped ids
    )
    op.create_index(
        "ix_collector_runs_collector_started", "collector_runs", ["collector", "started_at"]
    )


def downgrade() -> None:
    op.drop_table("collector_runs")
    op.drop_table("collector_cursors")
