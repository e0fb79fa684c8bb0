"""The ``sql`` collector against a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakeapi import drain
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from rapport.signals.collectors.base import ClientMap, CollectorError, FetchContext
from rapport.signals.collectors.sql import SqlCollector, SqlConfig, next_cursor
from rapport.signals.model import Client, StoredSignal

NOW = datetime(2026, 11, 1, tzinfo=UTC)
REGISTRY = [Client(id="acme", name="Acme"), Client(id="globex", name="Globex")]
COLUMNS = {
    "event_id": "id",
    "client": "account",
    "severity": "sev",
    "opened_at": "opened",
    "resolved_at": "closed",
}


def context(secrets_: dict[str, str] | None = None) -> FetchContext:
    known = secrets_ or {}
    return FetchContext(
        now=NOW,
        clients=ClientMap([], "id", {c.id: c.id for c in REGISTRY}),
        secret=lambda name: known[name],
    )


@pytest.fixture(params=["sqlite file", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, table name) of an empty incidents table on each real backend."""
    table = f"incidents_{secrets.token_hex(4)}"
    if request.param == "sqlite file":
        url = f"sqlite:///{tmp_path / 'crm.db'}"
        time_type = "TEXT"
    else:
        url = request.getfixturevalue("pg_url")
        time_type = "TIMESTAMPTZ"
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE {table} (id TEXT PRIMARY KEY, account TEXT, sev TEXT,"
                f" opened {time_type},"
                f" closed {time_type}, modified {time_type})"
            )
        )
    try:
        yield url, table
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {table}"))
        engine.dispose()


def insert(url: str, table: str, *rows: tuple[Any, ...]) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(f"INSERT INTO {table} VALUES (:id, :account, :sev, :opened, :closed, :modified)"),
            [
                dict(zip(("id", "account", "sev", "opened", "closed", "modified"), r, strict=True))
                for r in rows
            ],
        )
    engine.dispose()


def sql(url: str, table: str, **settings: Any) -> SqlCollector:
    config = {
        "url": url,
        "kind": "incident",
        "columns": COLUMNS,
        "query": f"SELECT * FROM {table} WHERE modified >= :since",
        "cursor_column": "modified",
        **settings,
    }
    return SqlCollector(SqlConfig.model_validate(config))


def at(hour: int, minute: int = 0) -> str:
    return f"2026-10-01 {hour:02d}:{minute:02d}:00+00:00"


def test_rows_become_signals_and_bad_rows_are_skipped(database: tuple[str, str]) -> None:
    url, table = database
    insert(
        url,
        table,
        ("i1", "acme", "sev2", at(9), at(11), at(11)),
        ("i2", "globex", "critical", at(10), None, at(12)),
        ("i3", "hooli", "sev1", at(10), None, at(13)),
        ("i4", "globex", "sev3", at(14), None, at(14)),
    )
    ctx = context()
    signals, cursor = drain(sql(url, table), None, ctx)
    assert signals == [
        StoredSignal(
            event_id="sql:i1",
            client="acme",
            kind="incident",
            ts=datetime(2026, 10, 1, 9, tzinfo=UTC),
            end=datetime(2026, 10, 1, 11, tzinfo=UTC),
            attrs={"severity": "sev2"},
        ),
        StoredSignal(
            event_id="sql:i4",
            client="globex",
            kind="incident",
            ts=datetime(2026, 10, 1, 14, tzinfo=UTC),
            attrs={"severity": "sev3"},
        ),
    ]
    assert ctx.skipped == [
        "row 2 (event_id='i2'): severity: Input should be 'sev1', 'sev2', 'sev3' or 'sev4'"
    ]
    assert dict(ctx.clients.unmapped) == {"hooli": 1}
    assert cursor["offset"] == 0


def test_pages_of_tied_cursor_values_are_read_once_each(database: tuple[str, str]) -> None:
    url, table = database
    insert(
        url,
        table,
        ("a", "acme", "sev3", at(9), None, at(9)),
        ("b", "acme", "sev3", at(9), None, at(10)),
        ("c", "acme", "sev3", at(9), None, at(10)),
        ("d", "acme", "sev3", at(9), None, at(10)),
        ("e", "acme", "sev3", at(9), None, at(11)),
    )
    collector = sql(url, table, page_size=2)
    ctx = context()
    pages = []
    cursor: Any = None
    while True:
        result = collector.fetch(cursor, ctx)
        pages.append([s.event_id for s in result.signals])
        cursor = result.cursor
        if not result.more:
            break
    assert pages == [["sql:a", "sql:b"], ["sql:c", "sql:d"], ["sql:e"]]
    # a row added later with the last value is found; the row tied with it is read again
    insert(url, table, ("f", "globex", "sev1", at(11), None, at(11)))
    signals, _ = drain(collector, cursor, ctx)
    assert [s.event_id for s in signals] == ["sql:e", "sql:f"]


