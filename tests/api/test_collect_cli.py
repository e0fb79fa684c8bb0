"""``rapport collect`` as a user runs it: real rules, real exports, a real SQLite store."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rapport.api.cli import app
from rapport.signals.collector_state import recent_runs
from rapport.signals.store import Store

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"


def collect(rules: Path, db: Path, *args: str) -> Result:
    url = f"sqlite:///{db}"
    return CliRunner().invoke(
        app, ["--database-url", url, "--rules-dir", str(rules), "collect", *args]
    )


def private_rules(tmp_path: Path, collectors: str) -> Path:
    """The shipped scorecard and clients with a collectors.yaml of the test's own."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("scorecard.yaml", "clients.yaml"):
        shutil.copy(RULES / name, rules / name)
    (rules / "collectors.yaml").write_text(collectors)
    return rules


def test_the_shipped_example_collects_and_rescores(tmp_path: Path) -> None:
    db = tmp_path / "rapport.db"
    result = collect(RULES, db, "--once")
    assert result.exit_code == 0, result.output
    assert "helpdesk_exports" in result.stdout and "nps_survey" in result.stdout
    with Store.open(f"sqlite:///{db}") as store:
        # 66 helpdesk rows (one of an unknown account) and 35 survey answers (one unknown domain)
        assert store.signal_count() == 65 + 34
        helpdesk, nps = (recent_runs(store, name)[0] for name in ("helpdesk_exports", "nps_survey"))
        assert (helpdesk.ok, helpdesk.items, helpdesk.unmapped_ids) == (
            True,
            65,
            {"acme-legacy": 1},
        )
        assert (nps.ok, nps.items, nps.unmapped_ids) == (True, 34, {"gmail.example": 1})
        rescored = {score.client for score in store.latest_scores()}
    assert {"harbor-health-group", "sunrise-dental-clinics", "nova-biotech"} <= rescored
    again = collect(RULES, db, "--once", "nps_survey")
    assert again.exit_code == 0, again.output
    with Store.open(f"sqlite:///{db}") as store:
        assert recent_runs(store, "nps_survey")[0].items == 0  # the export has not changed


FILE_OK = """\
version: 1
collectors:
  exports:
    type: file
    path: drop
    kind: response_time
  surveys:
    type: survey_csv
    path: no-such-folder
    score: Score
    email: Email
"""


def test_a_failing_collector_exits_1_after_the_others_ran(tmp_path: Path) -> None:
    rules = private_rules(tmp_path, FILE_OK)
    (rules / "drop").mkdir()
    (rules / "drop" / "t.csv").write_text(
        "event_id,client,ts,value\nx1,northwind-logistics,2026-10-01T09:00:00Z,2.5\n"
    )
    result = collect(rules, tmp_path / "rapport.db", "--once")
    assert result.exit_code == 1, result.output
    assert "failed" in result.stdout and "ok" in result.stdout
    with Store.open(f"sqlite:///{tmp_path / 'rapport.db'}") as store:
        assert store.signal_count() == 1
        assert [s.client for s in store.latest_scores()] == ["northwind-logistics"]
        [failed] = recent_runs(store, "surveys")
        assert failed.error is not None and "no-such-folder does not exist" in failed.error


@pytest.mark.parametrize(
    ("collectors", "args", "message"),
    [
        pytest.param(
            FILE_OK,
            ["--once", "exprots"],
            "No collector by the id of 'exprots'",
            id="an unknown collector name exits 2",
        ),
        pytest.param(
            None, ["--once"], "no collectors.yaml at", id="a missing collectors file exits 2"
        ),
    ],
)
def test_configuration_errors_exit_2(
    tmp_path: Path, collectors: str | None, args: list[str], message: str
) -> None:
    rules = private_rules(tmp_path, collectors or "")
    if collectors is None:
        (rules / "collectors.yaml").unlink()
    result = collect(rules, tmp_path / "rapport.db", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_an_invalid_collectors_file_is_a_finding_that_exits_1(tmp_path: Path) -> None:
    """As in ``rapport rules check``: an invalid rules file is a finding (it used to exit 2)."""
    rules = private_rules(tmp_path, "version: 1\ncollectors:\n  a:\n    type: fiel\n")
    result = collect(rules, tmp_path / "rapport.db", "--once")
    assert result.exit_code == 1, result.output
    assert (
        "collectors.yaml:4:5: collectors.a.type: unknown collector type 'fiel'"
        " (did you mean 'file'?)" in result.stderr
    )


def test_without_once_collectors_run_on_schedule_until_interrupted(tmp_path: Path) -> None:
    rules = private_rules(tmp_path, FILE_OK.split("  surveys:", maxsplit=1)[0])
    (rules / "drop").mkdir()
    (rules / "drop" / "t.csv").write_text(
        "event_id,client,ts,value\nx1,northwind-logistics,2026-10-01T09:00:00Z,2.5\n"
    )
    db = tmp_path / "rapport.db"
    command = [
        sys.executable,
        "-c",
        "from rapport.api.cli import main; main()",
        "--database-url",
        f"sqlite:///{db}",
        "--rules-dir",
        str(rules),
        "collect",
        "--retry",
        "0.1",
    ]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 30
        while not _has_run(db, "exports"):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the scheduled run did not happen within 30s"
            time.sleep(0.05)  # polling the store for the run record
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "collecting on schedule (exports)" in stderr and "stopped" in stderr


def _has_run(db: Path, collector: str) -> bool:
    if not db.exists():
        return False
    with Store.open(f"sqlite:///{db}") as store:
        return bool(recent_runs(store, collector))
