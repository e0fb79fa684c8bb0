"""The ``file`` collector against real files in a drop folder."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from rapport.signals.collectors.base import ClientMap, CollectorError, FetchContext
from rapport.signals.collectors.file import FileCollector, FileConfig
from rapport.signals.model import Client, StoredSignal

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REGISTRY = [Client(id=c, name=c) for c in ("acme", "globex", "initech")]


def context() -> FetchContext:
    """Client ids map to themselves (the file collector's default), as the runner does it."""
    identity = {c.id: c.id for c in REGISTRY}
    return FetchContext(
        now=NOW, clients=ClientMap([], "id", identity), secret=os.environ.__getitem__
    )


def collector(folder: Path, **settings: Any) -> FileCollector:
    return FileCollector(FileConfig.model_validate({"path": str(folder), **settings}))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_csv_rows_become_signals_through_the_column_mapping(tmp_path: Path) -> None:
    (tmp_path / "tickets.csv").write_text(
        "Ticket,Account,Opened,Hours,Channel\n"
        "T-1,acme,2026-10-01 09:00,1.5,email\n"
        "T-2,globex,2026-10-02T10:30:00+02:00,0.25,phone\n"
    )
    files = collector(
        tmp_path,
        kind="response_time",
        columns={"event_id": "Ticket", "client": "Account", "ts": "Opened", "value": "Hours"},
        values={"channel": "helpdesk"},
    )
    result = files.fetch(None, context())
    assert result.signals == [
        StoredSignal(
            event_id="file:T-1",
            client="acme",
            kind="response_time",
            ts=utc(2026, 10, 1, 9),
            value=1.5,
            attrs={"channel": "helpdesk"},
        ),
        StoredSignal(
            event_id="file:T-2",
            client="globex",
            kind="response_time",
            ts=utc(2026, 10, 2, 8, 30),
            value=0.25,
            attrs={"channel": "helpdesk"},
        ),
    ]
    assert result.more is False


def test_a_bare_due_date_ends_at_midnight_in_the_clients_time_zone(tmp_path: Path) -> None:
    (tmp_path / "milestones.csv").write_text(
        "event_id,client,due,delivered_at\nm1,yunfan,2026-06-30,2026-06-30\n"
    )
    shanghai = Client(id="yunfan", name="Yunfan", timezone="Asia/Shanghai")
    clients = ClientMap([shanghai], "id", {"yunfan": "yunfan"})
    ctx = FetchContext(now=NOW, clients=clients, secret=os.environ.__getitem__)
    (signal,) = collector(tmp_path, kind="milestone").fetch(None, ctx).signals
    # 2026-07-01T00:00 in Asia/Shanghai (UTC+8), not midnight UTC
    assert signal.ts == signal.end == utc(2026, 6, 30, 16)


def test_jsonl_milestones_use_same_named_fields_without_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "milestones.jsonl").write_text(
        '{"event_id": "m1", "client": "acme", "due": "2026-10-31", "name": "Go-live"}\n'
        "\n"
        '{"event_id": "m2", "client": "initech", "due": "2026-09-30T17:00:00Z",'
        ' "delivered_at": "2026-10-02T09:00:00Z", "project": "ERP"}\n'
    )
    result = collector(tmp_path, kind="milestone", glob="*.jsonl").fetch(None, context())
    assert result.signals == [
        StoredSignal(
            event_id="file:m1",
            client="acme",
            kind="milestone",
            ts=utc(2026, 11, 1),
            attrs={"name": "Go-live"},
        ),
        StoredSignal(
            event_id="file:m2",
            client="initech",
            kind="milestone",
            ts=utc(2026, 9, 30, 17),
            end=utc(2026, 10, 2, 9),
            attrs={"project": "ERP"},
        ),
    ]


def test_custom_kind_reads_declared_attributes_and_local_times(tmp_path: Path) -> None:
    (tmp_path / "invoices.csv").write_text(
        "id;customer;date;overdue;region\n1;acme;14.10.2026 08:00;3;EMEA\n"
    )
    files = collector(
        tmp_path,
        kind="overdue_invoices",
        delimiter=";",
        time_format="%d.%m.%Y %H:%M",
        timezone="Europe/Berlin",
        event_id_prefix="billing",
        columns={
            "event_id": "id",
            "client": "customer",
            "ts": "date",
            "value": "overdue",
            "attrs.region": "region",
        },
    )
    [signal] = files.fetch(None, context()).signals
    assert signal == StoredSignal(
        event_id="billing:1",
        client="acme",
        kind="overdue_invoices",
        ts=utc(2026, 10, 14, 6),
        value=3.0,
        attrs={"region": "EMEA"},
    )


