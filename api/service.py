"""The running state of ``rapport serve``: the rules being served and the scores computed from them.

- ``Evaluator`` re-scores every client — on new signals (debounced), on a schedule, on a rules
  change, or on demand — publishes an immutable ``Snapshot`` that the API reads without locks,
  and announces each evaluation as an ``Evaluated`` event (``api.events``): the history writer
  and the ``/metrics`` page (``ClientMetricsPage``) are its subscribers.
- ``Service`` owns the evaluator, the rules bundle holder (``api.reload.RulesHolder``), the store,
  the metrics and the collector scheduler; ``api.app.build_service`` builds it, wired once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Protocol

import numpy as np

from rapport.api.bundle import RulesBundle
from rapport.api.clock import Clock
from rapport.api.events import Evaluated, Topic
from rapport.api.metrics import (
    NO_CLIENTS,
    ClientMetricsInput,
    Prebuilt,
    ServiceMetrics,
    render_client_metrics,
)
from rapport.api.pipeline import ClientEvaluation, evaluate_client, evaluate_store, sync_registry
from rapport.api.reload import RulesHolder
from rapport.api.settings import Settings
from rapport.engine.errors import RulesError
from rapport.engine.frame import ClientSet
from rapport.engine.result import ClientScore, Evaluation, Status
from rapport.signals.collector_state import run_summaries
from rapport.signals.collectors.config import CollectorsConfig
from rapport.signals.memory import SignalMemory
from rapport.signals.model import Client
from rapport.signals.store import Store

log = logging.getLogger("rapport.service")


# --- scores --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One evaluation and everything derived from it, never mutated after it is published."""

    evaluation: Evaluation
    clients: tuple[Client, ...]  # row i of the evaluation
    delta_7d: Mapping[str, float]
    delta_30d: Mapping[str, float]
    last_signals: Mapping[tuple[str, str], datetime]
    duration: float
    registry_generation: int = 0  # Evaluator.registry_generation when the clients were read
    _records: dict[int, ClientScore] = field(default_factory=dict, repr=False)

    @cached_property
    def _rows(self) -> Mapping[str, int]:
        return self.evaluation.clients.rows

    @cached_property
    def _last_by_client(self) -> dict[str, dict[str, datetime]]:
        # Built on first use, not with the snapshot: 400k entries at 100k clients would add
        # half a second to every re-score, and most snapshots never serve a client page.
        by_client: dict[str, dict[str, datetime]] = {}
        for (client, kind), moment in self.last_signals.items():  # sorted per client on use
            by_client.setdefault(client, {})[kind] = moment
        return by_client

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
        return dict(sorted(self._last_by_client.get(client_id, {}).items()))

    def stale_components(self, row: int) -> list[str]:
        flags = self.evaluation.status[row] == Status.STALE
        return [self.evaluation.component_ids[j] for j in np.flatnonzero(flags)]


