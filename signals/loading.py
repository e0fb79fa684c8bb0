"""Loading signals for the scorer, a part of the store: the queries behind ``Store.signal_set``.

Without a reach every stored signal visible as of ``until`` is loaded. With one
(``engine.lookback.reach_of``: how far back the scorecard reads each kind), only what the
evaluation can read: kinds it never reads are skipped, a bounded kind is loaded from ``until -
reach`` on, plus its older events still open at ``until`` when an all-history measurement counts
open events, and one *anchor* per client with an older event when ``count``/``sum`` need to know
that the client has had one. An anchor is a stand-in — at the newest older ``ts``, closed at that
instant, no value, no attributes — outside every window of the kind, so it is read only by the
"has had one" test and by all-history measurements of open events (which it is not).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    column,
    func,
    literal,
    or_,
    select,
    true,
    values,
)

from rapport.engine.lookback import KindReach
from rapport.signals import schema

#: The columns ``signals.columnar.SignalSetBuilder`` takes, in its order.
_t = schema.signals
LOAD_COLUMNS = (
    _t.c.kind,
    _t.c.client,
    _t.c.ts,
    _t.c.end_ts,
    _t.c.value,
    _t.c.attrs,
    _t.c.recorded_at,
)


def signals_query(until: float | None, reach: Mapping[str, KindReach] | None) -> Select[Any]:
    """The rows of every kind in ``reach`` (all kinds when None) an evaluation as of ``until``
    can read (see the module docstring); anchors come from ``anchors_query``."""
    statement = select(*LOAD_COLUMNS)
    if until is not None:
        statement = statement.where(_t.c.ts <= until, _t.c.recorded_at <= until)
    if reach is None:
        return statement
    if until is None:
        raise ValueError("a bounded load needs the instant it is bounded from")
    return statement.where(_reach_filter(until, reach))


def _reach_filter(until: float, reach: Mapping[str, KindReach]) -> ColumnElement[bool]:
    """The rows of ``reach``'s kinds an evaluation as of ``until`` or later can read."""
    wanted: list[ColumnElement[bool]] = []
    whole = sorted(kind for kind, r in reach.items() if not r.bounded)
    if whole:
        wanted.append(_t.c.kind.in_(whole))
    for kind, r in sorted(reach.items()):
        if r.seconds is None:
            continue
        recent: ColumnElement[bool] = _t.c.ts > until - r.seconds
        if r.open_before:
            recent = or_(recent, _t.c.end_ts.is_(None), _t.c.end_ts > until)
        wanted.append(and_(_t.c.kind == kind, recent))
    return or_(*wanted) if wanted else literal(False)


def anchors_query(kind: str, since: float, until: float) -> Select[Any]:
    """One anchor row (``LOAD_COLUMNS``' shape) per client with a visible ``kind`` event at or
    before ``since``."""
    newest = func.max(_t.c.ts)
    return (
        select(literal(kind), _t.c.client, newest, newest, literal(None), literal("{}"), newest)
        .where(_t.c.kind == kind, _t.c.ts <= since, _t.c.recorded_at <= until)
        .group_by(_t.c.client)
    )


def memory_queries(
    reach: Mapping[str, KindReach],
    built: float,
    clients: Mapping[str, Collection[str]] | None = None,
) -> list[Select[Any]]:
    """``signals_query`` for arrays kept in memory from ``built`` on: no upper bound (events
    dated or recorded later become visible as time passes; the engine hides them until then).
    All clients in one scan; with ``clients`` (kind → the clients to read it for), one query
    per kind of ``reach`` it names, each reading the (client, kind, ts) index from the kind's
    reach on for its own clients only (a change-feed sync reads just the kinds written)."""
    if clients is None:
        return [select(*LOAD_COLUMNS).where(_reach_filter(built, reach))]
    return [
        select(*LOAD_COLUMNS).where(
            _t.c.client.in_(sorted(clients[kind])), _reach_filter(built, {kind: r})
        )
        for kind, r in sorted(reach.items())
        if clients.get(kind)
    ]


def memory_anchors_query(
    kind: str, since: float, clients: Collection[str] | None = None
) -> Select[Any]:
    """``anchors_query`` for arrays kept in memory: the anchor is recorded at the earliest record
    time of the events it stands for, so it is visible exactly when one of them is."""
    newest = func.max(_t.c.ts)
    statement = (
        select(
            literal(kind), _t.c.client, newest, newest, literal(None), literal("{}"),
            func.min(_t.c.recorded_at),
        )
        .where(_t.c.kind == kind, _t.c.ts <= since)
        .group_by(_t.c.client)
    )  # fmt: skip
    if clients is not None:
        statement = statement.where(_t.c.client.in_(sorted(clients)))
    return statement


def last_times_query(clients: Collection[str] | None, *, lateral: bool) -> Select[Any]:
    """``(client, kind, newest ts)`` of every client (of ``clients`` when given) and kind it has
    signals of. ``lateral`` (PostgreSQL) reads each listed client through the (client, kind, ts)
    index in a ``LATERAL`` subquery: given ``client IN (...)`` of 1,000 clients among 100k, the
    planner chose a parallel scan of the whole table (0.8 s instead of 0.1 s)."""
    newest = func.max(_t.c.ts)
    if clients is None or not lateral:
        statement = select(_t.c.client, _t.c.kind, newest).group_by(_t.c.client, _t.c.kind)
        return statement if clients is None else statement.where(_t.c.client.in_(sorted(clients)))
    wanted = values(column("id", Text), name="wanted").data([(c,) for c in sorted(clients)])
    per_client = (
        select(_t.c.kind, newest.label("ts"))
        .where(_t.c.client == wanted.c.id)
        .group_by(_t.c.kind)
        .lateral("per_client")
    )
    return select(wanted.c.id, per_client.c.kind, per_client.c.ts).join_from(
        wanted, per_client, true()
    )


def changes_query(after: int) -> Select[Any]:
    """``(client, kind, ts, seq)`` of every signal row written since change-feed number
    ``after``."""
    return select(_t.c.client, _t.c.kind, _t.c.ts, _t.c.seq).where(_t.c.seq > after)


def feed_position_query() -> Select[Any]:
    """The newest change-feed number (0 for an empty table)."""
    return select(func.coalesce(func.max(_t.c.seq), 0))
