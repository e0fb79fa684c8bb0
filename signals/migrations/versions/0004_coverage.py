"""Coverage of stored scores: the share of the weight measured from signals, and the provisional
score of a client graded insufficient_data. NULL in rows saved before.

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:  # batch: SQLite cannot alter in place
        batch.add_column(sa.Column("coverage", sa.Double, nullable=True))
        batch.add_column(sa.Column("provisional_score", sa.Double, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("provisional_score")
        batch.drop_column("coverage")
