"""Schedules (APScheduler 3 triggers, driven with explicit times, never sleeps) and the leader
lock (two real OS processes against the real PostgreSQL)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from collector_helpers import client, wait_until
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from rapport.engine.errors import RulesError
from rapport.signals.collector_state import recent_runs
from rapport.signals.collectors.config import CollectorsConfig, Schedule, check_collectors_text
from rapport.signals.collectors.schedule import (
    AlwaysLeader,
    CollectorService,
    build_scheduler,
    collector_service_for,
    first_run_at,
    trigger_for,
)
from rapport.signals.locks import PgAdvisoryLock
from rapport.signals.store import Store

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
HERE = Path(__file__).parent


def schedule(**settings: Any) -> Schedule:
    return Schedule.model_validate(settings)


def collectors(folder: Path, body: str) -> CollectorsConfig:
    config, found = check_collectors_text(
        "version: 1\ncollectors:\n" + body, str(folder / "c.yaml")
    )
    assert found == [] and config is not None, found
    return config


# --- triggers -------------------------------------------------------------------------------------


def test_an_interval_fires_every_interval_from_its_start() -> None:
    trigger = trigger_for(schedule(interval="15m", jitter="0s"), start=T0)
    assert trigger.get_next_fire_time(None, T0 - timedelta(minutes=1)) == T0
    assert trigger.get_next_fire_time(None, T0 + timedelta(minutes=1)) == T0 + timedelta(minutes=15)
    assert trigger.get_next_fire_time(T0, T0) == T0 + timedelta(minutes=15)


def test_jitter_delays_each_fire_by_at_most_the_jitter() -> None:
    trigger = trigger_for(schedule(interval="15m", jitter="30s"), start=T0)
    fires = [trigger.get_next_fire_time(T0, T0) for _ in range(200)]
    low, high = T0 + timedelta(minutes=15), T0 + timedelta(minutes=15, seconds=30)
    assert all(low <= fire <= high for fire in fires)
    assert len(set(fires)) > 1  # really randomised


def test_a_cron_schedule_fires_on_its_expression_in_utc() -> None:
    trigger = trigger_for(schedule(cron="*/15 8-18 * * 1-5", jitter=0))
    friday_evening = datetime(2026, 10, 2, 18, 50, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, friday_evening) == datetime(
        2026, 10, 5, 8, 0, tzinfo=UTC
    )
    assert trigger.get_next_fire_time(None, T0 + timedelta(minutes=7)) == T0 + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("last_run", "expected"),
    [
        pytest.param(None, T0, id="a collector that never ran runs at once"),
        pytest.param(T0 - timedelta(hours=3), T0, id="an overdue collector runs at once"),
        pytest.param(
            T0 - timedelta(minutes=20),
            T0 + timedelta(minutes=40),
            id="a recent run is followed one interval later",
        ),
    ],
)
def test_the_first_run_after_a_restart(
    tmp_path: Path, last_run: datetime | None, expected: datetime
) -> None:
    spec = collectors(tmp_path, "  a:\n    type: file\n    path: x\n    kind: response_time\n")
    assert first_run_at(spec.collectors["a"], last_run, T0) == expected


def test_a_cron_collector_waits_for_its_expression_after_a_restart(tmp_path: Path) -> None:
    body = (
        "  a:\n    type: file\n    path: x\n    kind: response_time\n"
        "    schedule: {cron: '0 6 * * *'}\n"
    )
    assert first_run_at(collectors(tmp_path, body).collectors["a"], None, T0) is None


def test_jobs_coalesce_never_overlap_and_honour_the_misfire_grace(tmp_path: Path) -> None:
    config = collectors(
        tmp_path,
        "  a:\n    type: file\n    path: x\n    kind: response_time\n"
        "    schedule: {interval: 10m, misfire_grace: 2m}\n"
        "  b:\n    type: file\n    path: y\n    kind: milestone\n"
        "    schedule: {cron: '0 6 * * *'}\n"
        "  c:\n    type: file\n    path: z\n    kind: survey\n    enabled: false\n",
    )
    ran: list[str] = []
    scheduler = build_scheduler(config.select(), ran.append, last_runs={"a": T0}, now=T0)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert sorted(jobs) == ["a", "b"]  # a disabled collector is not scheduled
    for job in jobs.values():
        assert (job.coalesce, job.max_instances) == (True, 1)
    assert jobs["a"].misfire_grace_time == 120
    assert jobs["b"].misfire_grace_time == 300
    assert jobs["a"].args == ("a",)
    assert jobs["a"].next_run_time == T0 + timedelta(minutes=10)


# --- the service on SQLite: always leader, runs for real --------------------------------------


def test_the_service_runs_due_collectors_and_rescores(tmp_path: Path, sqlite_store: Store) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "t.csv").write_text(
        "event_id,client,ts,value\ne1,acme,2026-09-30T09:00:00Z,2\n"
    )
    sqlite_store.upsert_clients([client("acme")])
    config = collectors(
        tmp_path, "  exports:\n    type: file\n    path: drop\n    kind: response_time\n"
    )
    rescored: list[set[str]] = []
    service = CollectorService(sqlite_store, config, lock=AlwaysLeader(), retry=0.05)
    service.start(rescored.append)
    try:
        wait_until(lambda: rescored == [{"acme"}], "the first scheduled run to re-score acme")
        assert service.election is not None and service.election.leader.is_set()
        assert service.scheduler is not None and service.scheduler.running
    finally:
        service.stop()
    assert service.scheduler is None
    [run] = recent_runs(sqlite_store, "exports")
    assert (run.ok, run.items) == (True, 1)
    assert service.stale(datetime.now(UTC)) == {}


def test_serve_gets_a_service_only_when_the_rules_have_collectors(
    tmp_path: Path, sqlite_store: Store
) -> None:
    assert collector_service_for(sqlite_store, tmp_path) is None
    (tmp_path / "collectors.yaml").write_text(
        "version: 1\ncollectors:\n  a:\n    type: file\n    path: x\n    kind: survey\n"
    )
    service = collector_service_for(sqlite_store, tmp_path, retry=1.0)
    assert service is not None and list(service.config.collectors) == ["a"]
    (tmp_path / "collectors.yaml").write_text("version: 1\ncollectors:\n  a:\n    type: nope\n")
    with pytest.raises(RulesError, match="unknown collector type 'nope'"):
        collector_service_for(sqlite_store, tmp_path)


# --- the leader lock on PostgreSQL --------------------------------------------------------------


def test_the_advisory_lock_admits_one_holder_at_a_time(pg_url: str) -> None:
    engine = create_engine(pg_url, poolclass=NullPool)
    first, second = PgAdvisoryLock(engine, key=424242), PgAdvisoryLock(engine, key=424242)
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        assert first.still_held() is True
        first.release()
        assert first.still_held() is False
        assert second.try_acquire() is True
        # the server ends the holder's session: the holder notices, the lock is free again
        with engine.connect() as admin:
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = 424242 AND granted"
                )
            )
            admin.commit()
        assert second.still_held() is False
        assert first.try_acquire() is True
    finally:
        first.close()
        second.close()
        engine.dispose()


class Replica:
    """A ``leader_process.py`` child; its stdout lines are read by a thread into a queue."""

    def __init__(self, url: str, collector: str, folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "leader_process.py"), url, collector, str(folder), "0.1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=HERE.parents[2],
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.strip())

    def expect(self, state: str, timeout: float = 20.0) -> None:
        """Wait (blocking on the pipe, bounded) until the replica reports ``state``."""
        try:
            while (line := self.lines.get(timeout=timeout)) != state:
                pass
        except queue.Empty:
            errors = (
                self.process.stderr.read()
                if self.process.poll() is not None and self.process.stderr
                else ""
            )
            pytest.fail(f"replica did not report {state!r} within {timeout}s {errors}")
        assert line == state

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.kill()


def test_a_second_process_takes_over_when_the_leader_is_killed(
    pg_url: str, tmp_path: Path, replicas: list[Replica]
) -> None:
    (tmp_path / "drop").mkdir()
    with Store.open(pg_url) as store:
        with store._engine.begin() as connection:
            connection.execute(text("TRUNCATE collector_runs, collector_cursors"))

        def runs_of(collector: str) -> int:
            return len(recent_runs(store, collector))

        first = Replica(pg_url, "from_first", tmp_path / "drop")
        replicas.append(first)
        first.expect("leader")
        wait_until(lambda: runs_of("from_first") == 1, "the leader's first scheduled run")
        second = Replica(pg_url, "from_second", tmp_path / "drop")
        replicas.append(second)
        second.expect("follower")
        assert runs_of("from_second") == 0  # a follower runs no schedules
        first.kill()  # kill -9: no clean release; PostgreSQL ends the session and frees the lock
        second.expect("leader", timeout=15.0)
        wait_until(lambda: runs_of("from_second") == 1, "the new leader's first scheduled run")


def test_a_leader_whose_lock_session_was_terminated_skips_the_run_and_campaigns_again(
    pg_url: str, tmp_path: Path
) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "t.csv").write_text(
        "event_id,client,ts,value\ne1,acme,2026-09-30T09:00:00Z,2\n"
    )
    config = collectors(
        tmp_path, "  exports:\n    type: file\n    path: drop\n    kind: response_time\n"
    )
    with Store.open(pg_url) as store:
        with store._engine.begin() as connection:
            connection.execute(text("TRUNCATE collector_runs, collector_cursors"))
        store.upsert_clients([client("acme")])
        lock = PgAdvisoryLock(store._engine, key=515151)
        # a long retry: only the confirmation before the run can notice the lost session
        service = CollectorService(store, config, lock=lock, retry=600.0)
        service.start()
        try:
            election = service.election
            assert election is not None
            wait_until(lambda: len(recent_runs(store, "exports")) == 1, "the first run")
            attempts = election.attempts
            with store._engine.connect() as admin:
                admin.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND objid = 515151 AND granted"
                    )
                )
                admin.commit()
            service._job("exports")  # what the scheduler calls when the next run is due
            assert len(recent_runs(store, "exports")) == 1  # the deposed leader did not run
            wait_until(lambda: election.attempts > attempts, "a new campaign round")
            wait_until(election.leader.is_set, "the lock to be won back (nobody else holds it)")
        finally:
            service.stop()
