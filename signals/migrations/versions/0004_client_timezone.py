"""Clients' time zones: where a client's bare dates (``due: 2026-06-30``) end.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("timezone", sa.Text))  # NULL: UTC


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("timezone")
