"""``rapport import`` of JSON Lines in the shapes exports have, kinds checked against the
scorecard, clients not in the registry reported, and bare dates ending in the client's zone."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rapport.engine.kinds import known_kinds
from rapport.signals.importer import ImportRejectedError, import_files
from rapport.signals.model import (
    BUILTIN_SIGNALS,
    Client,
    IncidentSignal,
    MilestoneSignal,
    end_of_day,
)
from rapport.signals.natural import RECORDED_AT, natural_signal
from rapport.signals.store import Store

TableRows = Callable[..., list[tuple[Any, ...]]]
COLUMNS = ("event_id", "kind", "ts", "end_ts", "value", "attrs")


def jsonl(path: Path, *rows: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_the_natural_export_shape_imports(
    store: Store, tmp_path: Path, table_rows: TableRows
) -> None:
    path = jsonl(
        tmp_path / "export.jsonl",
        {"event_id": "s-1", "client": "acme", "kind": "survey", "ts": "2026-06-01T09:00:00Z",
         "value": 9, "attrs": {"scale": "nps"}},
        {"event_id": "i-1", "client": "acme", "kind": "incident", "severity": "sev2",
         "opened_at": "2026-06-02T08:00:00Z", "resolved_at": None, "value": None, "rev": 3},
        {"event_id": "r-1", "client": "acme", "kind": "response_time",
         "ts": "2026-06-03T10:00:00Z", "value": 2.5, "channel": "email",
         "attrs": {"queue": "tier2", "thread": None}},
    )  # fmt: skip
    report = import_files(store, [path])
    assert report.signals.inserted == 3
    assert sorted(table_rows("signals", COLUMNS)) == [
        ("i-1", "incident", epoch("2026-06-02T08:00:00+00:00"), None, None,
         '{"rev":"3","severity":"sev2"}'),
        ("r-1", "response_time", epoch("2026-06-03T10:00:00+00:00"), None, 2.5,
         '{"channel":"email","queue":"tier2"}'),
        ("s-1", "survey", epoch("2026-06-01T09:00:00+00:00"), None, 9.0, '{"scale":"nps"}'),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "model", [MilestoneSignal, IncidentSignal], ids=["a milestone", "an incident"]
)
def test_the_ts_of_a_kind_without_one_is_its_recorded_at_when_the_model_has_that_field(
    model: type[Any],
) -> None:
    # Written against the model's field list: it checks whichever side of recorded_at is merged.
    kind = {MilestoneSignal: "milestone", IncidentSignal: "incident"}[model]
    shaped = natural_signal({"kind": kind, "ts": "2026-06-01T00:00:00Z"})
    if RECORDED_AT in model.model_fields:
        assert shaped == {"kind": kind, RECORDED_AT: "2026-06-01T00:00:00Z"}
    else:  # never an attribute holding a time: the row is refused, naming the field to use
        assert shaped == {"kind": kind, "ts": "2026-06-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(
            {"kind": "milestone", "name": "go-live"},
            "due: required for milestone signals (use due: 2026-06-30 or an ISO 8601 time)",
            id="a milestone without due names how to write one",
        ),
        pytest.param(
            {"kind": "incident", "severty": "sev1", "opened_at": "2026-06-01T00:00:00Z"},
            "severity: required for incident signals (use sev1, sev2, sev3 or sev4)\n"
            "severty: not a field of incident signals (did you mean 'severity'?)",
            id="a misspelt field is not kept as an attribute",
        ),
        pytest.param(
            {"kind": "survey", "ts": "yesterday", "value": 3},
            "ts: Input should be a valid datetime or date, input is too short"
            " (use an ISO 8601 time such as ts: 2026-06-01T09:00:00Z)",
            id="an unreadable time names the ISO 8601 form",
        ),
        pytest.param(
            {"kind": "respnse_time", "ts": "2026-06-01T00:00:00Z", "value": 1},
            "kind: unknown kind 'respnse_time' (did you mean 'response_time'? or declare it"
            " under signals: in the scorecard)",
            id="a misspelt kind is refused with the kind it is close to",
        ),
    ],
)
def test_errors_that_remain_name_the_fix(
    store: Store, tmp_path: Path, row: dict[str, Any], expected: str
) -> None:
    path = jsonl(tmp_path / "bad.jsonl", {"event_id": "e-1", "client": "acme", **row})
    with pytest.raises(ImportRejectedError) as caught:
        import_files(store, [path], known_kinds=known_kinds(["overdue_invoices"]))
    assert "\n".join(e.message for e in caught.value.errors) == expected
    assert store.is_empty()


def test_without_the_scorecards_kinds_any_custom_kind_imports(store: Store, tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "custom.jsonl",
        {"event_id": "c-1", "client": "acme", "kind": "respnse_time",
         "ts": "2026-06-01T00:00:00Z", "value": 1},
    )  # fmt: skip
    assert import_files(store, [path]).signals.inserted == 1


def test_signals_of_clients_not_in_the_registry_are_imported_and_reported(
    store: Store, tmp_path: Path
) -> None:
    rows = [
        {"event_id": f"e-{i}", "client": client, "kind": "response_time",
         "ts": "2026-06-01T00:00:00Z", "value": 1}
        for i, client in enumerate(["acme", "contoso-retal", "contoso-retal", "contoso-retal"])
    ]  # fmt: skip
    path = jsonl(tmp_path / "signals.jsonl", *rows)
    report = import_files(store, [path], registry=[Client(id="acme", name="Acme")])
    assert report.signals.inserted == 4
    assert report.unregistered == {"contoso-retal": 3}
    assert "3 signals for 1 client not in the registry: contoso-retal" in report.summary()


def test_a_bare_due_date_ends_at_midnight_in_the_clients_time_zone(
    store: Store, tmp_path: Path, table_rows: TableRows
) -> None:
    clients = jsonl(
        tmp_path / "clients.jsonl",
        {"id": "yunfan", "name": "Yunfan", "timezone": "Asia/Shanghai"},
    )
    signals = jsonl(
        tmp_path / "milestones.jsonl",
        {"event_id": "m-sh", "client": "yunfan", "kind": "milestone", "due": "2026-06-30"},
        {"event_id": "m-utc", "client": "acme", "kind": "milestone", "due": "2026-06-30"},
    )
    import_files(store, [signals, clients])  # clients are read first, whatever the order
    # Hand-computed: 2026-07-01T00:00+08:00 = 2026-06-30T16:00Z; in UTC 2026-07-01T00:00Z.
    assert sorted(table_rows("signals", ("event_id", "ts"))) == [
        ("m-sh", datetime(2026, 6, 30, 16, tzinfo=UTC).timestamp()),
        ("m-utc", datetime(2026, 7, 1, tzinfo=UTC).timestamp()),
    ]
    assert {c.id: c.timezone for c in store.clients()} == {"yunfan": "Asia/Shanghai"}


def test_the_registry_given_resolves_bare_dates_too(
    store: Store, tmp_path: Path, table_rows: TableRows
) -> None:
    signals = jsonl(
        tmp_path / "m.jsonl",
        {"event_id": "m-ny", "client": "ny", "kind": "milestone", "due": "2026-01-15",
         "delivered_at": "2026-01-15"},
    )  # fmt: skip
    ny = Client(id="ny", name="NY", timezone="America/New_York")
    import_files(store, [signals], registry=[ny])
    midnight = datetime(2026, 1, 16, 5, tzinfo=UTC).timestamp()  # EST is UTC-5 in January
    assert table_rows("signals", ("ts", "end_ts")) == [(midnight, midnight)]


def test_the_built_in_kinds_accept_nested_attrs_over_every_path() -> None:
    # One model for every path (import, API, collectors): each built-in kind keeps extra attrs.
    assert all("attrs" in kind.model.model_fields for kind in BUILTIN_SIGNALS.values())
    assert all("attrs" not in kind.fields for kind in BUILTIN_SIGNALS.values())
    assert (
        date(2026, 6, 30)
        == MilestoneSignal(
            event_id="m",
            client="c",
            kind="milestone",
            due="2026-06-30",  # type: ignore[arg-type]
        ).due
    )


def test_a_bare_date_in_shanghai_ends_at_1600_utc_the_instant_the_engine_tests_use() -> None:
    due = end_of_day(date(2026, 6, 30), ZoneInfo("Asia/Shanghai"))
    assert due == datetime(2026, 6, 30, 16, tzinfo=UTC)
    assert due.timestamp() == 1782835200.0  # tests/engine/test_due_boundary.py's DUE


def test_an_outcome_of_a_type_neither_built_in_nor_declared_rejects_the_import(
    store: Store, tmp_path: Path
) -> None:
    rows = [{"event_id": f"o-{i}", "client": "acme", "kind": "outcome",
             "ts": "2026-06-01T00:00:00Z", "type": kind}
            for i, kind in enumerate(["renewed", "downsell", "chruned"])]  # fmt: skip
    path = jsonl(tmp_path / "outcomes.jsonl", *rows)
    types = ("renewed", "churned", "escalated", "downsell")
    with pytest.raises(ImportRejectedError) as caught:
        import_files(store, [path], known_kinds=known_kinds([]), outcome_types=types)
    assert [(e.line, e.message) for e in caught.value.errors] == [
        (3, "type: unknown outcome type 'chruned' (did you mean 'churned'? or declare it under "
            "signals: outcome: {types: [chruned]} in the scorecard)"),
    ]  # fmt: skip
    assert store.is_empty()
    rows.pop()
    assert import_files(store, [jsonl(path, *rows)], outcome_types=types).signals.inserted == 2