class StaleSource(Protocol):
    """Which kinds (→ client ids) come from a stale collector as of ``now`` (or, as the
    ``covered`` hook, from a fresh one that maps them)."""

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
        events: Topic[Evaluated],
        *,
        clock: Clock,
        stale: StaleSource | None = None,
        covered: StaleSource | None = None,
        debounce: float = 2.0,
        interval: float = 900.0,
        memory: SignalMemory | None = None,
    ) -> None:
        self._store = store
        self._memory = memory
        self._rules = rules
        self._metrics = metrics
        self._events = events
        self._clock = clock
        self._stale = stale
        self._covered = covered
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
        self._registry: tuple[object, tuple[Client, ...], ClientSet] | None = None

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
        """Score everything as of the clock's now, announce it (``Evaluated``: the history writer
        stores it), publish and return the snapshot."""
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
            # Before the snapshot is visible: once /evaluate returns, the history holds it.
            self._events.publish(
                Evaluated(
                    snapshot.evaluation,
                    snapshot.clients,
                    snapshot.last_signals,
                    snapshot.duration,
                    changes={"7d": snapshot.delta_7d, "30d": snapshot.delta_30d},
                )
            )
            self._snapshot = snapshot
            self._metrics.evaluations.labels("ok").inc()
            self._metrics.evaluation_duration.observe(snapshot.duration)
            self._metrics.last_evaluation.set(snapshot.evaluation.as_of.timestamp())
            self._metrics.clients.set(len(snapshot.clients))
            return snapshot

    def _evaluate(self, started: float) -> Snapshot:
        as_of = self._clock()
        generation = self._registry_generation  # before reading: a later write must not match
        clients, client_set = self._clients(generation)
        evaluation = self._score(client_set, as_of)
        return Snapshot(
            evaluation=evaluation,
            clients=clients,
            delta_7d=self._deltas(evaluation, as_of - timedelta(days=7)),
            delta_30d=self._deltas(evaluation, as_of - timedelta(days=30)),
            last_signals=(
                self._memory.last_signal_times()
                if self._memory is not None
                else self._store.last_signal_times()
            ),
            duration=time.perf_counter() - started,
            registry_generation=generation,
        )

    def _clients(self, generation: int) -> tuple[tuple[Client, ...], ClientSet]:
        """The registry (and it as the scorer's ``ClientSet``), read again only when its stamp
        (``Store.registry_stamp``) or this process's registry generation moved: at 100k clients
        reading it takes seconds."""
        stamp = (generation, self._store.registry_stamp())
        cached = self._registry
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
        clients = tuple(self._store.clients())
        client_set = ClientSet.of([c.id for c in clients], [c.segment for c in clients])
        self._registry = (stamp, clients, client_set)
        return clients, client_set

    def _score(self, clients: ClientSet, as_of: datetime) -> Evaluation:
        """``clients`` scored as of ``as_of`` by the serving rules with staleness; not stored."""
        ruleset = self._rules.current().ruleset
        stale = self._stale(as_of) if self._stale is not None else None
        covered = self._covered(as_of) if self._covered is not None else None
        return evaluate_store(
            self._store,
            ruleset,
            as_of,
            stale=stale,
            covered=covered,
            clients=clients,
            persist=False,
            memory=self._memory,
        )

    def score_client(self, client: Client, as_of: datetime | None = None) -> ClientScore:
        """One client's score: from the latest evaluation when ``as_of`` is None, else computed
        as of ``as_of`` by the same pipeline (rules, signals up to then, staleness). Without any
        evaluation yet, "latest" is the clock's now. Nothing is stored."""
        snapshot = self._snapshot
        if as_of is None and snapshot is not None:
            row = snapshot.row(client.id)
            if row is not None:
                return snapshot.record(row)
        if as_of is not None:
            moment = as_of
        elif snapshot is not None:
            moment = snapshot.evaluation.as_of  # the same instant the other clients were scored at
        else:
            moment = self._clock()
        return self._score_one(client, moment)

    def _score_one(self, client: Client, as_of: datetime) -> ClientScore:
        """``_score`` for one client, reading only its signals (by the store's client index)."""
        return self._evaluate_one(client, as_of).record()

    def evaluate_client(self, client: Client, as_of: datetime | None = None) -> ClientEvaluation:
        """One client evaluated on its own with the arrays its score came from (for explain's
        evidence), as of ``as_of`` or else the latest evaluation's instant (the clock's now
        before the first). Nothing is stored; no other client is scored."""
        snapshot = self._snapshot
        if as_of is not None:
            moment = as_of
        elif snapshot is not None:
            moment = snapshot.evaluation.as_of
        else:
            moment = self._clock()
        return self._evaluate_one(client, moment)

    def _evaluate_one(self, client: Client, as_of: datetime) -> ClientEvaluation:
        ruleset = self._rules.current().ruleset
        stale = self._stale(as_of) if self._stale is not None else None
        covered = self._covered(as_of) if self._covered is not None else None
        return evaluate_client(self._store, ruleset, client, as_of, stale=stale, covered=covered)

    def _deltas(self, evaluation: Evaluation, cutoff: datetime) -> dict[str, float]:
        past = self._store.scores_at(cutoff)
        ids = evaluation.clients.ids
        # None (unscored then, or no row by then) becomes NaN
        before = np.array(list(map(past.get, ids)), dtype=np.float64)
        change = evaluation.score - before  # NaN where unscored now or then, or never scored
        rows = np.flatnonzero(~np.isnan(change))
        return dict(zip([ids[r] for r in rows.tolist()], change[rows].tolist(), strict=True))

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


# --- subscribers of Evaluated --------------------------------------------------------------------


