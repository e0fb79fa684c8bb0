"""The ``prometheus`` collector against a loopback server answering like Prometheus' HTTP API
(https://prometheus.io/docs/prometheus/latest/querying/api/): vector and matrix results, sample
values as strings (``"NaN"`` included), and the documented error envelope with 400/422/503."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fakeapi import NOW, FakeAPI, Reply, Seen, fetch_context

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.prometheus import PrometheusCollector, PrometheusConfig, series_key
from rapport.signals.model import StoredSignal

QUERY = 'avg_over_time(probe_success{job="client-sites"}[1d])'
T = NOW.timestamp()  # 1717243200.0


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def prometheus(api: FakeAPI, **settings: Any) -> PrometheusCollector:
    config = {"base_url": api.url, "query": QUERY, "kind": "site_uptime", "retries": 1, **settings}
    return PrometheusCollector(PrometheusConfig.model_validate(config))


def harness(api: FakeAPI, **secrets: str) -> Any:
    # the client label holds client ids, so each maps to itself
    clients = [("acme", "acme"), ("globex", "globex")]
    return fetch_context(make_http_client(timeout=2), clients, "client_label", secrets)


def vector(*series: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": list(series)}}


def sample(labels: dict[str, str], value: str, at: float = T) -> dict[str, Any]:
    return {"metric": labels, "value": [at, value]}


ACME = {"__name__": "probe_success", "client": "acme", "instance": "https://acme.example"}
GLOBEX = {"client": "globex", "instance": "https://globex.example"}


def uptime(labels: dict[str, str], value: float, at: float = T) -> StoredSignal:
    return StoredSignal(
        event_id=f"prometheus:site_uptime:{series_key(labels)}:{at:.3f}",
        client=labels["client"],
        kind="site_uptime",
        ts=datetime.fromtimestamp(at, UTC),
        value=value,
        attrs={"site": labels["instance"]},
    )


def test_an_instant_query_yields_one_signal_per_series(api: FakeAPI) -> None:
    api.add(
        "/api/v1/query",
        Reply(
            json=vector(
                sample(ACME, "0.9987"),
                sample(GLOBEX, "1"),
                sample({"client": "globex", "instance": "https://globex.example/api"}, "NaN"),
                sample({"client": "hooli", "instance": "https://hooli.example"}, "0.5"),
                sample({"instance": "https://nobody.example"}, "1"),
                {"metric": {"client": "acme", "instance": "h"}, "histogram": [T, {"count": "3"}]},
            )
        ),
    )
    run = harness(api)
    result = prometheus(api, attrs={"site": "instance"}).fetch(None, run.context)
    assert result.signals == [uptime(ACME, 0.9987), uptime(GLOBEX, 1.0)]
    assert run.unmapped == {"hooli": 1}
    assert run.context.skipped == [
        "sample [1717243200.0, 'NaN']: sample value NaN is not a finite number",
        "sample [1717243200.0, '1']: series {'instance': 'https://nobody.example'}"
        " has no 'client' label",
        "series {'client': 'acme', 'instance': 'h'}: native histogram samples are not numbers",
    ]
    [request] = api.seen("/api/v1/query")
    assert request.arg("query") == QUERY
    assert request.arg("time") == "1717243200.0"
    assert "authorization" not in request.headers


def test_a_token_is_sent_as_a_bearer_token(api: FakeAPI) -> None:
    api.add("/api/v1/query", Reply(json=vector()))
    run = harness(api, PROM_TOKEN="t0ken")
    prometheus(api, token_env="PROM_TOKEN").fetch(None, run.context)
    assert api.seen("/api/v1/query")[0].headers["authorization"] == "Bearer t0ken"


def test_a_range_query_catches_up_window_by_window(api: FakeAPI) -> None:
    def matrix(seen: Seen) -> Reply:
        start, end, step = (float(seen.arg(k) or 0) for k in ("start", "end", "step"))
        points = []
        at = start
        while at <= end:
            points.append([at, "0.5"])
            at += step
        result = [{"metric": ACME, "values": points}]
        return Reply(json={"status": "success", "data": {"resultType": "matrix", "result": result}})

    api.add("/api/v1/query_range", matrix)
    collector = prometheus(api, mode="range", step="1h", lookback="5h", max_points=2)
    run = harness(api)
    windows = []
    cursor: Any = None
    while True:
        result = collector.fetch(cursor, run.context)
        windows.append([(s.ts.hour, s.value) for s in result.signals])
        cursor = result.cursor
        if not result.more:
            break
    # NOW is 12:00; 5h back is 07:00; each window is at most 2 steps; boundaries are read twice
    assert windows == [
        [(7, 0.5), (8, 0.5), (9, 0.5)],
        [(9, 0.5), (10, 0.5), (11, 0.5)],
        [(11, 0.5), (12, 0.5)],
    ]
    assert cursor == {"end": T}
    requests = [
        (r.arg("start"), r.arg("end"), r.arg("step")) for r in api.seen("/api/v1/query_range")
    ]
    assert requests[0] == (str(T - 5 * 3600), str(T - 3 * 3600), "3600.0")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        pytest.param(
            Reply(
                status=400,
                json={
                    "status": "error",
                    "errorType": "bad_data",
                    "error": 'invalid parameter "query": 1:5: parse error',
                },
            ),
            'HTTP 400: bad_data: invalid parameter "query": 1:5: parse error',
            id="a bad query is a 400 with the parser's message",
        ),
        pytest.param(
            Reply(
                status=422,
                json={
                    "status": "error",
                    "errorType": "execution",
                    "error": "expanding series: too many samples",
                },
            ),
            "HTTP 422: execution: expanding series: too many samples",
            id="an expression that cannot run is a 422",
        ),
        pytest.param(
            Reply(json={"status": "success", "data": {"resultType": "scalar", "result": [T, "1"]}}),
            "the query returned a 'scalar', expected a vector",
            id="a scalar result is refused",
        ),
        pytest.param(
            Reply(body=b"<html>proxy error</html>", headers={"Content-Type": "text/html"}),
            "malformed JSON",
            id="a non-JSON answer is refused",
        ),
        pytest.param(
            Reply(json={"data": []}),
            "not a Prometheus API response",
            id="an answer without a status is refused",
        ),
    ],
)
def test_error_answers_fail_the_run_with_prometheus_reason(
    api: FakeAPI, reply: Reply, message: str
) -> None:
    api.add("/api/v1/query", reply)
    with pytest.raises(CollectorError, match=message.replace("(", r"\(")):
        prometheus(api).fetch(None, harness(api).context)


def test_a_503_timeout_is_retried_then_succeeds(api: FakeAPI) -> None:
    api.fail_next(
        "/api/v1/query",
        Reply(
            status=503, json={"status": "error", "errorType": "timeout", "error": "query timed out"}
        ),
    )
    api.add("/api/v1/query", Reply(json=vector(sample(ACME, "1"))))
    run = harness(api)
    result = prometheus(api, attrs={"site": "instance"}, backoff="2s").fetch(None, run.context)
    assert result.signals == [uptime(ACME, 1.0)]
    assert len(run.sleeps) == 1 and 1.0 <= run.sleeps[0] <= 2.0  # half fixed, half jitter


def test_a_built_in_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'survey' is a built-in kind"):
        PrometheusConfig.model_validate(
            {"base_url": "http://p:9090", "query": "up", "kind": "survey"}
        )
