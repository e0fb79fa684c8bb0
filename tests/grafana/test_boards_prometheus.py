"""The proof: rapport serve on the demo (180 days of history, detail on, a read token required)
scraped by a real Prometheus on loopback running the shipped prometheus.yml as the compose stack
mounts it (recording and alert rules included); every panel's and annotation's queries, variables
set to real values, parse and return data."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from boards import GRAFANA, ROOT, annotations, metric_names, panels, prometheus_config

# Generous: on a loaded 2-core CI machine the demo start (history replay) and the first scrapes
# can take a while; a healthy run passes in ~10 s.
DEADLINE = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Any, what: str) -> Any:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus is needed: apt-get install prometheus (.ci/run installs it)")
    tmp = tmp_path_factory.mktemp("stack")
    rapport_port, prom_port = free_port(), free_port()
    token = "prometheus-read-token"
    token_file = tmp / "rapport_read_token"
    token_file.write_text(token)
    digest = hashlib.sha256(token.encode()).hexdigest()
    env = {
        **os.environ,
        "RAPPORT_TOKENS": json.dumps([{"name": "prom", "sha256": digest, "scopes": ["read"]}]),
        "RAPPORT_DATABASE_URL": f"sqlite:///{tmp / 'r.db'}",
        "RAPPORT_RULES_DIR": str(ROOT / "rules"),
        "RAPPORT_METRICS_DETAIL": "true",
        "RAPPORT_OUTBOX_DIR": str(tmp / "outbox"),
    }
    rapport = [
        str(Path(sys.executable).with_name("rapport")),
        "serve",
        "--demo",
        "--no-watch",
        "--port",
        str(rapport_port),
    ]
    config = tmp / "prometheus.yml"
    shipped = prometheus_config(
        target=f"127.0.0.1:{rapport_port}", token_file=token_file, interval="1s"
    )
    config.write_text(yaml.safe_dump(shipped))
    prom = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    with (
        subprocess.Popen(
            rapport, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as serve,
        subprocess.Popen(
            prom, cwd=tmp, stdout=subprocess.DEVNULL, stderr=(tmp / "prom.log").open("w")
        ) as prom_proc,
    ):
        try:
            api = httpx.Client(base_url=f"http://127.0.0.1:{prom_port}", timeout=10)
            rapport_http = httpx.Client(base_url=f"http://127.0.0.1:{rapport_port}", timeout=10)
            wait_for(lambda: rapport_http.get("/-/ready").status_code == 200, "rapport serve")
            assert rapport_http.get("/metrics").status_code == 401  # the token is needed
            exposed = rapport_http.get(
                "/metrics", headers={"Authorization": f"Bearer {token}"}
            ).text

            def ready() -> bool:
                for expr in (
                    "count(rapport:clients:count_by_grade)",
                    "count_over_time(rapport_clients[1m]) >= 3",
                    'ALERTS{alertstate="firing"}',
                ):
                    if not api.get("/api/v1/query", params={"query": expr}).json()["data"][
                        "result"
                    ]:
                        return False
                return True

            wait_for(ready, "samples in Prometheus")
            yield {"api": api, "exposed": exposed}
        finally:
            serve.terminate()
            prom_proc.terminate()
            serve.wait(10)
            prom_proc.wait(10)


#: A client the client board can show everything for: scored, with incidents known and an alert
#: firing (the demo has such clients).
SHOWCASE = (
    "rapport_client_health_score and on (client) rapport_client_open_incidents"
    ' and on (client) ALERTS{alertstate="firing"}'
)


def values(api: httpx.Client) -> dict[str, str]:
    series = api.get("/api/v1/query", params={"query": SHOWCASE}).json()["data"]["result"]
    labels = series[0]["metric"]
    return {
        "client": labels["client"],
        "owner": labels["owner"],
        "segment": labels["segment"],
        "rapport_url": "http://localhost:8000",
    }


def substitute(expr: str, real: dict[str, str]) -> str:
    for name, value in real.items():
        expr = expr.replace(f"${name}", value)
    return expr


QUERIES = [(uid, p["title"], t["expr"]) for uid, p in panels() for t in p["targets"]] + [
    (uid, a["name"], a["target"]["expr"]) for uid, a in annotations()
]


def test_every_panel_query_parses_and_returns_series(stack: dict[str, Any]) -> None:
    api = stack["api"]
    real = values(api)
    empty, broken = [], []
    for uid, title, expr in QUERIES:
        query = substitute(expr, real)
        answer = api.get("/api/v1/query", params={"query": query}).json()
        if answer["status"] != "success":
            broken.append((uid, title, answer.get("error")))
        elif not answer["data"]["result"]:
            empty.append((uid, title, query))
    assert broken == [] and empty == []


def test_no_query_names_a_metric_the_exporter_does_not_expose(stack: dict[str, Any]) -> None:
    exposed = {
        line.split()[2] for line in stack["exposed"].splitlines() if line.startswith("# TYPE")
    }
    suffixed = {f"{n}{s}" for n in exposed for s in ("", "_total", "_bucket", "_count", "_sum")}
    rules = [
        rule
        for name in ("recording_rules.yml", "alert_rules.yml")
        for group in yaml.safe_load((GRAFANA / "prometheus" / name).read_text())["groups"]
        for rule in group["rules"]
    ]
    # Alerting rules make Prometheus' own ALERTS series.
    recorded = {r["record"] for r in rules if "record" in r} | {
        "ALERTS" for r in rules if "alert" in r
    }
    unknown = {
        (uid, title, n)
        for uid, title, expr in QUERIES
        for n in metric_names(expr)
        if n not in suffixed | recorded
    }
    assert unknown == set()
