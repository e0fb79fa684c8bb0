"""``import_files``: CSV and JSON Lines of signals and clients, all or nothing, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rapport.signals import importer
from rapport.signals.importer import (
    BATCH_ROWS,
    ImportCounts,
    ImportRejectedError,
    RowError,
    import_files,
)
from rapport.signals.model import BUILTIN_SIGNALS, COMMON_FIELDS, CUSTOM_SIGNAL, Client, Owner
from rapport.signals.store import Store

DATA = Path(__file__).with_name("data")
TableRows = Callable[..., list[tuple[Any, ...]]]  # the conftest fixture table_rows
SIGNAL_COLUMNS = ("event_id", "client", "kind", "ts", "end_ts", "value", "attrs", "source")

# The five signals of data/signals.csv and data/signals.jsonl, worked out by hand:
# 2024-03-01T12:00Z = 1709294400; the bare due date 2024-03-10 is the end of that day, 03-11T00:00Z
# = 1710115200; delivered 2024-03-09T15:00+01:00 = 14:00Z = 1709992800; the naive survey time
# 2024-03-02 09:30 is UTC = 1709371800; 2024-03-03T00:00Z = 1709424000; 2024-03-04T00:00Z =
# 1709510400.
# In the table's key order: (client, event_id).
SAMPLE_ROWS = [
    ("inv-1", "acme", "overdue_invoices", 1709510400.0, None, 2.0, '{"region":"emea"}', "erp"),
    ("ms-1", "acme", "milestone", 1710115200.0, 1709992800.0, None,
     '{"name":"go-live","project":"portal"}', "manual"),
    ("rt-1", "acme", "response_time", 1709294400.0, None, 4.5,
     '{"channel":"email","thread":"T-1"}', "zendesk"),
    ("in-1", "beta", "incident", 1709424000.0, None, None,
     '{"service":"api","severity":"sev1"}', "pagerduty"),
    ("sv-1", "beta", "survey", 1709371800.0, None, 9.0, '{"scale":"nps","survey":"q1"}', "manual"),
]  # fmt: skip

SAMPLE_CLIENTS = [
    Client(
        id="acme",
        name="Acme Corp",
        segment="enterprise",
        owner=Owner(name="Ann Lee", email="ann@example.com", locale="de"),
        attrs={"tier": "gold"},
    ),
    Client(id="beta", name="Beta Ltd"),
]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rejection(store: Store, *paths: Path, **options: Any) -> str:
    with pytest.raises(ImportRejectedError) as caught:
        import_files(store, list(paths), **options)
    return str(caught.value)


# --- good files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["signals.csv", "signals.jsonl"], ids=["signals from CSV", "signals from JSON Lines"]
)
def test_a_signals_file_stores_exactly_its_rows(
    store: Store, table_rows: TableRows, name: str
) -> None:
    report = import_files(store, [DATA / name])
    assert report.signals == ImportCounts(inserted=5)
    assert report.clients == ImportCounts()
    assert (report.rows_read, report.errors, report.dry_run) == (5, [], False)
    assert table_rows("signals", *SIGNAL_COLUMNS) == SAMPLE_ROWS


@pytest.mark.parametrize(
    "name", ["clients.csv", "clients.jsonl"], ids=["clients from CSV", "clients from JSON Lines"]
)
def test_a_clients_file_fills_the_registry(store: Store, name: str) -> None:
    report = import_files(store, [DATA / name])
    assert report.clients == ImportCounts(inserted=2)
    assert store.clients() == SAMPLE_CLIENTS


def test_clients_and_signals_files_import_together(store: Store) -> None:
    report = import_files(store, [DATA / "clients.csv", DATA / "signals.jsonl"])
    assert (report.clients.inserted, report.signals.inserted, report.rows_read) == (2, 5, 7)
    assert report.summary() == (
        "7 rows read\n"
        "signals: 5 inserted, 0 updated, 0 unchanged\n"
        "clients: 2 inserted, 0 updated, 0 unchanged"
    )


def test_importing_the_same_file_again_changes_nothing(store: Store, table_rows: TableRows) -> None:
    import_files(store, [DATA / "signals.csv"])
    before = table_rows("signals")  # every column, ingested_at included
    report = import_files(store, [DATA / "signals.jsonl"])  # same signals, other format
    assert report.signals == ImportCounts(unchanged=5)
    assert table_rows("signals") == before


def test_a_row_with_a_changed_payload_updates_the_stored_signal(
    store: Store, table_rows: TableRows, tmp_path: Path
) -> None:
    import_files(store, [DATA / "signals.csv"])
    reopened = write(
        tmp_path / "incident.csv",
        "event_id,client,kind,source,severity,opened_at,resolved_at,service\n"
        "in-1,beta,incident,pagerduty,sev1,2024-03-03T00:00:00Z,2024-03-03T06:00:00Z,api\n",
    )
    report = import_files(store, [reopened])
    assert report.signals == ImportCounts(updated=1)
    rows = {row[0]: row for row in table_rows("signals", *SIGNAL_COLUMNS)}
    assert rows["in-1"][4] == 1709424000.0 + 6 * 3600
    assert len(rows) == 5


def test_the_kind_can_be_forced(store: Store, tmp_path: Path) -> None:
    only_ids = write(tmp_path / "ids.csv", "id,name\nacme,Acme\n")
    report = import_files(store, [only_ids], kind="clients")
    assert report.clients == ImportCounts(inserted=1)
    message = rejection(store, DATA / "clients.csv", kind="signals")
    assert f"{DATA / 'clients.csv'}:1: id: unknown column" in message


def test_progress_is_reported_in_bytes_up_to_the_total(store: Store) -> None:
    calls: list[tuple[int, int]] = []
    paths = [DATA / "clients.jsonl", DATA / "signals.csv"]
    import_files(store, paths, on_progress=lambda done, total: calls.append((done, total)))
    total = sum(p.stat().st_size for p in paths)
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_a_dry_run_reports_counts_and_errors_but_writes_nothing(store: Store) -> None:
    report = import_files(store, [DATA / "signals.csv", DATA / "bad_signals.csv"], dry_run=True)
    assert report.dry_run
    assert report.signals == ImportCounts(inserted=5)  # counted until the first bad row
    assert len(report.errors) == 5
    assert store.signal_count() == 0
    assert report.summary().startswith("Dry run, nothing written. 12 rows read\n")


# --- bad files and rows -----------------------------------------------------------------------


def test_every_bad_row_is_reported_at_its_physical_line_and_nothing_is_written(
    store: Store,
) -> None:
    bad = DATA / "bad_signals.csv"
    message = rejection(store, DATA / "signals.csv", bad)
    assert message == "\n".join(
        [
            "Nothing imported: 5 problems found",
            f"{bad}:3: value: Input should be a valid number, unable to parse string as a number"
            " (use a number, e.g. value: 9)",
            # (a milestone's ts is its recorded_at now; this row has a delivery but no due date)
            f"{bad}:7: due: required for milestone signals"
            " (use due: 2026-06-30 or an ISO 8601 time)",
            f"{bad}:8: client: required for response_time signals"
            " (use the client's id from clients.yaml, e.g. client: acme)",
            f"{bad}:9: row: value 11 is outside the nps scale 0..10",
            f"{bad}:10: row: has 9 cells, the header has 8",
        ]
    )
    assert store.is_empty()


def test_an_unknown_column_is_named_with_a_suggestion(store: Store) -> None:
    path = DATA / "unknown_column.csv"
    assert rejection(store, path) == (
        f"Nothing imported: 1 problem found\n"
        f"{path}:1: vaule: unknown column (did you mean 'value'?)"
    )


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        pytest.param(
            "notes.txt", "event_id\n",
            "{path}: unsupported file type '.txt' (use .csv, .jsonl, .ndjson)",
            id="a file that is neither CSV nor JSON Lines is refused",
        ),
        pytest.param(
            "mystery.csv", "foo,bar\n1,2\n",
            "{path}: cannot tell signals from clients: signals have a kind field, clients id and "
            "name (or choose the kind explicitly)",
            id="a file that is neither signals nor clients is refused",
        ),
        pytest.param(
            "empty.csv", "\n\n", "{path}: no header row", id="a CSV without a header is refused",
        ),
        pytest.param(
            "twice.csv", "event_id,kind,kind\n", "{path}:1: kind: column appears twice",
            id="a repeated column is refused",
        ),
        pytest.param(
            "lines.jsonl",
            '{"event_id": "a", "client": "acme", "kind": "response_time", "ts": "2024-03-01", '
            '"value": 1}\n{"event_id": \n[1, 2]\n\n{"id": "x", "kind": "survey"}\n',
            "{path}:2: row: not valid JSON (Expecting value at column 13)\n"
            "{path}:3: row: expected a JSON object\n"
            "{path}:5: event_id: required for survey signals"
            " (use a unique id of the event, e.g. event_id: ms-42)\n"
            "{path}:5: client: required for survey signals"
            " (use the client's id from clients.yaml, e.g. client: acme)\n"
            "{path}:5: ts: required for survey signals"
            " (use an ISO 8601 time such as ts: 2026-06-01T09:00:00Z)\n"
            "{path}:5: value: required for survey signals (use a number, e.g. value: 9)",
            id="bad JSON lines are reported one by one",
        ),
        pytest.param(
            "owners.csv", "id,name,owner_email\nacme,Acme,not-an-email\n",
            "{path}:2: owner_name: Field required\n"
            "{path}:2: owner_email: String should match pattern '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'",
            id="a client's owner fields are named by their CSV columns",
        ),
    ],
)  # fmt: skip
def test_bad_files_are_refused_with_a_reason(
    store: Store, tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = write(tmp_path / name, content)
    message = rejection(store, path)
    assert message.split("\n", 1)[1] == expected.format(path=path)
    assert store.is_empty()


def test_a_missing_file_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "gone.csv"
    assert rejection(store, path).endswith(
        f"{path}: cannot read the file: No such file or directory"
    )


def test_a_line_that_is_not_utf8_is_a_bad_row(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"event_id,client,kind,ts,value,thread\n"
        b"a,acme,response_time,2024-03-01T12:00:00Z,1,caf\xe9\n"
    )
    assert rejection(store, path).endswith(f"{path}:2: row: not valid UTF-8 text")


def test_only_the_first_fifty_problems_are_listed(store: Store, tmp_path: Path) -> None:
    rows = "".join(f"e{i},acme,response_time,2024-03-01T12:00:00Z,x\n" for i in range(60))
    path = write(tmp_path / "many.csv", "event_id,client,kind,ts,value\n" + rows)
    with pytest.raises(ImportRejectedError) as caught:
        import_files(store, [path])
    lines = str(caught.value).splitlines()
    assert lines[0] == "Nothing imported: 60 problems found"
    assert lines[1].startswith(f"{path}:2: value:")
    assert lines[50].startswith(f"{path}:51: value:")
    assert lines[51:] == ["... and 10 more"]
    assert len(caught.value.errors) == 60
    assert caught.value.errors[-1] == RowError(
        str(path),
        61,
        "value: Input should be a valid number, unable to parse string as a number"
        " (use a number, e.g. value: 9)",
    )


def test_a_bad_row_after_several_written_batches_rolls_everything_back(
    store: Store, tmp_path: Path
) -> None:
    count = 2 * BATCH_ROWS + 10
    rows = "".join(f"e{i},acme,response_time,2024-03-01T12:00:00Z,{i}\n" for i in range(count))
    bad = "late,acme,response_time,2024-03-01T12:00:00Z,-1\n"  # hours cannot be negative
    path = write(tmp_path / "big.csv", "event_id,client,kind,ts,value\n" + rows + bad)
    message = rejection(store, path)
    assert message.endswith(
        f"{path}:{count + 2}: value: Input should be greater than or equal to 0"
    )
    assert store.signal_count() == 0
    good = write(tmp_path / "big_good.csv", "event_id,client,kind,ts,value\n" + rows)
    assert import_files(store, [good]).signals == ImportCounts(inserted=count)
    assert store.signal_count() == count


def test_the_signal_columns_are_every_models_fields_and_the_docstring_lists_them() -> None:
    payload = {name for kind in (*BUILTIN_SIGNALS.values(), CUSTOM_SIGNAL) for name in kind.fields}
    assert set(importer.SIGNAL_COLUMNS) == {*COMMON_FIELDS, *payload}
    lines = (importer.__doc__ or "").splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("=====")]
    documented = sorted(line.split()[0] for line in lines[rules[1] + 1 : rules[2]])
    assert documented == sorted([*importer.SIGNAL_COLUMNS, "attrs.<name>"])


def test_a_row_whose_event_id_is_another_clients_is_imported_as_its_own_signal(
    store: Store, tmp_path: Path, table_rows: TableRows
) -> None:
    header = "event_id,client,kind,ts,value\n"
    first = write(tmp_path / "acme.csv", header + "e1,acme,response_time,2026-06-01T10:00:00Z,3\n")
    import_files(store, [first])
    second = write(
        tmp_path / "beta.csv",
        header
        + "e1,beta,response_time,2026-06-01T10:00:00Z,5\n"
        + "e2,beta,response_time,2026-06-02T10:00:00Z,4\n",
    )
    report = import_files(store, [second])
    assert (report.signals.inserted, report.signals.updated) == (2, 0)
    assert "signals: 2 inserted, 0 updated, 0 unchanged" in report.summary()
    assert "acme" not in report.summary()
    assert sorted(table_rows("signals", "event_id", "client", "value")) == [
        ("e1", "acme", 3.0),
        ("e1", "beta", 5.0),
        ("e2", "beta", 4.0),
    ]
