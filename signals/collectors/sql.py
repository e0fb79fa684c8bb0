"""``sql``: a query against any SQLAlchemy URL (a CRM or helpdesk database) → signals of one kind.

::

    crm_incidents:
      type: sql
      url: postgresql+psycopg://rapport@crm-db:5432/crm     # no password here
      token_env: CRM_DB_PASSWORD                            # the password, from the environment
      kind: incident
      query: >
        SELECT id, account, sev, opened, closed, modified FROM incidents WHERE modified >= :since
      cursor_column: modified
      columns: {event_id: id, client: account, severity: sev,
                opened_at: opened, resolved_at: closed}

With ``cursor_column`` the run is incremental: ``:since`` is bound to the largest value of that
column seen so far (``initial_since`` on the first run), and rows are read in pages ordered by it.
Write ``>=`` (not ``>``): rows sharing the last value are then read again rather than lost, and
re-reading is harmless because the ``event_id`` column makes every row one stored signal. Ties
across a page boundary are resumed with an offset, so a page full of equal values still advances.

Without ``cursor_column`` the whole query is read on every run (fine for small tables). The
query runs read-only as far as Rapport is concerned, with a connect timeout and (on PostgreSQL) a
statement timeout; the mapping of columns to fields is the ``file`` collector's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from rapport.engine.model import Duration
from rapport.signals.collectors.base import (
    BaseCollector,
    CollectorConfig,
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.file import convert_rows, is_field, map_row, resolve_client
from rapport.signals.model import TIME_FIELDS, StoredSignal, parse_signal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# sqlalchemy is imported where a query runs or a URL is checked, not with this module: checking a
# collectors.yaml without an sql collector (`rapport rules check`) must not load it.
# ruff: noqa: PLC0415

PAGE_QUERY = (
    "SELECT * FROM ({query}) AS rapport_rows ORDER BY {cursor}, {key} LIMIT {limit} OFFSET {offset}"
)


class SqlConfig(CollectorConfig):
    """A ``sql`` source. ``columns`` maps signal fields to result columns; ``event_id`` is required
    (it is what makes re-reading safe) unless the query names a column ``event_id``."""

    url: str = Field(min_length=1, description="SQLAlchemy URL without the password")
    token_env: str | None = Field(
        default=None, description="environment variable holding the password"
    )
    token_file: str | None = Field(default=None, description="file holding the password")
    query: str = Field(min_length=1)
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, str] = Field(default_factory=dict, description="constant fields")
    cursor_column: str | None = None
    initial_since: str | float = "1970-01-01 00:00:00"
    page_size: int = Field(default=1000, ge=1, le=100_000)
    timeout: Duration = Field(default=30.0, description="connect and statement timeout")
    event_id_prefix: str = Field(default="sql", min_length=1, max_length=40)

    @model_validator(mode="after")
    def _consistent(self) -> SqlConfig:
        unknown = [f for f in (*self.columns, *self.values) if not is_field(self.kind, f)]
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r} for kind {self.kind}")
        if self.cursor_column is not None and ":since" not in self.query:
            raise ValueError("an incremental query (cursor_column) must use :since in its WHERE")
        if self.token_env is not None and self.token_file is not None:
            raise ValueError("name the password in token_env or token_file, not both")
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(self.url)
        except ArgumentError:
            raise ValueError(f"{self.url!r} is not an SQLAlchemy URL") from None
        if url.password is not None:
            raise ValueError("the url holds a password; move it to token_env or token_file")
        return self


def encode_since(value: Any) -> JsonValue:
    """A cursor column value → JSON, keeping whether it was a time (to bind the same type back)."""
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return float(value)
    return value


def decode_since(value: JsonValue) -> Any:
    if isinstance(value, dict) and "datetime" in value:
        return datetime.fromisoformat(value["datetime"])
    if isinstance(value, dict) and "date" in value:
        return date.fromisoformat(value["date"])
    return value


def next_cursor(since: Any, offset: int, values: Sequence[Any]) -> tuple[Any, int]:
    """Where the next page starts, given the cursor-column ``values`` of this (ordered) page.

    With ``>= :since`` the next query starts at the page's last value, so the rows of this page
    that share it must be skipped: ``offset`` counts them (plus the old offset if the whole page
    shared the old value).
    """
    last = values[-1]
    ties = sum(1 for v in values if v == last)
    return (last, offset + ties) if last == since else (last, ties)


def read_password(name: str, context: FetchContext, collector: str) -> str:
    """The secret named ``name`` (an environment variable or a file); unreadable is a
    ``CollectorError`` naming it, never its value."""
    try:
        return context.secret(name).strip()
    except (KeyError, OSError) as error:
        raise CollectorError(collector, f"cannot read the password {name!r}: {error}") from None


class SqlCollector(BaseCollector[SqlConfig], name="sql"):
    """Rows of a query → signals of the configured ``kind``, incrementally by a cursor column
    (the client column holds client ids)."""

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        """One page (or, without a cursor column, the whole result)."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        config = self.config
        engine = self._engine(context)
        try:
            with engine.connect() as connection:
                if engine.dialect.name == "postgresql":
                    statement_ms = int(config.timeout * 1000)
                    connection.execute(text(f"SET statement_timeout = {statement_ms}"))
                if config.cursor_column is None:
                    rows = [dict(r) for r in connection.execute(text(config.query)).mappings()]
                    return FetchResult(self._signals(rows, context), None)
                return self._page(connection, cursor, context)
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise CollectorError(self.name, f"query failed on {engine.url!r}: {reason}") from error
        finally:
            engine.dispose()

    def _page(self, connection: Any, cursor: JsonValue, context: FetchContext) -> FetchResult:
        from sqlalchemy import text

        config = self.config
        state = cursor if isinstance(cursor, dict) else {}
        since = decode_since(state.get("since", config.initial_since))
        offset = int(state.get("offset", 0))
        key = config.columns.get("event_id", "event_id")
        quoted = connection.dialect.identifier_preparer.quote
        page = text(
            PAGE_QUERY.format(
                query=config.query,
                cursor=quoted(config.cursor_column),
                key=quoted(key),
                limit=config.page_size,
                offset=offset,
            )
        )
        rows = [dict(r) for r in connection.execute(page, {"since": since}).mappings()]
        if not rows:
            return FetchResult([], {"since": encode_since(since), "offset": offset})
        more = len(rows) == config.page_size
        new_since, new_offset = next_cursor(since, offset, [r[config.cursor_column] for r in rows])
        if not more:
            # At the end, the next run re-reads the rows tied at the last value (harmless, same
            # ids) rather than skip them by offset: rows added later with that value, sorting
            # before the ones read, would otherwise be missed.
            new_offset = 0
        signals = self._signals(rows, context)
        return FetchResult(signals, {"since": encode_since(new_since), "offset": new_offset}, more)

    def _engine(self, context: FetchContext) -> Engine:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import URL, make_url
        from sqlalchemy.exc import ArgumentError
        from sqlalchemy.pool import NullPool

        config = self.config
        url: URL = make_url(config.url)
        secret_name = config.token_env or config.token_file
        if secret_name is not None:
            url = url.set(password=read_password(secret_name, context, self.name))
        timeout = max(1, int(config.timeout))
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = timeout
        elif url.get_backend_name() == "sqlite":
            connect_args["timeout"] = timeout
        try:
            return create_engine(url, poolclass=NullPool, connect_args=connect_args)
        except (ArgumentError, ImportError) as error:
            raise CollectorError(self.name, f"cannot use {url!r}: {error}") from error

    def _signals(self, rows: list[dict[str, Any]], context: FetchContext) -> list[StoredSignal]:
        labelled = ((f"row {n} ({self._row_id(row)})", row) for n, row in enumerate(rows, start=1))
        return convert_rows(labelled, lambda row: self._signal(row, context), context)

    def _row_id(self, row: Mapping[str, Any]) -> str:
        return f"event_id={row.get(self.config.columns.get('event_id', 'event_id'))!r}"

    def _signal(self, row: Mapping[str, Any], context: FetchContext) -> StoredSignal | None:
        config = self.config
        data, attrs = map_row(config.kind, config.columns, config.values, row.get, _read)
        raw_id = data.pop("event_id", None)
        if raw_id is None:
            raise ValueError("event_id: no value (map an id column to event_id)")
        client = resolve_client(data.pop("client", None), context)
        if client is None:
            return None
        data.update(event_id=f"{config.event_id_prefix}:{raw_id}", client=client, kind=config.kind)
        if attrs:
            data["attrs"] = attrs
        return parse_signal(data).to_stored(context.clients.zones)


def _read(field: str, value: Any) -> Any:
    """A column value as the signal model reads it: NUMERIC as float, text times stripped."""
    if isinstance(value, Decimal):
        return float(value)
    if field in TIME_FIELDS and isinstance(value, str):
        return value.strip()  # SQLite returns times as text ("2024-03-01 10:00:00")
    return value
