"""Collectors on schedules (APScheduler 3), run by exactly one process among replicas.

``CollectorService`` is what ``rapport serve`` (and ``rapport collect`` without ``--once``) starts:
it campaigns for leadership and, while leader, runs every enabled collector on its own trigger —
an ``IntervalTrigger`` or a ``CronTrigger`` (UTC) with jitter — with ``coalesce=True`` (a backlog
of missed runs becomes one run), ``max_instances=1`` (a slow run is never overlapped by the next)
and the collector's ``misfire_grace``. A collector's first run is due one interval after its last
recorded run, or at once when that is already past, so restarts neither hammer nor starve sources.

Leadership: on PostgreSQL a session-level advisory lock (``pg_try_advisory_lock``) held on a
dedicated connection. Followers retry every ``retry`` seconds; when the leader dies its session
ends, PostgreSQL releases the lock, and a follower takes over at its next try. The leader checks
its connection as often and stops its schedules the moment it is lost — and, because a lost
session can go unnoticed for up to ``retry`` seconds, every scheduled run first confirms the
lock is still held (one ``pg_locks`` query on the lock's connection): a deposed leader skips the
run, and its campaign, woken at once, stops the schedules and tries to win the lock back. SQLite
is single-process: the one process is always leader.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rapport.signals.collector_state import run_summaries
from rapport.signals.collectors.config import (
    COLLECTORS_FILE,
    CollectorsConfig,
    CollectorSpec,
    Schedule,
    cron_fields,
    load_collectors_config,
)
from rapport.signals.collectors.runner import (
    Clock,
    HttpFactory,
    Rescore,
    RunObserver,
    covered_kinds,
    default_http_factory,
    read_secret,
    run_collectors,
    stale_kinds,
    utc_now,
)
from rapport.signals.locks import leader_lock as store_leader_lock
from rapport.signals.store import Store

log = logging.getLogger(__name__)

DEFAULT_RETRY = 10.0


# --- triggers -------------------------------------------------------------------------------------


def trigger_for(schedule: Schedule, start: datetime | None = None) -> BaseTrigger:
    """The APScheduler trigger of a schedule (UTC; jitter in seconds, None when zero)."""
    jitter = int(schedule.jitter) or None
    if schedule.interval is not None:
        return IntervalTrigger(
            seconds=schedule.interval, start_date=start, timezone=UTC, jitter=jitter
        )
    assert schedule.cron is not None  # Schedule guarantees exactly one of interval and cron
    return CronTrigger(**cron_fields(schedule.cron), timezone=UTC, jitter=jitter)


def first_run_at(spec: CollectorSpec, last_run: datetime | None, now: datetime) -> datetime | None:
    """When an interval collector should first run after a (re)start: one interval after its last
    run, or now when that is past or it never ran. None for cron: the expression decides."""
    if spec.schedule.interval is None:
        return None
    if last_run is None:
        return now
    return max(now, last_run + timedelta(seconds=spec.schedule.interval))


def build_scheduler(
    specs: Iterable[CollectorSpec],
    job: Callable[[str], None],
    *,
    last_runs: Mapping[str, datetime] | None = None,
    now: datetime,
) -> BackgroundScheduler:
    """A (not yet started) scheduler with one job per collector, calling ``job(collector_id)``."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    for spec in specs:
        add_collector_job(scheduler, spec, job, last_run=(last_runs or {}).get(spec.id), now=now)
    return scheduler


def add_collector_job(
    scheduler: BackgroundScheduler,
    spec: CollectorSpec,
    job: Callable[[str], None],
    *,
    last_run: datetime | None,
    now: datetime,
) -> None:
    """Schedule ``job(spec.id)`` as the job of id ``spec.id``, first due per ``first_run_at``."""
    first = first_run_at(spec, last_run, now)
    options: dict[str, Any] = {"next_run_time": first} if first is not None else {}
    scheduler.add_job(
        job,
        trigger=trigger_for(spec.schedule, start=first),
        args=(spec.id,),
        id=spec.id,
        name=f"collector {spec.id}",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(spec.schedule.misfire_grace),
        **options,
    )


# --- leader lock ----------------------------------------------------------------------------------


