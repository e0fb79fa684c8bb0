"""Prometheus metrics: service metrics on an own registry; per-client text prebuilt per evaluation.

Per-client series (labels ``client``, ``segment``, ``owner`` — the owner is the PM's name slug,
never an email) are rendered to exposition text once per evaluation by ``render_client_metrics``:
with 10k clients they are ~200k samples, which prometheus_client would take most of a second to
render on every scrape. A scrape then sends that cached text (plain, or spliced into one gzip
member without recompressing it) followed by the live service registry's output, so it reads one
consistent snapshot, and clients removed from the registry vanish at the next evaluation.

Per-client budget: at most 6 series per client by default, so that 100k clients stay a scrape
Prometheus and the boards can afford. Default families (text format 0.0.4):

- ``rapport_client_health_score`` — the score (absent while a client is unscored, and for a
  client graded ``insufficient_data``: a dashboard must not average in a score resting on too little
  measured data)
- ``rapport_client_health_coverage`` — 0-1, the share of the scorecard's weight measured from
  signals (every client)
- ``rapport_client_health_grade{grade}`` — the current grade only, value 1: one series per client
  (the scorecard's grades plus ``insufficient_data``; unscored clients have none).
  ``count by (grade) (rapport_client_health_grade == 1)`` reads the same in both modes
- ``rapport_client_health_score_change{span}`` — score now minus the stored score ``span`` ago
  (``7d``, ``30d``; absent where history is shorter): from the store's history, so it is right on a
  Prometheus started today
- ``rapport_client_health_stale_components`` — how many components rest on stale data (0 = fresh)

Detail families, only with ``RAPPORT_METRICS_DETAIL=true`` (about 4x the samples with the shipped
scorecard):

- ``rapport_client_health_grade{grade}`` as a full state set (0 for the other grades)
- ``rapport_client_health_component_score{component}`` — points per component (absent when skipped)
- ``rapport_client_health_component_value{component}`` — the measured value before the curve
  (response-time p90 in hours, share of missed milestones, latest survey, severity-weighted
  incidents; absent when not measured)
- ``rapport_client_health_component_stale{component}`` — 1 when the component's data is stale
- ``rapport_client_signal_last_timestamp_seconds{kind}`` — newest stored signal per kind
- ``rapport_client_open_incidents{severity}`` — incidents open now, one series per severity
  (``sev1``–``sev4``, 0 where none is open), for clients with any incident known; a client
  without any has no series (nothing known is not zero)

Service families (always):

- ``rapport_evaluation_duration_seconds`` (histogram), ``rapport_evaluations_total{result}``,
  ``rapport_last_evaluation_timestamp_seconds``, ``rapport_clients``
- ``rapport_signals_ingested_total{result}``: ``inserted``, ``updated``, ``unchanged``, ``rejected``
- ``rapport_rules_info{version}``, ``rapport_rules_last_reload_successful``,
  ``rapport_rules_last_reload_timestamp_seconds``
- ``rapport_collector_runs_total{collector,result}``, ``rapport_collector_items_fetched_total``,
  ``rapport_collector_last_success_timestamp_seconds`` (fed by the collector scheduler hook)
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from rapport.api.owners import NONE_LABEL, client_owner_slug
from rapport.engine.result import INSUFFICIENT_DATA, Evaluation, Status
from rapport.signals.model import SEVERITIES, Client

#: prometheus_client's Go-style float formatting, untyped upstream, so typed here once.
_go: Callable[[float], str] = floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
INGEST_RESULTS = ("inserted", "updated", "unchanged", "rejected")


class ServiceMetrics:
    """The service's own metrics, on a registry of their own (never the global default one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.evaluation_duration = Histogram(
            "rapport_evaluation_duration_seconds",
            "Time to load signals, score every client and store the result",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.evaluations = Counter(
            "rapport_evaluations", "Evaluations run, by result", ["result"], registry=r
        )
        self.last_evaluation = Gauge(
            "rapport_last_evaluation_timestamp_seconds",
            "When the scores being served were computed",
            registry=r,
        )
        self.clients = Gauge("rapport_clients", "Clients in the last evaluation", registry=r)
        self.ingested = Counter(
            "rapport_signals_ingested",
            "Signals received through the API, by what happened to them",
            ["result"],
            registry=r,
        )
        self.rules_reload_ok = Gauge(
            "rapport_rules_last_reload_successful",
            "1 when the last rules (re)load was valid and is serving, 0 when it was rejected",
            registry=r,
        )
        self.rules_reload_time = Gauge(
            "rapport_rules_last_reload_timestamp_seconds",
            "When the rules were last (re)loaded, successfully or not",
            registry=r,
        )
        self.collector_runs = Counter(
            "rapport_collector_runs",
            "Collector runs, by result (ok or error)",
            ["collector", "result"],
            registry=r,
        )
        self.collector_items = Counter(
            "rapport_collector_items_fetched",
            "Signals fetched by each collector (after client mapping)",
            ["collector"],
            registry=r,
        )
        self.collector_last_success = Gauge(
            "rapport_collector_last_success_timestamp_seconds",
            "When each collector last finished a successful run",
            ["collector"],
            registry=r,
        )
        self.alerts_firing = Gauge(
            "rapport_alerts_firing", "Clients whose alert is firing", ["rule", "severity"],
            registry=r,
        )  # fmt: skip
        self.alerts_pending = Gauge(
            "rapport_alerts_pending", "Clients whose alert is pending (held for less than its for)",
            ["rule", "severity"], registry=r,
        )  # fmt: skip
        self._rules = _RulesInfo()
        r.register(self._rules)
        for result in ("ok", "error"):
            self.evaluations.labels(result)
        for result in INGEST_RESULTS:
            self.ingested.labels(result)

    def set_rules_version(self, version: str) -> None:
        self._rules.version = version

    def observe_collector_run(
        self, collector: str, *, ok: bool, items: int, finished_at: datetime
    ) -> None:
        """Count one collector run (the scheduler hook calls this after each run)."""
        self.collector_runs.labels(collector, "ok" if ok else "error").inc()
        self.collector_items.labels(collector).inc(items)
        if ok:
            self.collector_last_success.labels(collector).set(finished_at.timestamp())

    def set_alerts(self, counts: Mapping[tuple[str, str, str], int]) -> None:
        """The alert gauges from ``(rule, severity, phase)`` → clients; a rule or severity no
        longer present is removed, not left at its last value."""
        for gauge in (self.alerts_firing, self.alerts_pending):
            gauge.clear()
        for (rule, severity, phase), n in counts.items():
            gauge = self.alerts_firing if phase == "firing" else self.alerts_pending
            gauge.labels(rule, severity).set(n)

    def register(self, collector: Collector) -> None:
        """Add an extra collector (e.g. the collector scheduler's run statistics)."""
        self.registry.register(collector)

    def render(self, clients: Prebuilt) -> bytes:
        """One scrape: the prebuilt per-client text, then the live service metrics."""
        return clients.text + generate_latest(self.registry)

    def render_gzip(self, clients: Prebuilt) -> bytes:
        """The same scrape as one gzip member, without recompressing the per-client part.

        The cached part is raw deflate ended by a full flush (byte-aligned, no final block), so a
        fresh deflate stream of the service text can follow it; the trailer's CRC-32 continues
        from the cached part's CRC over the small service text only. (Concatenating two gzip
        members would be valid too, but many HTTP clients stop after the first member.)
        """
        tail = generate_latest(self.registry)
        compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
        deflated_tail = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
        crc = zlib.crc32(tail, clients.crc)
        size = (len(clients.text) + len(tail)) & 0xFFFFFFFF
        return _GZIP_HEADER + clients.deflated + deflated_tail + struct.pack("<II", crc, size)


