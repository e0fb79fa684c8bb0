"""Signals get an index on ``(client, kind, ts)``: the service's re-score after an ingest.

``SignalMemory`` reloads the rows of the clients a change touched (``client IN (…)``) and their
latest time per kind (``Store.last_signal_times(only=…)``). The primary key ``(client,
event_id)`` found those clients' rows but had to read every one of them from the table — all
kinds, all history — to group or filter them by kind and ts; on PostgreSQL at 20,000 clients that
was most of the re-score. With this index the latest times are an index-only scan and the reload
reads only the rows inside each kind's reach. ``ix_signals_kind_client_ts`` stays: the full
loads and the anchors read by kind first.

Revision ID: 0011
Revises: 0010
Create Date: 2027-01-27
"""

from __future__ import annotations

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_signals_client_kind_ts", "signals", ["client", "kind", "ts"])


def downgrade() -> None:
    op.drop_index("ix_signals_client_kind_ts", table_name="signals")
