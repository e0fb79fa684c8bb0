"""Queries the API needs beyond the Store's methods, built on the store's tables (signals.schema).

Kept here, not in the store, because they exist for the API's views: past scores of every client
at once (for the 7d/30d deltas), one client's signals (for an explanation at a past instant), and
removing clients from the registry (``PUT /clients?prune=true``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from rapport.signals import schema
from rapport.signals.model import StoredSignal


def scores_at(engine: sa.Engine, cutoff: datetime) -> dict[str, float | None]:
    """Each registered client's newest stored score with ``as_of <= cutoff`` (None: unscored then).

    One correlated subquery per client row, answered from the (client, as_of) index, so the cost
    grows with the number of clients, not with the length of the history.
    """
    s, c = schema.scores, schema.clients
    newest = (
        sa.select(s.c.score)
        .where(s.c.client == c.c.id, s.c.as_of <= cutoff)
        .order_by(s.c.as_of.desc(), s.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    has_row = sa.select(sa.literal(1)).where(s.c.client == c.c.id, s.c.as_of <= cutoff).exists()
    query = sa.select(c.c.id, newest).where(has_row)
    with engine.connect() as conn:
        return {cid: score for cid, score in conn.execute(query)}


def client_signals(
    engine: sa.Engine, client_id: str, kinds: Iterable[str], until: datetime
) -> list[StoredSignal]:
    """``client_id``'s signals of ``kinds`` with ``ts <= until`` (kind first, for the index)."""
    t = schema.signals
    query = (
        sa.select(t.c.event_id, t.c.kind, t.c.ts, t.c.end_ts, t.c.value, t.c.attrs, t.c.source)
        .where(
            t.c.kind.in_(sorted(set(kinds))),
            t.c.client == client_id,
            t.c.ts <= until.timestamp(),
        )
        .order_by(t.c.kind, t.c.ts)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        StoredSignal(
            event_id=event_id,
            client=client_id,
            kind=kind,
            ts=datetime.fromtimestamp(ts, UTC),
            end=None if end is None else datetime.fromtimestamp(end, UTC),
            value=value,
            attrs=json.loads(attrs),
            source=source,
        )
        for event_id, kind, ts, end, value, attrs, source in rows
    ]


def remove_clients_except(
    engine: sa.Engine, keep: Collection[str], among: Collection[str] | None = None
) -> int:
    """Delete registered clients not in ``keep`` (only those in ``among`` when given); the count.

    Their signals and score history stay: a client registered again later gets them back.
    """
    c = schema.clients
    with engine.begin() as conn:
        present = [cid for (cid,) in conn.execute(sa.select(c.c.id))]
        doomed = [cid for cid in present if cid not in keep and (among is None or cid in among)]
        for start in range(0, len(doomed), 500):  # bounded IN lists
            conn.execute(sa.delete(c).where(c.c.id.in_(doomed[start : start + 500])))
    return len(doomed)