class LeaderLock(Protocol):
    """Mutual exclusion between replicas. ``try_acquire`` never blocks; ``still_held`` checks
    the lock is still ours (False once the connection behind it is gone); ``release`` gives it
    up (safe to call when not held)."""

    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class AlwaysLeader:
    """The lock of a single-process store (SQLite): always granted."""

    def try_acquire(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        return None


def leader_lock_for(store: Store) -> LeaderLock:
    """PostgreSQL: an advisory lock; anything else (SQLite): always leader."""
    lock = store_leader_lock(store)
    return AlwaysLeader() if lock is None else lock


class LeaderElection:
    """Campaigns for ``lock`` every ``retry`` seconds in a background thread; calls ``on_elected``
    when it wins and ``on_deposed`` when it loses the lock or stops while leader."""

    def __init__(
        self,
        lock: LeaderLock,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        *,
        retry: float = DEFAULT_RETRY,
    ) -> None:
        self._lock = lock
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._retry = retry
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set to run the next round now instead of after ``retry``
        self._thread: threading.Thread | None = None
        self.leader = threading.Event()  # set while leader (tests and health checks poll it)
        self.attempts = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._campaign, name="collector-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if self.leader.is_set():
            self._depose()
        self._lock.release()

    def step(self) -> None:
        """One round of the campaign: check we still hold the lock, or (having lost it, or
        never had it) try to win it."""
        if self.leader.is_set():
            if self._lock.still_held():
                return
            self._depose()  # then campaign at once: a server-ended session freed the lock
        won = self._lock.try_acquire()
        if won:
            self.leader.set()
        self.attempts += 1  # counted after the answer: attempts > 0 and not leader = follower
        if won:
            self._on_elected()

    def confirm(self) -> bool:
        """Whether this process is leader right now, asked of the lock itself (not the flag the
        last round left). When it is not, the campaign is woken to depose and campaign again; the
        caller — a scheduled job — must not do that itself (stopping the schedules waits for the
        running jobs, its own included)."""
        if self.leader.is_set() and self._lock.still_held():
            return True
        self._wake.set()
        return False

    def _campaign(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception:  # the campaign thread must outlive any one failed round
                log.exception("leader election round failed")
            self._wake.wait(self._retry)
            self._wake.clear()

    def _depose(self) -> None:
        self.leader.clear()
        try:
            self._on_deposed()
        except Exception:
            log.exception("stopping the collector schedules failed")


# --- the service ----------------------------------------------------------------------------------


class CollectorService:
    """Runs the collectors of ``config`` on their schedules while this process is the leader.

    Satisfies ``api.service.CollectorsHook``: ``start(rescore)``, ``stop()``, ``stale(now)`` and
    ``reconfigure(config)``, which applies a changed ``collectors.yaml`` without a restart.
    """

    def __init__(
        self,
        store: Store,
        config: CollectorsConfig,
        *,
        lock: LeaderLock | None = None,
        retry: float = DEFAULT_RETRY,
        clock: Clock = utc_now,
        http_factory: HttpFactory = default_http_factory,
        secret: Callable[[str], str] = read_secret,
        observer: RunObserver | None = None,
    ) -> None:
        self.store = store
        self._observer = observer
        self.config = config
        self._lock = lock if lock is not None else leader_lock_for(store)
        self._retry = retry
        self._clock = clock
        self._http_factory = http_factory
        self._secret = secret
        self._rescore: Rescore | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._guard = threading.Lock()
        self.election: LeaderElection | None = None

    def start(self, rescore: Rescore | None = None) -> None:
        """Start campaigning; schedules run from the moment this process is elected."""
        self._rescore = rescore
        self.election = LeaderElection(
            self._lock, self._start_schedules, self._stop_schedules, retry=self._retry
        )
        self.election.start()

    def stop(self) -> None:
        """Stop the schedules (waiting for running collectors) and give up leadership."""
        if self.election is not None:
            self.election.stop()
        self._stop_schedules()
        close = getattr(self._lock, "close", None)
        if callable(close):
            close()

    def stale(self, now: datetime) -> Mapping[str, Iterable[str]]:
        return stale_kinds(self.store, self.config, now)

    def covered(self, now: datetime) -> Mapping[str, Iterable[str]]:
        return covered_kinds(self.store, self.config, now)

    def reconfigure(self, config: CollectorsConfig) -> None:
        """Use ``config`` from now on. While the schedules run, the job of a collector no longer
        enabled is removed, a new one is added (first due as after a restart), and a changed one
        is replaced; an unchanged collector keeps its job and its next run time."""
        with self._guard:
            before = {spec.id: spec for spec in self.config.select()}
            self.config = config
            scheduler = self._scheduler
            if scheduler is None:
                return  # the next election builds the schedules from the new config
            after = {spec.id: spec for spec in config.select()}
            for name in before.keys() - after.keys():
                scheduler.remove_job(name)
            changed = [spec for name, spec in after.items() if before.get(name) != spec]
            last = self._last_runs()
            for spec in changed:
                if spec.id in before:
                    scheduler.remove_job(spec.id)
                add_collector_job(
                    scheduler, spec, self._job, last_run=last.get(spec.id), now=self._clock()
                )
        removed = sorted(before.keys() - after.keys())
        log.info(
            "collector schedules reconfigured: %d changed or added, removed %s",
            len(changed),
            ", ".join(removed) or "none",
        )

    def _last_runs(self) -> dict[str, datetime]:
        return {
            name: max(t for t in (s.last_success, s.last_failure) if t is not None)
            for name, s in run_summaries(self.store).items()
        }

    def run_now(self, collector: str) -> None:
        """One run of ``collector`` (what each scheduled job does)."""
        run_collectors(
            self.store,
            self.config,
            [collector],
            now=self._clock,
            http_factory=self._http_factory,
            rescore=self._rescore,
            secret=self._secret,
            observer=self._observer,
        )

    @property
    def scheduler(self) -> BackgroundScheduler | None:
        return self._scheduler

    def _start_schedules(self) -> None:
        with self._guard:
            if self._scheduler is not None:
                return
            specs = self.config.select()
            self._scheduler = build_scheduler(
                specs, self._job, last_runs=self._last_runs(), now=self._clock()
            )
            self._scheduler.start()
            log.info("collector schedules started (%d collectors)", len(specs))

    def _stop_schedules(self) -> None:
        with self._guard:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
            log.info("collector schedules stopped")

    def _job(self, collector: str) -> None:
        """A scheduled run: only while this process is still the leader (see the module doc)."""
        election = self.election
        if election is not None and not election.confirm():
            log.warning("collector %s skipped: this process is no longer the leader", collector)
            return
        try:
            self.run_now(collector)
        except Exception:  # a store outage must not kill the scheduler thread pool's worker
            log.exception("collector %s could not run", collector)


def collector_service_for(store: Store, rules_dir: Path, **options: Any) -> CollectorService | None:
    """The service for ``rules_dir/collectors.yaml`` (``options`` as for ``CollectorService``),
    or None when the rules have no collectors file; raises ``RulesError`` when it is invalid.
    This is what ``rapport serve`` connects as its collectors hook."""
    path = rules_dir / COLLECTORS_FILE
    if not path.is_file():
        return None
    return CollectorService(store, load_collectors_config(path), **options)
