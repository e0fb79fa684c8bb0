"""Signals get ``recorded_at``: when each event first became known (epoch seconds).

Rows stored before this revision have no record of when they were first received (``ingested_at``
is their latest write), so they get the earliest instant that keeps every evaluation of them as it
was: ``min(ts, ingested_at)``. An evaluation as of T saw such a row iff ``ts <= T``, and with this
value it still does.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("signals", sa.Column("recorded_at", sa.Double, nullable=True))
    op.execute(
        "UPDATE signals SET recorded_at = "
        "CASE WHEN ingested_at < ts THEN ingested_at ELSE ts END"
    )
    with op.batch_alter_table("signals") as batch:  # SQLite cannot ALTER a column's NULLability
        batch.alter_column("recorded_at", existing_type=sa.Double, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("signals") as batch:
        batch.drop_column("recorded_at")