#: gzip member header: magic, deflate, no flags, no mtime, no extra flags, unknown OS (RFC 1952).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@dataclass(frozen=True)
class Prebuilt:
    """Exposition text rendered once per evaluation, plus its deflated form for gzip scrapes."""

    text: bytes
    deflated: bytes  # raw deflate ended by Z_FULL_FLUSH: a prefix other deflate data can follow
    crc: int  # CRC-32 of text

    @classmethod
    def of(cls, text: bytes) -> Prebuilt:
        compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
        deflated = compressor.compress(text) + compressor.flush(zlib.Z_FULL_FLUSH)
        return cls(text, deflated, zlib.crc32(text))


NO_CLIENTS = Prebuilt.of(b"")


class _RulesInfo(Collector):
    """``rapport_rules_info{version="..."} 1`` — an info metric that follows reloads."""

    def __init__(self) -> None:
        self.version: str | None = None

    def collect(self) -> Iterable[Metric]:
        family = InfoMetricFamily("rapport_rules", "Version of the rules being served")
        if self.version is not None:
            family.add_metric([], {"version": self.version})
        yield family

    def describe(self) -> Iterable[Metric]:
        return self.collect()


# --- per-client text, rendered once per evaluation -------------------------------------------


#: Series per client the default exposition may carry (score, coverage, grade, two score changes,
#: stale components); tests/api/test_metrics.py holds the exposition to it.
SERIES_PER_CLIENT_BUDGET = 6
#: The spans of ``rapport_client_health_score_change``, as ``Evaluated.changes`` keys them.
CHANGE_SPANS = ("7d", "30d")


