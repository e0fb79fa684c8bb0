"""Outbox delivery to a loopback SMTP server (aiosmtpd): emails per second, median of 3 runs of
200 messages each (render, inline CSS, send on one kept-open connection, mark sent in SQLite).
Merged into ``benchmarks/results.json`` under ``outbox``; other keys are kept. Target: >= 50/s."""

from __future__ import annotations

import json
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from rapport.api.notify.notice import Links, Recipient
from rapport.api.notify.samples import sample_notice
from rapport.api.notify.wiring import notification_service
from rapport.api.settings import Settings
from rapport.signals.store import Store

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"
MESSAGES, RUNS, TARGET = 200, 3, 50.0


class _Sink:
    count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        _Sink.count += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_run(port: int, directory: Path, run: int) -> float:
    """Emails per second delivering ``MESSAGES`` fresh notices."""
    now = datetime.now(UTC)
    pm = Recipient(name="Mei Chen", email="mei@example.org", timezone="Europe/Berlin")
    links = Links(client="http://127.0.0.1:8000/clients/northwind")
    notices = [
        sample_notice(now, links, key=f"r{run}-{i}", recipients=(pm,)) for i in range(MESSAGES)
    ]
    with Store.open(f"sqlite:///{directory}/run{run}.db") as store:
        settings = Settings(smtp_url=f"smtp://127.0.0.1:{port}", rules_dir=directory)
        service = notification_service(settings, store, clock=lambda: now)
        service.enqueue(notices)
        started = time.perf_counter()
        report = service.deliver_due(now)
        elapsed = time.perf_counter() - started
    assert report.sent == MESSAGES, report
    return MESSAGES / elapsed


def main() -> None:
    port = _free_port()
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rates = [one_run(port, Path(scratch), run) for run in range(RUNS)]
    finally:
        controller.stop()
    median = statistics.median(rates)
    verdict = "ok" if median >= TARGET else "UNDER TARGET"
    print(f"outbox delivery: {median:.0f} emails/s (median of {RUNS} x {MESSAGES}; "
          f"target {TARGET:.0f}/s: {verdict})")  # fmt: skip
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["outbox"] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": RUNS,
        "messages": MESSAGES,
        "emails_per_s": round(median, 1),
        "runs_emails_per_s": [round(r, 1) for r in rates],
        "target_emails_per_s": TARGET,
    }
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
