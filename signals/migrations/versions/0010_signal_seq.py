"""Signals get ``seq``: a change feed for the service's in-memory signal arrays.

Every write of a signal row (insert or update) stamps it with a sequence number greater than any
stored before it, so a reader that remembers the highest ``seq`` it has seen finds every row
written since with ``seq > last`` (``signals.loading.changes_query``). Numbers are taken under the
store's write lock and the lock is held until commit, so they are handed out in commit order:
a row with a lower number is never committed after a reader has seen a higher one (see
``signals.writer``). Rows stored before this revision get 0. Clients get the same column: with the
count of clients it tells a reader whether the registry changed (``Store.registry_stamp``).

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "signals", sa.Column("seq", sa.BigInteger, nullable=False, server_default=sa.text("0"))
    )
    op.create_index("ix_signals_seq", "signals", ["seq"])
    op.add_column(
        "clients", sa.Column("seq", sa.BigInteger, nullable=False, server_default=sa.text("0"))
    )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("seq")
    op.drop_index("ix_signals_seq", table_name="signals")
    with op.batch_alter_table("signals") as batch:
        batch.drop_column("seq")
