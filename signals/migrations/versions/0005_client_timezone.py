"""Clients' time zones: where a client's bare dates (``due: 2026-06-30``) end.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("timezone", sa.Text))  # NULL: UTC


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("timezone")
