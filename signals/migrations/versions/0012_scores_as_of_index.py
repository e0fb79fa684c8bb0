"""Scores get an index on ``as_of`` and a deletion counter: "the score as of T" kept up to date.

Every evaluation asks for each client's score 7 and 30 days ago (the changes), and the alert rules
for each drop window. Answered from scratch — one probe of ``(client, as_of)`` per client — that
cost 0.4 s (SQLite) to 0.9 s (PostgreSQL) per cutoff at 100k clients. ``signals.past_scores`` keeps
the last answer per cutoff and reads only the rows whose ``as_of`` the cutoff has moved past since:
a range of this index. SQLite may hand a deleted row's id to a new row (its rowid is max + 1), so
row ids alone cannot tell what changed after a deletion: ``history_epoch`` counts them (a prune,
a replay), and a changed count drops every kept answer.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_scores_as_of", "scores", ["as_of"])
    epoch = op.create_table(
        "history_epoch",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(epoch, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    op.drop_table("history_epoch")
    op.drop_index("ix_scores_as_of", table_name="scores")
