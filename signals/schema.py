"""The store's tables as SQLAlchemy Core objects, for building queries.

Migrations (``signals/migrations/versions``) own the DDL and never import this module, so that an
old migration keeps creating the tables it created then; this module describes the tables at the
newest revision and must be kept in step with it (``tests/signals/test_store.py`` compares them).

Signal times (``ts``, ``end_ts``, ``recorded_at``, ``ingested_at``) are UTC epoch seconds in
float64 columns: they load straight into numpy and compare the same way on every backend. Score
times are timezone-aware timestamps (``timestamptz`` on PostgreSQL), read back as UTC by
``UTCDateTime``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; always read back aware in UTC.

    SQLite keeps no offset, so values are normalised to UTC before storing (their text then sorts
    in time order); PostgreSQL's ``timestamptz`` returns the session's zone, so results are
    converted back to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to a UTC column")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

clients = Table(
    "clients",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("segment", Text),
    Column("owner_name", Text),
    Column("owner_email", Text),
    Column("owner_locale", Text),
    Column("attrs", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("timezone", Text),  # IANA name; NULL is UTC
    # bumped by every write of a client (migration 0010): Store.registry_stamp
    Column("seq", BigInteger, nullable=False, server_default="0"),
)

signals = Table(
    "signals",
    metadata,
    Column("event_id", Text, nullable=False),
    Column("client", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("ts", Double, nullable=False),
    Column("end_ts", Double),
    Column("value", Double),
    Column("attrs", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("ingested_at", Double, nullable=False),
    # when the event first became known: written on insert, never moved (signals.writer)
    Column("recorded_at", Double, nullable=False),
    # the change feed (migration 0010): every write stamps a number above all stored before it
    Column("seq", BigInteger, nullable=False, server_default="0"),
    # Event ids are scoped per client (migration 0009): a write can never touch, or reveal,
    # another client's signal by reusing its id.
    PrimaryKeyConstraint("client", "event_id", name="pk_signals"),
    Index("ix_signals_kind_client_ts", "kind", "client", "ts"),
    Index("ix_signals_seq", "seq"),
    # the re-score after an ingest: one client's rows by kind and ts (migration 0011)
    Index("ix_signals_client_kind_ts", "client", "kind", "ts"),
)

scores = Table(
    "scores",
    metadata,
    # BIGINT: an hourly evaluation of 10k clients adds ~90M rows a year. SQLite only autoincrements
    # a column declared exactly INTEGER PRIMARY KEY (its 64-bit rowid), hence the variant.
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("client", Text, nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("evaluated_at", UTCDateTime, nullable=False),
    Column("score", Double),
    Column("grade", Text),
    Column("rules_version", Text, nullable=False),
    Column("components", Text, nullable=False),
    Column("limits", Text, nullable=False),
    # NULL in rows saved before coverage existed (migration 0004).
    Column("coverage", Double),
    Column("provisional_score", Double),  # insufficient_data only: the score it would have had
    Index("ix_scores_client_as_of", "client", "as_of"),
    # "the score as of T" kept up to date as T moves (migration 0012, signals.past_scores)
    Index("ix_scores_as_of", "as_of"),
)

#: One row: bumped by every deletion from ``scores`` (a prune, a replay), by any process, so that
#: ``signals.past_scores`` knows its kept answers may name deleted rows (migration 0012).
history_epoch = Table(
    "history_epoch",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
)
