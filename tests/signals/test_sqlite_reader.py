"""A memory build from SQLite read in two processes (``signals.sqlite_reader``) reads exactly the
arrays and newest signal times a build in one piece reads — rows tied on (client, ts) in the same
order — also when the worker dies, and the memory kept from it follows later writes as before.

The halves are read by a real worker process; the row threshold is lowered so that a few hundred
rows are split."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_load_paths import AT, DAY, REACH, _signals, assert_identical

from rapport.engine.frame import SignalSet
from rapport.signals import sqlite_reader
from rapport.signals.database import parse_url
from rapport.signals.memory import SignalMemory
from rapport.signals.model import Client
from rapport.signals.sqlite_reader import Halves, SplitReader, usable_cores
from rapport.signals.store import Store

pytestmark = pytest.mark.skipif(
    usable_cores() < 2, reason="loads are split only with two usable cores"
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    folder = tmp_path / "a folder #1 ü"  # as a file URI for the worker: quoted, and read back
    with Store.open(f"sqlite:///{folder}/split.db") as opened:
        opened.upsert_clients([Client(id=c, name=c) for c in ("a", "b", "c")])
        signals = _signals()
        # ties: the same event time for one client and kind, values apart
        opened.upsert_signals([*signals, *(replace(s, event_id=f"{s.event_id}-tie",
                                                   value=7.0) for s in signals[:40])])  # fmt: skip
        yield opened


Built = tuple[SignalSet, dict[tuple[str, str], datetime]]


def one_piece_and_split(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[Built, Built]:
    clients = store.client_set()
    monkeypatch.setattr(sqlite_reader, "MIN_ROWS", 10**12)
    whole = store.memory_build(clients, REACH, AT)
    monkeypatch.setattr(sqlite_reader, "MIN_ROWS", 0)
    split = store.memory_build(clients, REACH, AT)
    return whole, split


def assert_same_build(a: Built, b: Built) -> None:
    assert_identical(a[0], b[0])
    assert a[1] == b[1]
    assert len(a[1]) > 0


def test_a_load_in_two_processes_builds_the_arrays_of_one_piece(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rapport.store")
    whole, split = one_piece_and_split(store, monkeypatch)
    assert any("in process" in r.getMessage() for r in caplog.records)
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)
    assert_same_build(split, whole)


def test_a_dead_worker_s_part_is_read_here(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_halves = SplitReader.halves

    @contextmanager
    def halves_whose_worker_dies(self: SplitReader, *args: Any, **kwargs: Any) -> Iterator[Halves]:
        with real_halves(self, *args, **kwargs) as halves:
            assert halves.process is not None
            halves.process.send_signal(signal.SIGKILL)
            yield halves

    monkeypatch.setattr(SplitReader, "halves", halves_whose_worker_dies)
    whole, split = one_piece_and_split(store, monkeypatch)
    assert any("reading its part here" in r.getMessage() for r in caplog.records)
    assert_same_build(split, whole)


def test_memory_built_in_two_processes_follows_later_writes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_reader, "MIN_ROWS", 0)
    memory = SignalMemory(store)
    clients = store.client_set()
    memory.signal_set(clients, REACH, AT)
    later = replace(_signals()[1], event_id="later", ts=AT - DAY, recorded_at=AT - DAY)
    store.upsert_signals([later])
    kept = memory.signal_set(clients, REACH, AT + DAY)
    monkeypatch.setattr(sqlite_reader, "MIN_ROWS", 10**12)
    assert_identical(kept, store.memory_build(clients, REACH, AT)[0])
    assert memory.last_signal_times() == store.last_signal_times()
    assert memory.rebuilds == 1


def test_only_sqlite_database_files_are_split(tmp_path: Path) -> None:
    assert SplitReader.of(parse_url(f"sqlite:///{tmp_path}/s.db")) is not None
    assert SplitReader.of(parse_url("sqlite://")) is None
    assert SplitReader.of(parse_url("postgresql+psycopg://u@127.0.0.1/db")) is None
