"""The running state of ``rapport serve``: the rules being served and the scores computed from them.

- ``RulesHolder`` validates a rules directory as a whole and swaps it in atomically; a bad change
  keeps the previous rules serving and is remembered (with its findings) as the last reload result.
- ``Evaluator`` re-scores every client — on new signals (debounced), on a schedule, on a rules
  change, or on demand — stores the scores in the history, and publishes an immutable ``Snapshot``
  that the API and ``/metrics`` read without locks.
- ``Service`` owns both plus the hooks the shell connects (collector scheduler, rules watcher).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np

from rapport.api.errors import NotReadyError
from rapport.api.history import scores_at
from rapport.api.metrics import ClientMetricsInput, Prebuilt, ServiceMetrics, render_client_metrics
from rapport.api.pipeline import evaluate_store, sync_registry
from rapport.engine.errors import Finding, RulesError
from rapport.engine.frame import ClientSet
from rapport.engine.loader import Ruleset, load_ruleset
from rapport.engine.result import ClientScore, Evaluation, Status
from rapport.signals.collector_state import run_summaries
from rapport.signals.model import Client
from rapport.signals.registry import check_rules_dir
from rapport.signals.store import Store

log = logging.getLogger("rapport.service")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReloadResult:
    """The outcome of one (re)load: ``version`` is what now serves (ok) or what was rejected."""

    ok: bool
    at: datetime
    version: str | None
    findings: tuple[Finding, ...] = ()


class RulesHolder:
    """The ruleset being served, replaced only by a complete, valid one."""

    def __init__(self, directory: Path, *, metrics: ServiceMetrics, clock: Clock = utc_now) -> None:
        self.directory = directory
        self._metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._ruleset: Ruleset | None = None
        self._last: ReloadResult | None = None
        self._listeners: list[Callable[[Ruleset], None]] = []

    @property
    def ruleset(self) -> Ruleset | None:
        return self._ruleset

    @property
    def last_reload(self) -> ReloadResult | None:
        return self._last

    def current(self) -> Ruleset:
        """The serving ruleset; NotReadyError before the first successful load."""
        ruleset = self._ruleset
        if ruleset is None:
            raise NotReadyError(f"no valid rules loaded from {self.directory} yet")
        return ruleset

    def on_change(self, listener: Callable[[Ruleset], None]) -> None:
        """Call ``listener`` after every successful swap (e.g. to re-score)."""
        self._listeners.append(listener)

    def reload(self) -> ReloadResult:
        """Validate the whole directory; swap it in when it has no finding at all.

        Reloads are serialised: a watcher event, a SIGHUP and ``POST /-/reload`` arriving together
        each see a complete directory check, and the last one to finish decides what serves.
        """
        with self._lock:
            findings, ruleset = self._check()
            at = self._clock()
            self._metrics.rules_reload_time.set(at.timestamp())
            if ruleset is None:
                self._last = ReloadResult(False, at, None, tuple(sorted(findings)))
                self._metrics.rules_reload_ok.set(0)
                log.error(
                    "rules in %s rejected; still serving %s:\n%s",
                    self.directory,
                    self._ruleset.version if self._ruleset else "nothing",
                    "\n".join(str(f) for f in sorted(findings)),
                )
                return self._last
            self._ruleset = ruleset
            self._last = ReloadResult(True, at, ruleset.version)
            self._metrics.rules_reload_ok.set(1)
            self._metrics.set_rules_version(ruleset.version)
            log.info("rules %s loaded from %s", ruleset.version, self.directory)
        for listener in self._listeners:
            listener(ruleset)
        return self._last

    def _check(self) -> tuple[list[Finding], Ruleset | None]:
        findings = list(check_rules_dir(self.directory))
        if findings:
            return findings, None
        try:
            return [], load_ruleset(self.directory)
        except RulesError as error:
            return list(error.findings), None


# --- scores --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One evaluation and everything derived from it, never mutated after it is published."""

    evaluation: Evaluation
    clients: tuple[Client, ...]  # row i of the evaluation
    delta_7d: Mapping[str, float]
    delta_30d: Mapping[str, float]
    last_signals: Mapping[tuple[str, str], datetime]
    metrics: Prebuilt
    duration: float
    registry_generation: int = 0  # Evaluator.registry_generation when the clients were read
    _rows: dict[str, int] = field(default_factory=dict, repr=False)
    _records: dict[int, ClientScore] = field(default_factory=dict, repr=False)
    _last_by_client: dict[str, dict[str, datetime]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._rows.update({c.id: i for i, c in enumerate(self.clients)})
        for (client, kind), moment in sorted(self.last_signals.items()):
            self._last_by_client.setdefault(client, {})[kind] = moment

    def row(self, client_id: str) -> int | None:
        return self._rows.get(client_id)

    def client(self, client_id: str) -> Client | None:
        """The registry entry as read for this evaluation."""
        row = self._rows.get(client_id)
        return self.clients[row] if row is not None else None

    def record(self, row: int) -> ClientScore:
        """The client record of ``row``, built on first use (cached: a snapshot never changes)."""
        found = self._records.get(row)
        if found is None:
            found = self._records[row] = self.evaluation.record(row)
        return found

    def last_signals_of(self, client_id: str) -> dict[str, datetime]:
        """Newest signal time per kind of one client (kinds sorted)."""
        return dict(self._last_by_client.get(client_id, {}))

    def stale_components(self, row: int) -> list[str]:
        flags = self.evaluation.status[row] == Status.STALE
        return [self.evaluation.component_ids[j] for j in np.flatnonzero(flags)]


class StaleSource(Protocol):
    """Which kinds (→ client ids) come from a stale collector as of ``now``."""

    def __call__(self, now: datetime) -> Mapping[str, Iterable[str]]: ...


class Evaluator:
    """Scores every client and publishes the result as ``snapshot``.

    ``request(reason)`` asks for a re-score soon: requests within ``debounce`` seconds of the first
    pending one coalesce into one evaluation, so a stream of ingests re-scores at a bounded rate —
    and never sooner than ``BUSY_FACTOR`` times the last evaluation's duration after it finished,
    so re-scoring takes at most a tenth of the time while signals keep arriving. Without requests
    the worker re-scores every ``interval`` seconds. ``evaluate_now`` runs one at once in the
    caller's thread. Evaluations never overlap.
    """

    BUSY_FACTOR = 9.0

    def __init__(
        self,
        store: Store,
        rules: RulesHolder,
        metrics: ServiceMetrics,
        *,
        clock: Clock = utc_now,
        stale: StaleSource | None = None,
        debounce: float = 2.0,
        interval: float = 900.0,
    ) -> None:
        self._store = store
        self._rules = rules
        self._metrics = metrics
        self._clock = clock
        self.stale = stale
        self._debounce = debounce
        self._interval = interval
        self._run_lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending_since: float | None = None
        self._last_run = time.monotonic()
        self._last_finished = self._last_run
        self._last_duration = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._snapshot: Snapshot | None = None
        self._registry_generation = 0

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    @property
    def registry_generation(self) -> int:
        """Bumped by every registry write made through this process (see ``registry_changed``)."""
        return self._registry_generation

    def fresh_snapshot(self) -> Snapshot | None:
        """The snapshot if its registry is still current (no write through this process since
        it was read), so readers may serve clients from it instead of querying the store.
        Writes by other processes (e.g. ``rapport import``) show at the next evaluation."""
        snapshot = self._snapshot
        if snapshot is None or snapshot.registry_generation != self._registry_generation:
            return None
        return snapshot

    def registry_changed(self, reason: str) -> None:
        """Call after writing clients: readers go to the store until the re-score this asks for."""
        with self._cond:
            self._registry_generation += 1
        self.request(reason)

    def request(self, reason: str) -> None:
        """Ask for a re-score within ``debounce`` seconds (thread-safe, never blocks)."""
        with self._cond:
            if self._pending_since is None:
                log.debug("re-score requested: %s", reason)
                self._pending_since = time.monotonic()
                self._cond.notify()

    def evaluate_now(self) -> Snapshot:
        """Score everything as of the clock's now, store it, publish and return the snapshot."""
        with self._run_lock:
            with self._cond:
                self._pending_since = None  # this run covers whatever was pending
                self._last_run = time.monotonic()
            started = time.perf_counter()
            try:
                snapshot = self._evaluate(started)
            except Exception:
                self._metrics.evaluations.labels("error").inc()
                raise
            finally:
                with self._cond:
                    self._last_finished = time.monotonic()
                    self._last_duration = time.perf_counter() - started
            self._snapshot = snapshot
            self._metrics.evaluations.labels("ok").inc()
            self._metrics.evaluation_duration.observe(snapshot.duration)
            self._metrics.last_evaluation.set(snapshot.evaluation.as_of.timestamp())
            self._metrics.clients.set(len(snapshot.clients))
            return snapshot

    def _evaluate(self, started: float) -> Snapshot:
        ruleset = self._rules.current()
        as_of = self._clock()
        generation = self._registry_generation  # before reading: a later write must not match
        clients = tuple(self._store.clients())
        client_set = ClientSet.of([c.id for c in clients], [c.segment for c in clients])
        stale = self.stale(as_of) if self.stale is not None else None
        evaluation = evaluate_store(self._store, ruleset, as_of, stale=stale, clients=client_set)
        last_signals = self._store.last_signal_times()
        text = render_client_metrics(ClientMetricsInput(evaluation, clients, last_signals))
        return Snapshot(
            evaluation=evaluation,
            clients=clients,
            delta_7d=self._deltas(evaluation, as_of - timedelta(days=7)),
            delta_30d=self._deltas(evaluation, as_of - timedelta(days=30)),
            last_signals=last_signals,
            metrics=text,
            duration=time.perf_counter() - started,
            registry_generation=generation,
        )

    def _deltas(self, evaluation: Evaluation, cutoff: datetime) -> dict[str, float]:
        past = scores_at(self._store.engine, cutoff)
        deltas: dict[str, float] = {}
        for cid, now in zip(evaluation.clients.ids, evaluation.score.tolist(), strict=True):
            before = past.get(cid)
            if before is not None and not math.isnan(now):  # NaN: unscored now
                deltas[cid] = now - before
        return deltas

    # --- background worker ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="rapport-evaluator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self) -> None:
        while self._wait_until_due():
            try:
                self.evaluate_now()
            except Exception:  # keep serving the last good snapshot; the counter shows failures
                log.exception("evaluation failed; still serving the previous scores")

    def _wait_until_due(self) -> bool:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._pending_since is not None:
                    due = max(
                        self._pending_since + self._debounce,
                        self._last_finished + self.BUSY_FACTOR * self._last_duration,
                    )
                else:
                    due = self._last_run + self._interval
                if due <= now:
                    return True
                self._cond.wait(due - now)
            return False


# --- the whole service -------------------------------------------------------------------------


class CollectorsHook(Protocol):
    """How ``serve`` connects the collector scheduler (signals.collectors.schedule) to the service.

    ``start(rescore)`` starts the schedules, calling ``rescore(client_ids)`` after signals land;
    ``stop()`` stops them; ``stale(now)`` tells which kinds are stale for which clients.
    """

    def start(self, rescore: Callable[[set[str]], None]) -> None: ...

    def stop(self) -> None: ...

    def stale(self, now: datetime) -> Mapping[str, Iterable[str]]: ...


class Service:
    """Everything ``rapport serve`` runs besides the HTTP server, started and stopped together."""

    def __init__(
        self,
        store: Store,
        rules: RulesHolder,
        evaluator: Evaluator,
        metrics: ServiceMetrics,
        *,
        collectors: CollectorsHook | None = None,
    ) -> None:
        self.store = store
        self.rules = rules
        self.evaluator = evaluator
        self.metrics = metrics
        self.collectors = collectors
        self._stoppers: list[Callable[[], None]] = []
        self._started = False

    def start(self) -> None:
        """Load the rules (RulesError when invalid), score once, start the worker and collectors.

        Idempotent: ``serve`` starts the service before uvicorn (to report bad rules and exit 1),
        and the app's lifespan calls it again.
        """
        if self._started:
            return
        result = self.rules.reload()
        if not result.ok:
            raise RulesError(result.findings)
        sync_registry(self.store, self.rules.directory)
        self.rules.on_change(self._rules_changed)
        self.evaluator.evaluate_now()
        self._started = True
        self.evaluator.start()
        self._stoppers.append(self.evaluator.stop)
        self.start_collectors()

    def _rules_changed(self, ruleset: Ruleset) -> None:
        # clients.yaml is part of the rules directory: the clients it lists follow the file.
        sync_registry(self.store, ruleset.directory)
        self.evaluator.registry_changed("rules changed")

    def start_collectors(self) -> None:
        """Hook: start the collector scheduler when one is connected (``collectors=``)."""
        hook = self.collectors
        if hook is None:
            return
        for summary in run_summaries(self.store).values():  # the gauges survive a restart
            if summary.last_success is not None:
                self.metrics.collector_last_success.labels(summary.collector).set(
                    summary.last_success.timestamp()
                )
        self.evaluator.stale = hook.stale
        hook.start(lambda _clients: self.evaluator.request("collectors delivered signals"))
        self._stoppers.append(hook.stop)

    def add_stopper(self, stop: Callable[[], None]) -> None:
        """Run ``stop`` at shutdown (before the evaluator stops); e.g. the rules watcher."""
        self._stoppers.append(stop)

    def stop(self) -> None:
        """Stop everything started, newest first; one failing stopper does not skip the rest."""
        self._started = False
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception:
                log.exception("error while stopping %r", stopper)
