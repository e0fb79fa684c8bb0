"""The runner against real stores (SQLite and PostgreSQL), real files and a loopback HTTP server:
failures isolated per collector, cursors saved after signals, crash resume, staleness, rescoring."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from collector_helpers import client
from fakeapi import FakeAPI, Reply
from sqlalchemy import text

from rapport.signals.collector_state import load_cursor, recent_runs
from rapport.signals.collectors.base import REGISTRY, CollectorConfig, FetchContext, FetchResult
from rapport.signals.collectors.config import CollectorsConfig, check_collectors_text
from rapport.signals.collectors.file import signature
from rapport.signals.collectors.runner import (
    SecretNotFoundError,
    read_secret,
    run_collectors,
    stale_kinds,
)
from rapport.signals.model import StoredSignal
from rapport.signals.store import Store

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
CLIENTS = [
    client("acme", email_domain="acme.example"),
    client("globex", email_domain="globex.example"),
    client("initech"),
]


class Clock:
    """An injected clock: every call returns ``now``, which the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class PagesConfig(CollectorConfig):
    pages: int
    fail_at: int | None = None
    bug: bool = False


class PagesCollector:
    """A scripted source: page ``i`` holds two signals; fetching page ``fail_at`` crashes."""

    name: ClassVar[str] = "test_pages"
    kinds: ClassVar[tuple[str, ...]] = ("response_time",)
    Config: ClassVar[type[CollectorConfig]] = PagesConfig
    client_attribute: ClassVar[str | None] = None

    def __init__(self, config: PagesConfig) -> None:
        self.config = config

    def fetch(self, cursor: Any, context: FetchContext) -> FetchResult:
        page = int(cursor or 0)
        if self.config.bug:
            raise ValueError("a bug in the collector")
        if page == self.config.fail_at:
            raise OSError(f"connection reset while reading page {page}")
        signals = [
            StoredSignal(
                event_id=f"pages:{page}:{i}",
                client=("acme", "globex")[i],
                kind="response_time",
                ts=T0 + timedelta(hours=page),
                value=float(page + i),
            )
            for i in range(2)
        ]
        return FetchResult(signals, page + 1, more=page + 1 < self.config.pages)


@pytest.fixture
def pages_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registers the scripted collector type for one test only."""
    monkeypatch.setitem(REGISTRY, "test_pages", PagesCollector)


@pytest.fixture
def store(store: Store) -> Store:
    """tests/conftest.py's store (SQLite and PostgreSQL) with the test clients registered."""
    store.upsert_clients(CLIENTS)
    return store


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def config(text: str, folder: Path) -> CollectorsConfig:
    loaded, found = check_collectors_text(
        "version: 1\ncollectors:\n" + text, str(folder / "c.yaml")
    )
    assert found == [], found
    assert loaded is not None
    return loaded


def exports(folder: Path, rows: str, name: str = "t.csv") -> None:
    (folder / "drop").mkdir(exist_ok=True)
    (folder / "drop" / name).write_text("event_id,client,ts,value\n" + rows)


FILE = """
  exports:
    type: file
    path: drop
    kind: response_time
    max_staleness: 6h
"""


def test_a_failing_collector_does_not_stop_the_others(
    store: Store, api: FakeAPI, tmp_path: Path
) -> None:
    api.add("/api/v1/query", Reply(status=500, json={"status": "error", "error": "boom"}))
    exports(tmp_path, "e1,acme,2026-09-30T09:00:00Z,1.5\ne2,globex,2026-09-30T10:00:00Z,3\n")
    both = config(
        f"""
  uptime:
    type: prometheus
    base_url: {api.url}
    query: up
    kind: site_uptime
    retries: 0
{FILE}""",
        tmp_path,
    )
    rescored: list[set[str]] = []
    records = run_collectors(store, both, now=Clock(T0), rescore=rescored.append)
    assert [(r.collector, r.ok, r.items, r.stored) for r in records] == [
        ("uptime", False, 0, 0),
        ("exports", True, 2, 2),
    ]
    assert records[0].error == (
        f"GET {api.url}/api/v1/query: server error (HTTP 500) (gave up after 1 attempts)"
    )
    assert store.signal_count() == 2
    assert load_cursor(store, "exports") == {
        "files": {"t.csv": signature(tmp_path / "drop" / "t.csv")}
    }
    assert load_cursor(store, "uptime") is None
    # acme and globex got signals; uptime, failing without ever succeeding, turned stale for
    # every client (its series carry client ids), so everyone is re-scored once
    assert rescored == [{"acme", "globex", "initech"}]
    assert stale_kinds(store, both, T0) == {"site_uptime": {"acme", "globex", "initech"}}
    assert recent_runs(store)[::-1] == records