@dataclass(frozen=True)
class ClientMetricsInput:
    """What ``render_client_metrics`` needs: the evaluation, the registry rows it scored (same
    order), the newest signal time per (client, kind), the score change per span per client, and
    whether to add the detail families."""

    evaluation: Evaluation
    clients: Sequence[Client]
    last_signals: Mapping[tuple[str, str], datetime]
    changes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    detail: bool = False
    #: per client with incidents known: open ones by severity (``Store.open_by_attr``)
    open_incidents: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_prefixes(clients: Sequence[Client]) -> list[str]:
    """``client="a",segment="b",owner="c"`` per client, built once and reused by every family."""
    return [
        f'client="{_escape(c.id)}",segment="{_escape(c.segment or NONE_LABEL)}",'
        f'owner="{_escape(client_owner_slug(c))}"'
        for c in clients
    ]


def _family(name: str, help_text: str, lines: list[str]) -> str:
    head = f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"
    return head + "".join(lines)


def render_client_metrics(data: ClientMetricsInput) -> Prebuilt:
    """Every per-client family as exposition text (empty families keep their HELP/TYPE)."""
    ev = data.evaluation
    prefixes = _label_prefixes(data.clients)
    score = [
        f"rapport_client_health_score{{{p}}} {_go(s)}\n"
        for p, s in zip(prefixes, ev.score.tolist(), strict=True)
        if not math.isnan(s)  # an unscored client is left out rather than exported as NaN
    ]
    parts = [_family("rapport_client_health_score", "Client health score", score)]
    parts.append(_coverage_family(ev, prefixes))
    parts.append(_grade_family(ev, prefixes, full=data.detail))
    parts.append(_change_family(data, prefixes))
    parts.append(_stale_count_family(ev, prefixes))
    if data.detail:
        parts.append(_component_family(ev, prefixes))
        parts.append(_value_family(ev, prefixes))
        parts.append(_stale_family(ev, prefixes))
        parts.append(_last_signal_family(data, prefixes))
        parts.append(_open_incidents_family(data, prefixes))
    return Prebuilt.of("".join(parts).encode("utf-8"))


def _change_family(data: ClientMetricsInput, prefixes: list[str]) -> str:
    lines: list[str] = []
    for span in CHANGE_SPANS:
        change = data.changes.get(span, {})
        label = f',span="{span}"}} '
        lines.extend(
            f"rapport_client_health_score_change{{{p}{label}{_go(change[c.id])}\n"
            for p, c in zip(prefixes, data.clients, strict=True)
            if c.id in change
        )
    return _family(
        "rapport_client_health_score_change",
        "Score now minus the stored score span ago (from the score history)",
        lines,
    )


def _stale_count_family(ev: Evaluation, prefixes: list[str]) -> str:
    counts = (ev.status == Status.STALE).sum(axis=1).tolist()
    lines = [
        f"rapport_client_health_stale_components{{{p}}} {n}\n"
        for p, n in zip(prefixes, counts, strict=True)
    ]
    return _family(
        "rapport_client_health_stale_components",
        "Components of the score resting on stale data (0 = every source fresh)",
        lines,
    )


