"""``prometheus``: a PromQL query whose series carry a client label → a custom numeric signal.

Modelled on Prometheus' HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/):
``GET /api/v1/query?query=…&time=…`` answers ``{"status": "success", "data": {"resultType":
"vector", "result": [{"metric": {labels}, "value": [<unix time>, "<value>"]}]}}``, and
``/api/v1/query_range?query=…&start=…&end=…&step=…`` the same with ``"matrix"`` and ``"values":
[[t, "v"], …]``. Sample values are strings and may be ``"NaN"``/``"+Inf"``; those samples are
skipped. Errors come as ``{"status": "error", "errorType": "bad_data", "error": "…"}`` with HTTP
400 (bad parameters), 422 (the expression cannot be executed) or 503 (timeout/abort; retried).
Native-histogram samples (``"histogram"`` instead of ``"value"``) are skipped with a reason::

    uptime:
      type: prometheus
      base_url: http://prometheus:9090
      query: avg_over_time(probe_success{job="client-sites"}[1d])
      kind: site_uptime              # declared under signals: in the scorecard
      client_label: client           # the label naming the client
      attrs: {site: instance}        # signal attribute ← series label
      mode: instant                  # or range (step, lookback)

``mode: instant`` evaluates the query at the run's time: one signal per series per run. ``mode:
range`` reads every ``step`` since the last run (``lookback`` on the first, or the history the
scorecard reads for its kind when longer, or ``backfill:``), at most 10,000 points
per series a page (Prometheus refuses more than 11,000), so a long gap is caught up page by page.
Event ids name the kind, the series and the sample time, so re-reading a range stores nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from rapport.engine.model import BUILTIN_KINDS, Duration
from rapport.signals.collectors.base import (
    CollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.http import JsonResponse
from rapport.signals.collectors.http_collector import (
    Credentials,
    HttpCollector,
    HttpSourceConfig,
    Source,
    bearer,
)
from rapport.signals.collectors.items import ItemError, convert_items, to_signal
from rapport.signals.model import StoredSignal

MAX_POINTS = 10_000
ERROR_STATUSES = (400, 422)


class PrometheusConfig(HttpSourceConfig):
    """A ``prometheus`` source. The token (if any) is sent as ``Authorization: Bearer``."""

    token_required: ClassVar[bool] = False

    query: str = Field(min_length=1)
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    client_label: str = Field(default="client", min_length=1)
    attrs: dict[str, str] = Field(default_factory=dict, description="signal attribute ← label")
    mode: Literal["instant", "range"] = "instant"
    step: Duration = 3600.0
    lookback: Duration = 7 * 86400.0
    max_points: int = Field(default=MAX_POINTS, ge=1, le=11_000, description="steps per window")

    @field_validator("kind")
    @classmethod
    def _custom_kind(cls, value: str) -> str:
        if value in BUILTIN_KINDS:
            raise ValueError(
                f"{value!r} is a built-in kind; prometheus feeds a custom numeric kind"
            )
        return value


def series_key(labels: dict[str, str]) -> str:
    """A short, stable digest of a series' label set (its identity within the query)."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:12]


