"""API benchmarks: ingest throughput, ``/metrics`` with 10k clients, ``GET /clients/{id}`` latency.

Every server runs as its own process (uvicorn, one worker, loopback only) so the load generator
does not share its interpreter; every figure is the median of ``--repeat`` rounds of this one run:

- ingest: ``POST /api/v1/signals`` in batches of 1,000 new signals into SQLite, 1,000 registered
  clients, re-scoring debounced as in production (target ≥ 20k signals/s);
- ``/metrics``: scrape time with 10k scored clients, plain and gzip (target ≤ 250 ms), plus what
  rendering the per-client text costs once per evaluation, against prometheus_client rendering the
  same samples (what a per-scrape collector would pay);
- ``GET /api/v1/clients/{id}``: p99 latency under a bounded closed-loop load (``--connections``
  keep-alive connections) next to a trivial JSON route served by the same process in the same
  run (target: within 3x of the trivial route's p99).

``python -m benchmarks.bench_api`` prints the medians and writes them under the "api" key of
benchmarks/results.json, keeping the other keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rapport.api.app import build_service, create_app
from rapport.api.auth import hash_token
from rapport.api.bundle import load_bundle
from rapport.api.metrics import ClientMetricsInput, render_client_metrics
from rapport.api.pipeline import evaluate_store
from rapport.api.settings import Settings, TokenSpec
from rapport.signals.model import Client, Owner, StoredSignal
from rapport.signals.store import Store

HERE = Path(__file__).parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"
RULES = ROOT / "rules"
AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
TOKEN = "bench-read-token"
PMS = ["Mei Chen", "Tom Becker", "Priya Raman", "Daniel Okafor", "Maya Lindqvist", "王芳"]
SEGMENTS = ["enterprise", "midmarket", "smb"]


# --- data ----------------------------------------------------------------------------------------


def bench_clients(count: int) -> list[Client]:
    owners = [Owner(name=n, email=f"pm{i}@example.com") for i, n in enumerate(PMS)]
    return [
        Client(
            id=f"client-{i:05d}",
            name=f"Client {i}",
            segment=SEGMENTS[i % len(SEGMENTS)],
            owner=owners[i % len(owners)],
        )
        for i in range(count)
    ]


def bench_signals(clients: list[Client], seed: int = 7) -> list[StoredSignal]:
    """Seven signals per client over 60 days: replies, a survey, milestones, an incident."""
    rng = np.random.default_rng(seed)
    out: list[StoredSignal] = []
    for client in clients:
        days = rng.uniform(0, 60, size=7)
        hours = rng.gamma(2.0, 4.0, size=3)
        at = [AS_OF - timedelta(days=float(d)) for d in days]
        cid = client.id
        out += [
            StoredSignal(event_id=f"{cid}:r{k}", client=cid, kind="response_time", ts=at[k],
                         value=float(hours[k]), attrs={"channel": "email"})
            for k in range(3)
        ]  # fmt: skip
        nps = float(rng.integers(5, 11))
        out.append(StoredSignal(event_id=f"{cid}:s", client=cid, kind="survey", ts=at[3],
                                value=nps, attrs={"scale": "nps"}))  # fmt: skip
        out += [
            StoredSignal(event_id=f"{cid}:m{k}", client=cid, kind="milestone", ts=at[4 + k],
                         end=at[4 + k] + timedelta(days=float(rng.uniform(-2, 3))),
                         attrs={"name": f"m{k}"})
            for k in range(2)
        ]  # fmt: skip
        out.append(StoredSignal(event_id=f"{cid}:i", client=cid, kind="incident", ts=at[6],
                                end=at[6] + timedelta(hours=5),
                                attrs={"severity": "sev3"}))  # fmt: skip
    return out


def seed_store(url: str, clients: int) -> Store:
    store = Store.open(url)
    registry = bench_clients(clients)
    store.upsert_clients(registry)
    store.upsert_signals(bench_signals(registry))
    return store


def ingest_bodies(round_no: int, batches: int, clients: int, size: int = 1000) -> list[bytes]:
    """``batches`` request bodies of ``size`` new signals each (ids unique per round)."""
    rng = np.random.default_rng(round_no)
    bodies = []
    for b in range(batches):
        items = []
        for i in range(size):
            client = f"client-{int(rng.integers(clients)):05d}"
            ts = (AS_OF - timedelta(minutes=int(rng.integers(0, 60 * 24 * 30)))).isoformat()
            base = {"event_id": f"ing-{round_no}-{b}-{i}", "client": client, "ts": ts}
            if i % 4 == 3:
                items.append({**base, "kind": "survey", "value": float(rng.integers(0, 11))})
            else:
                hours = round(float(rng.gamma(2.0, 4.0)), 3)
                items.append({**base, "kind": "response_time", "value": hours, "channel": "ticket"})
        bodies.append(json.dumps({"signals": items}).encode())
    return bodies


# --- a server in its own process ---------------------------------------------------------------


def _serve(database_url: str, port_file: Path) -> None:
    """Child process: the real app (plus a trivial reference route) on a loopback port."""
    settings = Settings(
        database_url=database_url,
        rules_dir=RULES,
        tokens=(TokenSpec(name="bench", sha256=hash_token(TOKEN), scopes=("admin",)),),
        watch_rules=False,
    )
    app = create_app(build_service(settings, clock=lambda: AS_OF))

    @app.get("/bench/trivial", include_in_schema=False)
    def trivial() -> dict[str, bool]:
        return {"ok": True}

    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say so, and without
    # it Nagle holds back each response body for a delayed ACK (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port_file.write_text(str(sock.getsockname()[1]))
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


@contextmanager
def server_process(database_url: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        command = [sys.executable, "-m", "benchmarks.bench_api", "_serve", database_url,
                   str(port_file)]  # fmt: skip
        process = subprocess.Popen(command, cwd=ROOT)
        try:
            url = _wait_ready(process, port_file)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


def _wait_ready(process: subprocess.Popen[bytes], port_file: Path, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the benchmark server exited before it was ready")
        if port_file.exists() and port_file.read_text():
            url = f"http://127.0.0.1:{port_file.read_text()}"
            try:
                if httpx.get(f"{url}/-/ready", timeout=5).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    raise SystemExit("the benchmark server did not become ready in time")


# --- measurements ------------------------------------------------------------------------------


def measure_ingest(clients: int, batches: int, repeat: int) -> dict[str, Any]:
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ingest.db"
        with Store.open(url) as store:
            store.upsert_clients(bench_clients(clients))
        with server_process(url) as base, httpx.Client(base_url=base, timeout=120) as http:
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            for round_no in range(repeat):
                bodies = ingest_bodies(round_no, batches, clients)
                started = time.perf_counter()
                for body in bodies:
                    response = http.post("/api/v1/signals", content=body, headers=headers)
                    if response.status_code != 200 or len(response.json()["accepted"]) != 1000:
                        raise SystemExit(f"ingest failed: {response.status_code} {response.text}")
                rates.append(batches * 1000 / (time.perf_counter() - started))
    return {
        "signals_per_second": statistics.median(rates),
        "rounds": [round(r) for r in rates],
        "batch": 1000,
        "batches_per_round": batches,
        "target_signals_per_second": 20000,
    }


def measure_render(url: str) -> dict[str, Any]:
    """Rendering 10k clients' families once (ours) vs prometheus_client rendering the same."""
    with Store.open(url) as store:
        ruleset = load_bundle(RULES).ruleset
        evaluation = evaluate_store(store, ruleset, AS_OF, persist=False)
        data = ClientMetricsInput(evaluation, store.clients(), store.last_signal_times())
    ours = _median_time(lambda: render_client_metrics(data), 5)
    families = list(text_string_to_metric_families(render_client_metrics(data).text.decode()))

    class Prebuilt:
        def collect(self) -> Any:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Prebuilt())
    library = _median_time(lambda: generate_latest(registry), 3)
    samples = sum(len(f.samples) for f in families)
    return {"render_once_seconds": ours, "prometheus_client_render_seconds": library,
            "samples": samples}  # fmt: skip