def test_signals_carry_the_collector_id_as_their_source(store: Store, tmp_path: Path) -> None:
    exports(tmp_path, "e1,acme,2026-09-30T09:00:00Z,1.5\n")
    run_collectors(store, config(FILE, tmp_path), now=Clock(T0))
    everyone = store.client_set()
    frame = store.signal_set(everyone).frame("response_time")
    assert len(frame) == 1
    with store._engine.connect() as connection:
        assert connection.execute(text("SELECT source FROM signals")).scalar_one() == "exports"


def test_a_crash_after_the_first_page_resumes_without_loss(
    store: Store, pages_type: None, tmp_path: Path
) -> None:
    crashing = config("  paged:\n    type: test_pages\n    pages: 3\n    fail_at: 1\n", tmp_path)
    [first] = run_collectors(store, crashing, now=Clock(T0))
    assert (first.ok, first.items, first.pages) == (False, 2, 1)
    assert first.error == "OSError: connection reset while reading page 1"
    assert load_cursor(store, "paged") == 1  # saved after page 0's signals were stored
    assert store.signal_count() == 2
    healthy = config("  paged:\n    type: test_pages\n    pages: 3\n", tmp_path)
    [second] = run_collectors(store, healthy, now=Clock(T0 + timedelta(minutes=5)))
    assert (second.ok, second.items, second.pages) == (True, 4, 2)
    assert load_cursor(store, "paged") == 3
    assert store.signal_count() == 6  # every page stored exactly once


def test_a_run_stops_after_max_pages_and_the_next_one_continues(
    store: Store, pages_type: None, tmp_path: Path
) -> None:
    bounded = config("  paged:\n    type: test_pages\n    pages: 5\n    max_pages: 2\n", tmp_path)
    [first] = run_collectors(store, bounded, now=Clock(T0))
    assert (first.ok, first.pages, first.note) == (
        True,
        2,
        "stopped after max_pages (2); the next run continues",
    )
    [second] = run_collectors(store, bounded, now=Clock(T0))
    [third] = run_collectors(store, bounded, now=Clock(T0))
    assert (second.pages, third.pages, third.note) == (2, 1, None)
    assert store.signal_count() == 10


def test_an_unexpected_error_is_recorded_and_the_round_goes_on(
    store: Store, pages_type: None, tmp_path: Path
) -> None:
    exports(tmp_path, "e1,acme,2026-09-30T09:00:00Z,1.5\n")
    round_ = config(
        "  buggy:\n    type: test_pages\n    pages: 1\n    bug: true\n" + FILE, tmp_path
    )
    buggy, good = run_collectors(store, round_, now=Clock(T0))
    assert (buggy.ok, buggy.error) == (False, "unexpected ValueError: a bug in the collector")
    assert (good.ok, good.items) == (True, 1)


def test_unmapped_and_skipped_items_are_counted_and_kept_in_the_run_log(
    store: Store, tmp_path: Path
) -> None:
    exports(
        tmp_path,
        "e1,acme,2026-09-30T09:00:00Z,1\ne2,hooli,2026-09-30T09:00:00Z,1\n"
        "e3,hooli,2026-09-30T10:00:00Z,1\ne4,acme,yesterday,1\ne5,pied-piper,2026-09-30T10:00:00Z,1\n",
    )
    [record] = run_collectors(store, config(FILE, tmp_path), now=Clock(T0))
    assert (record.items, record.unmapped, record.skipped) == (1, 3, 1)
    assert record.unmapped_ids == {"hooli": 2, "pied-piper": 1}
    assert record.skip_reasons == (
        "t.csv:5: ts: Input should be a valid datetime or date, input is too short",
    )
    [logged] = recent_runs(store, "exports")
    assert logged == record