def sample_value(raw: Any) -> float:
    """A sample's value string → float; NaN and infinities (no usable number): ``ItemError``."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ItemError(f"sample value {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ItemError(f"sample value {raw} is not a finite number")
    return value


class PrometheusCollector(HttpCollector[PrometheusConfig], name="prometheus"):
    """Series of a PromQL query → one custom numeric signal per series and sample time (of the
    configured ``kind``; the client label holds client ids)."""

    def auth(self, context: FetchContext) -> Credentials:
        """The optional token as ``Authorization: Bearer`` (none when unset)."""
        return bearer(self.optional_token(context))

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        """Instant: the query at ``context.now``. Range: the next window since the cursor."""
        source = self.source(context)
        now = context.now.timestamp()
        if self.config.mode == "instant":
            data = self._query(source, "/api/v1/query", {"query": self.config.query, "time": now})
            return FetchResult(self._signals(data, "vector", context), None)
        lookback = context.first_run_seconds(self.config.lookback)
        start = float(cursor["end"]) if isinstance(cursor, dict) else now - lookback
        end = min(now, start + self.config.step * self.config.max_points)
        if end <= start:
            return FetchResult([], {"end": start})
        params = {"query": self.config.query, "start": start, "end": end, "step": self.config.step}
        data = self._query(source, "/api/v1/query_range", params)
        # the next window starts at ``end``: its boundary sample is read twice, under the same id
        return FetchResult(self._signals(data, "matrix", context), {"end": end}, more=end < now)

    def _query(self, source: Source, path: str, params: dict[str, Any]) -> Any:
        response = source.get(path, params, accept_status=ERROR_STATUSES)
        body = response.body
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            raise CollectorError(self.name, f"{path}: not a Prometheus API response")
        if body["status"] == "error" or response.status in ERROR_STATUSES:
            raise CollectorError(self.name, _error_text(path, response))
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            raise CollectorError(self.name, f"{path}: the response has no data.result list")
        return data

    def _signals(
        self, data: dict[str, Any], expected: str, context: FetchContext
    ) -> list[StoredSignal]:
        if data.get("resultType") != expected:
            raise CollectorError(
                self.name,
                f"the query returned a {data.get('resultType')!r}, expected a {expected} "
                "(a query over series, e.g. avg_over_time(metric[1d]))",
            )
        signals: list[StoredSignal] = []
        for series in data["result"]:
            samples = self._samples(series, context)
            convert = partial(self._signal, series, context=context)
            signals += convert_items(samples, convert, _label, context)
        return signals

    def _samples(self, series: Any, context: FetchContext) -> list[Any]:
        if not isinstance(series, dict) or not isinstance(series.get("metric"), dict):
            context.log_skip("series ?", "not an object with a metric label set")
            return []
        if "histogram" in series or "histograms" in series:
            context.log_skip(_series_label(series), "native histogram samples are not numbers")
            return []
        samples = [series["value"]] if "value" in series else series.get("values")
        if not isinstance(samples, list):
            context.log_skip(_series_label(series), "no value or values")
            return []
        return samples

    def _signal(
        self, series: dict[str, Any], sample: Any, context: FetchContext
    ) -> StoredSignal | None:
        labels = {str(k): str(v) for k, v in series["metric"].items()}
        if not isinstance(sample, list) or len(sample) != 2:
            raise ItemError(f"sample {sample!r} is not a [time, value] pair")
        raw_time, raw_value = sample
        if isinstance(raw_time, bool) or not isinstance(raw_time, int | float):
            raise ItemError(f"sample time {raw_time!r} is not a number")
        value = sample_value(raw_value)
        raw_client = labels.get(self.config.client_label)
        if raw_client is None:
            raise ItemError(f"series {labels} has no {self.config.client_label!r} label")
        client = context.clients.resolve(raw_client)
        if client is None:
            return None
        missing = [label for label in self.config.attrs.values() if label not in labels]
        if missing:
            raise ItemError(f"series {labels} has no {missing[0]!r} label")
        return to_signal(
            {
                "event_id": f"prometheus:{self.config.kind}:{series_key(labels)}:{raw_time:.3f}",
                "client": client,
                "kind": self.config.kind,
                "ts": datetime.fromtimestamp(raw_time, UTC),
                "value": value,
                "attrs": {attr: labels[label] for attr, label in self.config.attrs.items()},
            }
        )


def _error_text(path: str, response: JsonResponse) -> str:
    body = response.body if isinstance(response.body, dict) else {}
    kind = body.get("errorType", "error")
    return f"{path}: HTTP {response.status}: {kind}: {body.get('error', 'no error message')}"


def _label(sample: Any) -> str:
    return f"sample {sample!r}"[:80]


def _series_label(series: dict[str, Any]) -> str:
    return f"series {series.get('metric')}"[:120]