def test_the_cursor_survives_json_and_rebinds_the_same_type(database: tuple[str, str]) -> None:
    url, table = database
    insert(url, table, ("a", "acme", "sev3", at(9), None, at(9)))
    _, cursor = drain(sql(url, table), None, context())
    restored = json.loads(json.dumps(cursor))
    insert(url, table, ("b", "acme", "sev3", at(10), None, at(10)))
    signals, _ = drain(sql(url, table), restored, context())
    assert [s.event_id for s in signals] == ["sql:a", "sql:b"]


def test_without_a_cursor_column_the_whole_query_is_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE csat (rid INTEGER, org TEXT, score REAL, at TEXT)"))
        connection.execute(text("INSERT INTO csat VALUES (7, 'acme', 4.5, '2026-10-02 08:00:00')"))
    engine.dispose()
    config = SqlConfig.model_validate(
        {
            "url": url,
            "kind": "survey",
            "query": "SELECT rid, org, score, at FROM csat",
            "columns": {"event_id": "rid", "client": "org", "value": "score", "ts": "at"},
            "values": {"scale": "csat"},
            "event_id_prefix": "crm-csat",
        }
    )
    result = SqlCollector(config).fetch(None, context())
    assert result.signals == [
        StoredSignal(
            event_id="crm-csat:7",
            client="acme",
            kind="survey",
            ts=datetime(2026, 10, 2, 8, tzinfo=UTC),
            value=4.5,
            attrs={"scale": "csat"},
        )
    ]
    assert result.cursor is None and result.more is False


def test_a_failing_query_fails_the_run_with_the_database_reason(tmp_path: Path) -> None:
    collector = sql(f"sqlite:///{tmp_path / 'crm.db'}", "no_such_table")
    with pytest.raises(CollectorError, match=r"query failed on .*no such table: no_such_table"):
        collector.fetch(None, context())


def test_the_password_comes_from_the_named_secret(pg_url: str) -> None:
    url = pg_url  # trust auth: any password is accepted, so the run succeeds with it
    config = SqlConfig.model_validate(
        {
            "url": url,
            "token_env": "CRM_PASSWORD",
            "kind": "survey",
            "query": "SELECT 1 AS x WHERE false",
        }
    )
    assert SqlCollector(config).fetch(None, context({"CRM_PASSWORD": "s3cret\n"})).signals == []
    with pytest.raises(CollectorError, match="cannot read the password 'CRM_PASSWORD'"):
        SqlCollector(config).fetch(None, context())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"url": "postgresql://app:hunter2@db/crm"},
            "the url holds a password",
            id="a password in the url is refused",
        ),
        pytest.param(
            {"cursor_column": "modified", "query": "SELECT * FROM t"},
            "must use :since",
            id="an incremental query without since is refused",
        ),
        pytest.param(
            {"url": "not a url"}, "is not an SQLAlchemy URL", id="a malformed url is refused"
        ),
        pytest.param(
            {"columns": {"due": "d"}},
            "unknown field 'due' for kind incident",
            id="a field of another kind is refused",
        ),
    ],
)
def test_config_errors(settings: dict[str, Any], message: str) -> None:
    base = {
        "url": "sqlite:///x.db",
        "kind": "incident",
        "query": "SELECT * FROM t WHERE m >= :since",
    }
    with pytest.raises(ValidationError, match=message):
        SqlConfig.model_validate({**base, **settings})


@pytest.mark.parametrize(
    ("since", "offset", "values", "expected"),
    [
        pytest.param(0, 0, [1, 2, 2], (2, 2), id="ties at the end of a page are skipped next time"),
        pytest.param(2, 2, [2, 2], (2, 4), id="a page all at the old value adds to the offset"),
        pytest.param(0, 0, [1, 2, 3], (3, 1), id="a clean page skips only its last row"),
    ],
)
def test_next_cursor(since: int, offset: int, values: list[int], expected: tuple[int, int]) -> None:
    assert next_cursor(since, offset, values) == expected