def test_malformed_rows_are_skipped_with_their_line_and_the_rest_kept(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "event_id,client,ts,value\n"
        "a,acme,2026-10-01T09:00:00Z,1\n"
        "b,acme,not a time,1\n"
        "c,,2026-10-01T09:00:00Z,1\n"
        "d,globex,2026-10-01T09:00:00Z,-4\n"
        "e,globex,2026-10-01T09:00:00Z,2\n"
    )
    ctx = context()
    signals = collector(tmp_path, kind="response_time").fetch(None, ctx).signals
    assert [s.event_id for s in signals] == ["file:a", "file:e"]
    assert ctx.skipped == [
        "t.csv:3: ts: Input should be a valid datetime or date, invalid character in year",
        "t.csv:4: client: no value (map the client column in columns)",
        "t.csv:5: value: Input should be greater than or equal to 0",
    ]


def test_rows_of_unknown_clients_are_counted_not_stored(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "event_id,client,ts,value\n"
        "a,acme,2026-10-01T09:00:00Z,1\nb,hooli,2026-10-01T09:00:00Z,1\nc,hooli,2026-10-02T09:00:00Z,1\n"
    )
    ctx = context()
    signals = collector(tmp_path, kind="response_time").fetch(None, ctx).signals
    assert [s.client for s in signals] == ["acme"]
    assert dict(ctx.clients.unmapped) == {"hooli": 2}
    assert ctx.skipped == []


def test_rows_without_an_id_get_a_stable_content_id(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("client,ts,value\nacme,2026-10-01T09:00:00Z,1\n")
    files = collector(tmp_path, kind="response_time")
    first = files.fetch(None, context()).signals
    second = files.fetch(None, context()).signals
    assert first == second
    assert first[0].event_id.startswith("file:") and len(first[0].event_id) == len("file:") + 20


def test_one_file_per_fetch_and_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(
            f"event_id,client,ts,value\n{name},acme,2026-10-01T09:00:00Z,1\n"
        )
    files = collector(tmp_path, kind="response_time")
    first = files.fetch(None, context())
    assert [s.event_id for s in first.signals] == ["file:a.csv"] and first.more is True
    second = files.fetch(first.cursor, context())
    assert [s.event_id for s in second.signals] == ["file:b.csv"] and second.more is False
    third = files.fetch(second.cursor, context())
    assert third.signals == [] and third.more is False
    assert third.cursor == second.cursor
    assert set(third.cursor["files"]) == {"a.csv", "b.csv"}


def test_a_changed_file_is_read_again_and_a_deleted_one_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("event_id,client,ts,value\nx,acme,2026-10-01T09:00:00Z,1\n")
    (tmp_path / "b.csv").write_text("event_id,client,ts,value\ny,acme,2026-10-01T09:00:00Z,1\n")
    files = collector(tmp_path, kind="response_time")
    cursor = files.fetch(files.fetch(None, context()).cursor, context()).cursor
    path.write_text("event_id,client,ts,value\nx,acme,2026-10-01T09:00:00Z,7\n")
    (tmp_path / "b.csv").unlink()
    result = files.fetch(cursor, context())
    assert [(s.event_id, s.value) for s in result.signals] == [("file:x", 7.0)]
    assert set(result.cursor["files"]) == {"a.csv"}


def test_a_file_over_the_size_limit_is_skipped_and_remembered(tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_text(
        "event_id,client,ts,value\n" + "a,acme,2026-10-01T09:00:00Z,1\n" * 50
    )
    ctx = context()
    result = collector(tmp_path, kind="response_time", max_file_bytes=100).fetch(None, ctx)
    assert result.signals == []
    assert ctx.skipped == ["big.csv: 1525 bytes is over max_file_bytes (100)"]
    assert "big.csv" in result.cursor["files"]


def test_a_missing_drop_folder_fails_the_run(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match=r"drop folder .*nowhere does not exist"):
        collector(tmp_path / "nowhere", kind="response_time").fetch(None, context())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"kind": "response_time", "columns": {"due": "Due"}},
            "unknown field 'due' for kind response_time",
            id="a milestone field on a response_time source is refused",
        ),
        pytest.param(
            {"kind": "incident", "columns": {"attrs.region": "Region"}},
            "unknown field 'attrs.region' for kind incident",
            id="free attributes on a built-in kind are refused",
        ),
        pytest.param(
            {"kind": "response_time", "timezone": "Mars/Olympus"},
            "unknown time zone 'Mars/Olympus'",
            id="an unknown time zone is refused",
        ),
    ],
)
def test_config_errors_are_reported(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FileConfig.model_validate({"path": str(tmp_path), **settings})
