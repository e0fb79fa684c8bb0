"""A large import writes in short batches: other writers get in between, and an import killed
half-way completes when run again. Real threads and processes on real SQLite files and
PostgreSQL; every wait is a poll with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rapport.signals.importer import BATCH_ROWS, ImportCounts, import_files
from rapport.signals.model import StoredSignal
from rapport.signals.store import Store

DEADLINE_S = 120.0


def big_file(path: Path, rows: int) -> Path:
    lines = (f"e{i},acme,response_time,2026-03-01T12:00:00Z,{i % 97}\n" for i in range(rows))
    path.write_text("event_id,client,kind,ts,value\n" + "".join(lines), encoding="utf-8")
    return path


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)  # a poll interval, not a wait for something to happen


def test_another_writer_gets_in_while_a_large_import_runs(store_url: str, tmp_path: Path) -> None:
    rows = 8 * BATCH_ROWS
    path = big_file(tmp_path / "big.csv", rows)
    finished = threading.Event()
    failures: list[BaseException] = []

    def run_import() -> None:
        try:
            with Store.open(store_url) as importing:
                import_files(importing, [path])
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            finished.set()

    with Store.open(store_url) as api:
        worker = threading.Thread(target=run_import)
        worker.start()
        try:
            wait_for(lambda: api.signal_count() > 0 or finished.is_set(), "the first batch")
            assert not finished.is_set(), "the import wrote nothing until it was done"
            one = StoredSignal("api-1", "acme", "response_time", datetime(2026, 3, 2, tzinfo=UTC))
            api.upsert_signals([one])
            # The write got in between two batches: the import had more to write after it.
            assert not finished.is_set()
            assert api.signal_count() < rows + 1
        finally:
            worker.join(DEADLINE_S)
        assert not failures
        assert api.signal_count() == rows + 1


_IMPORT = """
import sys
from pathlib import Path
from rapport.signals.importer import import_files
from rapport.signals.store import Store
with Store.open(sys.argv[1]) as store:
    import_files(store, [Path(sys.argv[2])])
"""


def test_an_import_killed_after_its_first_batch_completes_when_run_again(
    store_url: str, tmp_path: Path
) -> None:
    rows = 8 * BATCH_ROWS
    path = big_file(tmp_path / "big.csv", rows)
    with Store.open(store_url) as store:
        child = subprocess.Popen([sys.executable, "-c", _IMPORT, store_url, str(path)])
        try:
            wait_for(lambda: store.signal_count() > 0 or child.poll() is not None, "a batch")
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(DEADLINE_S)
        assert child.returncode == -signal.SIGKILL, "the import finished before it was killed"
        written = store.signal_count()
        assert 0 < written < rows
        report = import_files(store, [path])
        assert report.signals == ImportCounts(inserted=rows - written, unchanged=written)
        assert store.signal_count() == rows
        again = import_files(store, [path])
        assert again.signals == ImportCounts(unchanged=rows)