def test_only_clients_whose_signals_changed_are_rescored(store: Store, tmp_path: Path) -> None:
    exports(tmp_path, "e1,acme,2026-09-30T09:00:00Z,1\ne2,globex,2026-09-30T09:00:00Z,1\n")
    conf = config(FILE, tmp_path)
    rescored: list[set[str]] = []
    run_collectors(store, conf, now=Clock(T0), rescore=rescored.append)
    exports(tmp_path, "e1,acme,2026-09-30T09:00:00Z,1\ne2,globex,2026-09-30T09:00:00Z,1\n", "u.csv")
    run_collectors(store, conf, now=Clock(T0), rescore=rescored.append)  # same rows again
    exports(tmp_path, "e2,globex,2026-09-30T09:00:00Z,9\n", "v.csv")
    [record] = run_collectors(store, conf, now=Clock(T0), rescore=rescored.append)
    assert rescored == [{"acme", "globex"}, {"globex"}]
    assert (record.items, record.stored) == (1, 1)


# --- staleness ------------------------------------------------------------------------------------

STALENESS = (
    FILE
    + """
  nps:
    type: survey_csv
    path: surveys
    score: Score
    email: Email
    clients: {initech.example: initech}
"""
)


def test_a_collector_is_stale_once_its_last_success_is_older_than_max_staleness(
    store: Store, tmp_path: Path
) -> None:
    exports(tmp_path, "e1,acme,2026-09-30T09:00:00Z,1\n")
    conf = config(STALENESS, tmp_path)
    clock = Clock(T0)
    [ok] = run_collectors(store, conf, ["exports"], now=clock)
    assert ok.ok
    (tmp_path / "drop" / "t.csv").unlink()
    (tmp_path / "drop").rmdir()  # from now on every run of exports fails
    for hours in (2, 4, 6):
        clock.now = T0 + timedelta(hours=hours)
        [failed] = run_collectors(store, conf, ["exports"], now=clock)
        assert not failed.ok
    assert stale_kinds(store, conf, T0 + timedelta(hours=5)) == {}
    assert stale_kinds(store, conf, T0 + timedelta(hours=6, seconds=1)) == {
        "response_time": {"acme", "globex", "initech"}  # client ids come from the rows: everyone
    }
    # as of an earlier time, later runs do not count
    assert stale_kinds(store, conf, T0 - timedelta(minutes=1)) == {}


def test_a_collector_that_never_succeeded_is_stale_after_its_first_failure(
    store: Store, tmp_path: Path
) -> None:
    conf = config(STALENESS, tmp_path)  # the surveys folder does not exist
    assert stale_kinds(store, conf, T0) == {}  # never ran: not judged yet
    rescored: list[set[str]] = []
    [failed] = run_collectors(store, conf, ["nps"], now=Clock(T0), rescore=rescored.append)
    assert not failed.ok and "surveys does not exist" in (failed.error or "")
    # clients with an email_domain, plus the override's target
    expected = {"acme", "globex", "initech"}
    assert stale_kinds(store, conf, T0 + timedelta(seconds=1)) == {"survey": expected}
    assert rescored == [expected]  # turning stale changes their scores: they are re-scored


def test_a_disabled_collector_is_never_stale(store: Store, tmp_path: Path) -> None:
    conf = config(STALENESS + "    enabled: false\n", tmp_path)
    run_collectors(store, conf, ["nps"], now=Clock(T0))  # named: runs (and fails) anyway
    assert stale_kinds(store, conf, T0 + timedelta(days=30)) == {}


# --- secrets --------------------------------------------------------------------------------------


def test_secrets_come_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPPORT_TEST_TOKEN", "from-env")
    (tmp_path / "token").write_text("from-file\n")
    assert read_secret("RAPPORT_TEST_TOKEN") == "from-env"
    assert read_secret(str(tmp_path / "token")) == "from-file"
    with pytest.raises(KeyError):  # what the connectors catch
        read_secret("RAPPORT_TEST_NOT_SET")
    with pytest.raises(
        SecretNotFoundError, match="neither a set environment variable nor a readable"
    ):
        read_secret("RAPPORT_TEST_NOT_SET")