def measure_scrape(base: str, repeat: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, timeout=60) as http:
        plain, zipped = [], []
        size = zipped_size = 0
        for _ in range(repeat):
            started = time.perf_counter()
            response = http.get("/metrics", headers={**headers, "Accept-Encoding": "identity"})
            plain.append(time.perf_counter() - started)
            size = len(response.content)
            started = time.perf_counter()
            with http.stream(
                "GET", "/metrics", headers={**headers, "Accept-Encoding": "gzip"}
            ) as r:
                zipped_size = len(b"".join(r.iter_raw()))
            zipped.append(time.perf_counter() - started)
    return {
        "plain_seconds": statistics.median(plain),
        "gzip_seconds": statistics.median(zipped),
        "plain_bytes": size,
        "gzip_bytes": zipped_size,
        "target_seconds": 0.25,
    }


async def _closed_loop(
    port: int, paths: list[bytes], connections: int
) -> tuple[list[float], float]:
    """``len(paths)`` GETs over ``connections`` keep-alive connections; latencies and wall time."""
    latencies: list[float] = []
    queue = iter(paths)
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path in queue:
            request = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + b"\r\n"
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"GET {path.decode()} answered {head.splitlines()[0].decode()}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, time.perf_counter() - started


def measure_latency(
    base: str, clients: int, requests: int, connections: int, repeat: int
) -> dict[str, Any]:
    port = int(base.rsplit(":", 1)[1])
    rng = np.random.default_rng(3)
    rounds: dict[str, list[dict[str, float]]] = {"trivial": [], "client": []}
    for _ in range(repeat):
        ids = rng.integers(clients, size=requests)
        targets = {
            "trivial": [b"/bench/trivial"] * requests,
            "client": [f"/api/v1/clients/client-{i:05d}".encode() for i in ids],
        }
        for name, paths in targets.items():
            asyncio.run(_closed_loop(port, paths[: requests // 10], connections))  # warm up
            latencies, wall = asyncio.run(_closed_loop(port, paths, connections))
            rounds[name].append({
                "p50_ms": 1000 * float(np.percentile(latencies, 50)),
                "p99_ms": 1000 * float(np.percentile(latencies, 99)),
                "requests_per_second": len(latencies) / wall,
            })  # fmt: skip
    summary = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in rounds.items()
    }
    return {
        **summary,
        "p99_ratio": summary["client"]["p99_ms"] / summary["trivial"]["p99_ms"],
        "connections": connections,
        "requests_per_round": requests,
        "target_p99_ratio": 3.0,
    }


def _median_time(run: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_api_benchmarks(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    print(f"ingest: {args.ingest_batches} batches of 1,000 x {args.repeat} rounds …", flush=True)
    results["ingest"] = measure_ingest(args.ingest_clients, args.ingest_batches, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/clients.db"
        print(f"seeding {args.clients} clients …", flush=True)
        seed_store(url, args.clients).close()
        results["metrics_render"] = measure_render(url)
        with server_process(url) as base:
            print("scraping /metrics …", flush=True)
            results["metrics_scrape"] = measure_scrape(base, max(args.repeat, 10))
            print(f"latency: {args.connections} connections …", flush=True)
            results["client_latency"] = measure_latency(
                base, args.clients, args.requests, args.connections, args.repeat
            )
    results["metrics_scrape"]["clients"] = args.clients
    return results


def report(r: dict[str, Any]) -> None:
    ingest, render, scrape, lat = (
        r["ingest"], r["metrics_render"], r["metrics_scrape"], r["client_latency"]
    )  # fmt: skip
    print(f"\nPOST /signals      {ingest['signals_per_second']:>10,.0f} signals/s   "
          f"(batches of 1,000 on SQLite; target >= 20,000)")  # fmt: skip
    print(f"/metrics scrape    {scrape['plain_seconds'] * 1000:>10.1f} ms plain, "
          f"{scrape['gzip_seconds'] * 1000:.1f} ms gzip ({scrape['clients']:,} clients, "
          f"{scrape['plain_bytes'] / 1e6:.1f} MB / {scrape['gzip_bytes'] / 1e6:.1f} MB; "
          f"target <= 250 ms)")  # fmt: skip
    print(f"  render once      {render['render_once_seconds'] * 1000:>10.1f} ms per evaluation "
          f"({render['samples']:,} samples); prometheus_client per scrape would take "
          f"{render['prometheus_client_render_seconds'] * 1000:.0f} ms")  # fmt: skip
    print(f"GET /clients/{{id}}  p99 {lat['client']['p99_ms']:>6.2f} ms "
          f"({lat['client']['requests_per_second']:,.0f} req/s) vs trivial route p99 "
          f"{lat['trivial']['p99_ms']:.2f} ms ({lat['trivial']['requests_per_second']:,.0f} "
          f"req/s): {lat['p99_ratio']:.2f}x "
          f"(target <= 3x, {lat['connections']} connections)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_serve"]:
        _serve(argv[1], Path(argv[2]))
        return
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_api", description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--ingest-clients", type=int, default=1_000)
    parser.add_argument("--ingest-batches", type=int, default=60, help="per round")
    parser.add_argument("--requests", type=int, default=5_000, help="GETs per latency round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    results = run_api_benchmarks(args)
    report(results)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["api"] = results
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