class ClientMetricsPage:
    """The per-client part of ``/metrics`` (a subscriber of ``Evaluated``), rendered at most once
    per evaluation — on the first scrape after it, not in the evaluator's way: at 100k clients
    rendering takes seconds, which would otherwise delay every new snapshot. A scrape of an
    already-rendered evaluation only concatenates bytes. ``detail`` adds the per-component and
    per-signal-kind families (``RAPPORT_METRICS_DETAIL``)."""

    def __init__(
        self,
        *,
        detail: bool = False,
        open_incidents: Callable[[datetime], Mapping[str, Mapping[str, int]]] | None = None,
    ) -> None:
        self._current: Prebuilt = NO_CLIENTS
        self._pending: ClientMetricsInput | None = None
        self._lock = threading.Lock()
        self._detail = detail
        self._open_incidents = open_incidents

    @property
    def current(self) -> Prebuilt:
        """The page of the latest evaluation (``NO_CLIENTS`` before the first)."""
        with self._lock:
            if self._pending is not None:
                self._current = render_client_metrics(self._pending)
                self._pending = None
            return self._current

    def __call__(self, event: Evaluated) -> None:
        opened = self._open_incidents
        inputs = ClientMetricsInput(
            event.evaluation,
            event.clients,
            event.last_signals,
            event.changes,
            self._detail,
            # read only for the detail family, as of the evaluation's own instant
            opened(event.evaluation.as_of) if opened is not None and self._detail else {},
        )
        with self._lock:
            self._pending = inputs


# --- the whole service -------------------------------------------------------------------------


class CollectorsHook(Protocol):
    """How the service drives the collector scheduler (``signals.collectors.schedule``).

    ``start(rescore)`` starts the schedules, calling ``rescore(client_ids)`` after signals land;
    ``stop()`` stops them; ``stale(now)`` tells which kinds are stale for which clients;
    ``reconfigure(config)`` applies a changed ``collectors.yaml`` to the running schedules.
    """

    def start(self, rescore: Callable[[set[str]], None]) -> None: ...

    def stop(self) -> None: ...

    def stale(self, now: datetime) -> Mapping[str, Iterable[str]]: ...

    def covered(self, now: datetime) -> Mapping[str, Iterable[str]]: ...

    def reconfigure(self, config: CollectorsConfig) -> None: ...


class Startable(Protocol):
    """A background part started and stopped with the service (the notification sender)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Service:
    """Everything ``rapport serve`` runs besides the HTTP server, started and stopped together.

    Built by ``api.app.build_service``; nothing is replaced after construction. ``owns_store``:
    the store was opened for this service and is closed when the app shuts down.
    """

    settings: Settings
    store: Store
    rules: RulesHolder
    evaluator: Evaluator
    metrics: ServiceMetrics
    events: Topic[Evaluated]
    client_metrics: ClientMetricsPage
    collectors: CollectorsHook
    clock: Clock
    owns_store: bool = False
    notifications: Startable | None = None  # the outbox sender, started after the first score
    _stoppers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _started: bool = field(default=False, repr=False)
    _collecting: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.rules.on_change(self._rules_changed)

    def start(self) -> None:
        """Load the rules bundle (RulesError when invalid), score once, start the worker and,
        when the bundle has collectors, the collector schedules.

        Idempotent: ``serve`` starts the service before uvicorn (to report bad rules and exit 1),
        and the app's lifespan calls it again.
        """
        if self._started:
            return
        result = self.rules.reload()  # a success syncs the registry (see _rules_changed)
        if not result.ok:
            raise RulesError(result.findings)
        self.evaluator.evaluate_now()
        self._started = True
        self.evaluator.start()
        self._stoppers.append(self.evaluator.stop)
        if self.notifications is not None:
            self.notifications.start()
            self._stoppers.append(self.notifications.stop)
        if self.rules.current().collectors is not None:
            self._start_collectors()

    def score_client(self, client: Client, as_of: datetime | None = None) -> ClientScore:
        """One client's score as of ``as_of`` (default: the latest evaluation); see
        ``Evaluator.score_client``."""
        return self.evaluator.score_client(client, as_of)

    def evaluate_client(self, client: Client, as_of: datetime | None = None) -> ClientEvaluation:
        """One client scored on its own with its arrays; see ``Evaluator.evaluate_client``."""
        return self.evaluator.evaluate_client(client, as_of)

    def _rules_changed(self, bundle: RulesBundle) -> None:
        # clients.yaml is part of the rules directory: the clients it lists follow the file.
        sync_registry(self.store, bundle.clients)
        self.collectors.reconfigure(bundle.collectors or CollectorsConfig())
        if self._started and bundle.collectors is not None and not self._collecting:
            self._start_collectors()
        self.evaluator.registry_changed("rules changed")

    def _start_collectors(self) -> None:
        for summary in run_summaries(self.store).values():  # the gauges survive a restart
            if summary.last_success is not None:
                self.metrics.collector_last_success.labels(summary.collector).set(
                    summary.last_success.timestamp()
                )
        self._collecting = True
        self.collectors.start(lambda _clients: self.evaluator.request("collectors delivered"))
        self._stoppers.append(self._stop_collectors)

    def _stop_collectors(self) -> None:
        self._collecting = False
        self.collectors.stop()

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
