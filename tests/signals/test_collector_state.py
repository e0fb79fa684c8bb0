"""Collector cursors and the run log, on both real backends (``store`` from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from sqlalchemy import inspect

from rapport.api.commands.collect import render_runs
from rapport.signals.collector_state import (
    RunRecord,
    collector_cursors,
    collector_runs,
    load_cursor,
    prune_runs,
    recent_runs,
    record_run,
    reset_cursor,
    run_summaries,
    save_cursor,
)
from rapport.signals.store import Store, StoreError

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
DropTable = Callable[[str], None]  # the conftest fixture drop_table


def run(collector: str, minutes: int, ok: bool = True) -> RunRecord:
    started = T0 + timedelta(minutes=minutes)
    return RunRecord(
        collector=collector,
        started_at=started,
        finished_at=started + timedelta(seconds=3),
        ok=ok,
        error=None if ok else "HTTP 500",
    )


def test_migrated_tables_match_the_state_module(store: Store) -> None:
    inspector = inspect(store._engine)
    for table in (collector_cursors, collector_runs):
        columns = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name: c.nullable for c in table.columns}, table.name
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("collector_runs")}
    assert indexes == {"ix_collector_runs_collector_started": ["collector", "started_at"]}


def test_a_cursor_is_saved_replaced_and_reset(store: Store) -> None:
    assert load_cursor(store, "zendesk") is None
    save_cursor(store, "zendesk", {"start_time": 1717243200, "pages": ["a", None]}, T0)
    assert load_cursor(store, "zendesk") == {"start_time": 1717243200, "pages": ["a", None]}
    save_cursor(store, "zendesk", 42, T0 + timedelta(minutes=1))
    assert load_cursor(store, "zendesk") == 42
    save_cursor(store, "jira", None, T0)
    assert load_cursor(store, "jira") is None
    reset_cursor(store, "zendesk")
    assert load_cursor(store, "zendesk") is None


def test_runs_are_logged_with_their_details_and_read_back_newest_first(store: Store) -> None:
    first = RunRecord(
        collector="nps",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2.5),
        ok=True,
        items=10,
        stored=4,
        unmapped=3,
        skipped=1,
        unmapped_ids={"gmail.example": 2, "hooli.example": 1},
        skip_reasons=("nps.csv:7: Score: 'six' is not a number",),
        pages=1,
    )
    second = run("nps", 15, ok=False)
    for record in (first, second):
        assert record_run(store, record) > 0
    assert recent_runs(store, "nps") == [second, first]
    assert recent_runs(store, "nps", limit=1) == [second]
    assert first.duration == 2.5


def test_a_runs_warnings_are_logged_and_read_back(store: Store) -> None:
    warned = RunRecord(
        collector="plans",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1),
        ok=True,
        warnings=("type_ids entry 'deliverable' is neither the id nor the name of a type",),
    )
    record_run(store, warned)
    [read] = recent_runs(store, "plans")
    assert read == warned and read.warnings == warned.warnings


def test_summaries_give_the_latest_success_and_failure_up_to_an_instant(store: Store) -> None:
    for record in (run("a", 0), run("a", 10, ok=False), run("a", 20), run("b", 5, ok=False)):
        record_run(store, record)
    summaries = run_summaries(store)
    assert (summaries["a"].last_success, summaries["a"].last_failure) == (
        T0 + timedelta(minutes=20, seconds=3),
        T0 + timedelta(minutes=10, seconds=3),
    )
    assert (summaries["b"].last_success, summaries["b"].last_failure) == (
        None,
        T0 + timedelta(minutes=5, seconds=3),
    )
    earlier = run_summaries(store, until=T0 + timedelta(minutes=15))
    assert earlier["a"].last_success == T0 + timedelta(seconds=3)


def test_pruning_keeps_the_newest_runs_of_each_collector(store: Store) -> None:
    for minutes in range(5):
        record_run(store, run("a", minutes))
        record_run(store, run("b", minutes))
    assert prune_runs(store, keep=2, collectors=["a"]) == 3
    assert [r.started_at for r in recent_runs(store, "a")] == [
        T0 + timedelta(minutes=4),
        T0 + timedelta(minutes=3),
    ]
    assert len(recent_runs(store, "b")) == 5
    assert prune_runs(store, keep=1) == 1 + 4


# --- failures and the write lock ----------------------------------------------------------------

StoreCall = Callable[[Store], object]

_WRITES: list[tuple[StoreCall, str]] = [
    (lambda s: s.upsert_clients([]), "the store's own write (the reference)"),
    (lambda s: save_cursor(s, "zendesk", 1, T0), "saving a cursor"),
    (lambda s: reset_cursor(s, "zendesk"), "resetting a cursor"),
    (lambda s: record_run(s, run("zendesk", 0)), "recording a run"),
    (lambda s: prune_runs(s, keep=1), "pruning runs"),
]


@pytest.mark.parametrize(
    "write", [w for w, _ in _WRITES], ids=[f"{i} waits for the write lock" for _, i in _WRITES]
)
def test_collector_state_writes_take_the_store_write_lock(
    write_locked_store: Store, write: StoreCall
) -> None:
    # Another session holds the lock: a write that takes it waits, then times out like the store's.
    with pytest.raises(StoreError, match=r"^Cannot write to the store .*lock timeout"):
        write(write_locked_store)
    assert load_cursor(write_locked_store, "zendesk") is None  # reads never wait for it


_FAILURES: list[tuple[str, StoreCall, str]] = [
    ("collector_cursors", lambda s: load_cursor(s, "zendesk"), "reading a cursor"),
    ("collector_cursors", lambda s: save_cursor(s, "zendesk", 1, T0), "saving a cursor"),
    ("collector_cursors", lambda s: reset_cursor(s, "zendesk"), "resetting a cursor"),
    ("collector_runs", lambda s: record_run(s, run("nps", 0)), "recording a run"),
    ("collector_runs", recent_runs, "listing runs"),
    ("collector_runs", run_summaries, "summarising runs"),
    ("collector_runs", prune_runs, "pruning runs"),
]


@pytest.mark.parametrize(
    ("table", "operation"),
    [(t, o) for t, o, _ in _FAILURES],
    ids=[f"{i} without its table is a StoreError" for _, _, i in _FAILURES],
)
def test_a_database_failure_is_a_store_error_naming_the_cause(
    store: Store, drop_table: DropTable, table: str, operation: StoreCall
) -> None:
    drop_table(table)
    with pytest.raises(StoreError, match=rf"^Cannot (read from|write to) the store at .*{table}"):
        operation(store)


def test_collect_once_shows_a_runs_warnings_in_its_own_column() -> None:
    warned = RunRecord("plans", T0, T0, ok=True, warnings=("type_ids entry 'x' matches no type",))
    quiet = RunRecord("pager", T0, T0, ok=True)
    console = Console(width=200, record=True)
    console.print(render_runs([warned, quiet]))
    text = console.export_text()
    assert "warnings" in text and "type_ids entry 'x' matches no type" in text
    console = Console(width=200, record=True)
    console.print(render_runs([quiet]))
    assert "warnings" not in console.export_text()  # no column when no run has warnings
