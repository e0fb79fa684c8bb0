"""What the store remembers about collectors, a part of the store: cursors and the run log.

Reads and writes go through the store's connections, so a database failure is a ``StoreError``
and every write takes the store's write lock like its other writes.

Migration ``0002_collectors`` creates the two tables; the ``Table`` objects below describe them at
that revision. Cursors are JSON text (whatever the collector returned); run times are aware UTC.
Staleness is derived from the runs: see ``signals.collectors.runner.stale_kinds``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    RowMapping,
    Table,
    Text,
    and_,
    func,
    insert,
    select,
    update,
)

from rapport.signals.collectors.base import JsonValue
from rapport.signals.schema import UTCDateTime
from rapport.signals.store import Store

metadata = MetaData()

collector_cursors = Table(
    "collector_cursors",
    metadata,
    Column("collector", Text, primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

collector_runs = Table(
    "collector_runs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("collector", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("items", Integer, nullable=False),
    Column("unmapped", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("error", Text),
    Column("details", Text, nullable=False),
)

#: How many skip reasons / unmapped ids a run keeps (the counts are always exact).
DETAIL_LIMIT = 20


@dataclass(frozen=True)
class RunRecord:
    """One run of one collector: when, whether it succeeded, and what it found.

    ``items`` counts the signals fetched (after client mapping); ``stored`` those that were new or
    changed; ``unmapped`` the source items whose id maps to no client (``unmapped_ids`` the most
    frequent, with counts); ``skipped`` the malformed items left out (``skip_reasons`` the first);
    ``warnings`` what the run's owner should fix although it succeeded (a configured filter that
    matches nothing). Warnings live in the ``details`` JSON column, so they need no migration.
    """

    collector: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    items: int = 0
    stored: int = 0
    unmapped: int = 0
    skipped: int = 0
    error: str | None = None
    unmapped_ids: Mapping[str, int] = field(default_factory=dict)
    skip_reasons: tuple[str, ...] = ()
    pages: int = 0
    note: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Seconds from start to finish."""
        return (self.finished_at - self.started_at).total_seconds()

    def details(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "pages": self.pages,
            "unmapped_ids": dict(self.unmapped_ids),
            "skip_reasons": list(self.skip_reasons[:DETAIL_LIMIT]),
            "note": self.note,
            "warnings": list(self.warnings[:DETAIL_LIMIT]),
        }


@dataclass(frozen=True)
class RunSummary:
    """A collector's latest success and failure (None: never), as of some instant."""

    collector: str
    last_success: datetime | None
    last_failure: datetime | None


# --- cursors --------------------------------------------------------------------------------------


def load_cursor(store: Store, collector: str) -> JsonValue:
    """The cursor saved for ``collector``; None before its first saved page."""
    with store._reading() as connection:
        raw = connection.execute(
            select(collector_cursors.c.cursor).where(collector_cursors.c.collector == collector)
        ).scalar_one_or_none()
    return None if raw is None else json.loads(raw)


@contextmanager
def _writing(store: Store) -> Iterator[Connection]:
    """A write transaction holding the store's write lock (see ``Store._locked``)."""
    with store._locked("Cannot write to") as (connection, _):
        yield connection


def save_cursor(store: Store, collector: str, cursor: JsonValue, now: datetime) -> None:
    """Store ``cursor`` for ``collector`` (replacing the previous one) in its own transaction."""
    raw = json.dumps(cursor, separators=(",", ":"), sort_keys=True)
    with _writing(store) as connection:
        done = connection.execute(
            update(collector_cursors)
            .where(collector_cursors.c.collector == collector)
            .values(cursor=raw, updated_at=now)
        )
        if done.rowcount == 0:
            connection.execute(
                insert(collector_cursors).values(collector=collector, cursor=raw, updated_at=now)
            )


def reset_cursor(store: Store, collector: str) -> None:
    """Forget ``collector``'s cursor: its next run starts from the beginning."""
    with _writing(store) as connection:
        connection.execute(
            collector_cursors.delete().where(collector_cursors.c.collector == collector)
        )


# --- runs -----------------------------------------------------------------------------------------


def record_run(store: Store, record: RunRecord) -> int:
    """Append ``record`` to the run log; returns its id."""
    values = {
        "collector": record.collector,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "ok": record.ok,
        "items": record.items,
        "unmapped": record.unmapped,
        "skipped": record.skipped,
        "error": record.error,
        "details": json.dumps(record.details(), separators=(",", ":"), sort_keys=True),
    }
    with _writing(store) as connection:
        result = connection.execute(insert(collector_runs).values(**values))
        key = result.inserted_primary_key
    return int(key[0]) if key is not None else 0


def recent_runs(store: Store, collector: str | None = None, *, limit: int = 50) -> list[RunRecord]:
    """The newest runs (of one collector, or of all), newest first."""
    query = select(collector_runs).order_by(
        collector_runs.c.started_at.desc(), collector_runs.c.id.desc()
    )
    if collector is not None:
        query = query.where(collector_runs.c.collector == collector)
    with store._reading() as connection:
        rows = connection.execute(query.limit(limit)).mappings().all()
    return [_record(row) for row in rows]


def run_summaries(store: Store, *, until: datetime | None = None) -> dict[str, RunSummary]:
    """Per collector, the finish time of its latest success and latest failure up to ``until``."""
    query = select(
        collector_runs.c.collector, collector_runs.c.ok, func.max(collector_runs.c.finished_at)
    ).group_by(collector_runs.c.collector, collector_runs.c.ok)
    if until is not None:
        query = query.where(collector_runs.c.finished_at <= until)
    latest: dict[str, dict[bool, datetime]] = {}
    with store._reading() as connection:
        for name, ok, finished in connection.execute(query):
            # func.max loses the column type on some backends: convert like the column does
            latest.setdefault(name, {})[bool(ok)] = _as_utc(finished, connection)
    return {
        name: RunSummary(name, times.get(True), times.get(False)) for name, times in latest.items()
    }


def _as_utc(value: Any, connection: Connection) -> datetime:
    converted = UTCDateTime().process_result_value(
        datetime.fromisoformat(value) if isinstance(value, str) else value, connection.dialect
    )
    assert converted is not None  # max() over a NOT NULL column of a non-empty group
    return converted


def _record(row: RowMapping) -> RunRecord:
    details = json.loads(row["details"])
    return RunRecord(
        collector=row["collector"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        ok=bool(row["ok"]),
        items=row["items"],
        stored=int(details.get("stored", 0)),
        unmapped=row["unmapped"],
        skipped=row["skipped"],
        error=row["error"],
        unmapped_ids=details.get("unmapped_ids", {}),
        skip_reasons=tuple(details.get("skip_reasons", ())),
        pages=int(details.get("pages", 0)),
        note=details.get("note"),
        warnings=tuple(details.get("warnings", ())),
    )


def prune_runs(store: Store, keep: int = 1000, collectors: Sequence[str] | None = None) -> int:
    """Delete all but the newest ``keep`` runs of each collector; returns how many were deleted."""
    deleted = 0
    with _writing(store) as connection:
        names = collectors or list(
            connection.execute(select(collector_runs.c.collector).distinct()).scalars()
        )
        for name in names:
            newest = (
                select(collector_runs.c.id)
                .where(collector_runs.c.collector == name)
                .order_by(collector_runs.c.id.desc())
                .limit(keep)
                .subquery()
            )
            result = connection.execute(
                collector_runs.delete().where(
                    and_(
                        collector_runs.c.collector == name,
                        collector_runs.c.id.not_in(select(newest)),
                    )
                )
            )
            deleted += result.rowcount
    return deleted
