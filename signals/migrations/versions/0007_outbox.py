"""The notification outbox: one row per message to deliver (alert notice x recipient x channel).

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("key", sa.Text, primary_key=True),  # dedupe key | recipient | channel
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),  # the notice as JSON
        sa.Column("digest", sa.Boolean, nullable=False),
        sa.Column("state", sa.Text, nullable=False),  # pending, sent, failed
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt", sa.Double, nullable=False),  # epoch seconds
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("sent_at", sa.Double),
    )
    op.create_index("ix_outbox_state_next_attempt", "outbox", ["state", "next_attempt"])


def downgrade() -> None:
    op.drop_table("outbox")
