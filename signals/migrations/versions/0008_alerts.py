"""Alerts: the state of every pending or firing alert, the history of their notices, silences.

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("rule", sa.Text, primary_key=True),
        sa.Column("client", sa.Text, primary_key=True),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("active_since", sa.Double, nullable=False),  # epoch seconds, as all below
        sa.Column("fired_at", sa.Double),
        sa.Column("last_notified", sa.Double),
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("clearing_since", sa.Double),
        sa.Column("muted", sa.Boolean, nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("dedupe_key", sa.Text, primary_key=True),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("episode", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("threshold", sa.Double),
        sa.Column("silenced", sa.Boolean, nullable=False),
    )
    op.create_index("ix_alert_events_at", "alert_events", ["at"])
    op.create_table(
        "silences",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("client", sa.Text),
        sa.Column("rule", sa.Text),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("expires", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("silences")
    op.drop_index("ix_alert_events_at", "alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_states")
