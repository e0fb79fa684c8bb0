"""What ``serve`` logs after it starts: one line per evaluation, and requests when asked."""

from __future__ import annotations

import logging
import queue
import time
from datetime import timedelta
from pathlib import Path

import pytest
from live_api import DATA, LiveServer, ServeProcess, T, reply


def test_each_evaluation_logs_clients_duration_rules_and_changed_grades(
    world: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rapport.evaluations")
    world.clock.now = T + timedelta(days=8)
    world.store.upsert_signals([reply("globex-r2", "globex", -(8 * 24 - 1), 1.0)])
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    lines = [r.getMessage() for r in caplog.records if r.name == "rapport.evaluations"]
    assert len(lines) == 1, lines
    version = world.service.rules.current().version
    # globex: 40 (at_risk) → 90 (healthy); the others keep their grades.
    assert lines[0].startswith("evaluated 4 clients in ")
    assert lines[0].endswith(f" ms, rules {version}; grades changed: globex at_risk→healthy")


def test_an_evaluation_with_no_change_says_so(
    world: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rapport.evaluations")
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    lines = [r.getMessage() for r in caplog.records if r.name == "rapport.evaluations"]
    assert lines and lines[-1].endswith("; no grade changed")


def _wait_for_line(serve: ServeProcess, needle: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(needle in line for line in serve.output):
            return True
        try:
            serve.output.append(serve.lines.get(timeout=0.1))
        except queue.Empty:
            continue
    return False


@pytest.mark.parametrize(
    ("args", "logged"),
    [
        pytest.param(("--access-log",), True, id="with --access-log each request is logged"),
        pytest.param((), False, id="without it requests are not logged"),
    ],
)
def test_access_log_is_an_option(tmp_path: Path, args: tuple[str, ...], logged: bool) -> None:
    serve = ServeProcess(f"sqlite:///{tmp_path}/r.db", DATA / "rules", *args, tokens=False)
    try:
        assert serve.call("GET", "/-/healthy", token=None).status_code == 200
        # The evaluation line of the start shows logging works either way.
        assert _wait_for_line(serve, "rapport.evaluations: evaluated 0 clients")
        assert (
            _wait_for_line(serve, '"GET /-/healthy HTTP/1.1" 200', 3.0 if not logged else 15.0)
            is logged
        )
    finally:
        serve.stop()