def _value_family(ev: Evaluation, prefixes: list[str]) -> str:
    return _per_component_family(
        "rapport_client_health_component_value",
        "Value a component measured from signals, before its curve",
        ev.component_ids,
        ev.raw.tolist(),
        prefixes,
    )


def _component_family(ev: Evaluation, prefixes: list[str]) -> str:
    return _per_component_family(
        "rapport_client_health_component_score",
        "Points of one component of the score",
        ev.component_ids,
        ev.points.tolist(),
        prefixes,
    )


def _per_component_family(
    family: str, help_text: str, components: Sequence[str], rows: list[list[float]],
    prefixes: list[str],
) -> str:  # fmt: skip
    """One sample per client and component (``rows[client][component]``); NaN: no sample."""
    lines: list[str] = []
    for j, component in enumerate(components):
        label = f',component="{_escape(component)}"}} '
        lines.extend(
            f"{family}{{{p}{label}{_go(row[j])}\n"
            for p, row in zip(prefixes, rows, strict=True)
            if not math.isnan(row[j])
        )
    return _family(family, help_text, lines)


def _coverage_family(ev: Evaluation, prefixes: list[str]) -> str:
    lines = [
        f"rapport_client_health_coverage{{{p}}} {_go(c)}\n"
        for p, c in zip(prefixes, ev.coverage.tolist(), strict=True)
    ]
    return _family(
        "rapport_client_health_coverage",
        "Share (0-1) of the scorecard's weight measured from signals",
        lines,
    )


def _grade_family(ev: Evaluation, prefixes: list[str], *, full: bool) -> str:
    """The grade as a state set; without ``full`` only its 1-valued member (one series)."""
    lines: list[str] = []
    # The insufficient_data state is one more index after the scorecard's grades.
    grades = np.where(ev.insufficient, len(ev.grade_names), ev.grade).tolist()
    for g, grade in enumerate((*ev.grade_names, INSUFFICIENT_DATA)):
        label = f',grade="{_escape(grade)}"}} '
        lines.extend(
            f"rapport_client_health_grade{{{p}{label}{1 if current == g else 0}\n"
            for p, current in zip(prefixes, grades, strict=True)
            if full or current == g
        )
    return _family(
        "rapport_client_health_grade", "Client grade as a state set (1 = current)", lines
    )


def _stale_family(ev: Evaluation, prefixes: list[str]) -> str:
    lines: list[str] = []
    stale = (ev.status == Status.STALE).astype(np.int8).tolist()
    for j, component in enumerate(ev.component_ids):
        label = f',component="{_escape(component)}"}} '
        lines.extend(
            f"rapport_client_health_component_stale{{{p}{label}{row[j]}\n"
            for p, row in zip(prefixes, stale, strict=True)
        )
    return _family(
        "rapport_client_health_component_stale",
        "1 when a component's source is stale or its value was carried from older signals",
        lines,
    )


def _open_incidents_family(data: ClientMetricsInput, prefixes: list[str]) -> str:
    lines = [
        f'rapport_client_open_incidents{{{p},severity="{severity}"}} {counts.get(severity, 0)}\n'
        for p, c in zip(prefixes, data.clients, strict=True)
        if (counts := data.open_incidents.get(c.id)) is not None
        for severity in SEVERITIES
    ]
    return _family("rapport_client_open_incidents", "Incidents open now, by severity", lines)


def _last_signal_family(data: ClientMetricsInput, prefixes: list[str]) -> str:
    row_of = {c.id: i for i, c in enumerate(data.clients)}
    by_kind: dict[str, list[str]] = {}
    for (client, kind), moment in sorted(data.last_signals.items(), key=lambda kv: kv[0][::-1]):
        row = row_of.get(client)
        if row is None:
            continue
        by_kind.setdefault(kind, []).append(
            f"rapport_client_signal_last_timestamp_seconds{{{prefixes[row]},"
            f'kind="{_escape(kind)}"}} {_go(moment.timestamp())}\n'
        )
    lines = [line for kind in sorted(by_kind) for line in by_kind[kind]]
    return _family(
        "rapport_client_signal_last_timestamp_seconds",
        "Time of the newest stored signal of a kind for a client",
        lines,
    )
