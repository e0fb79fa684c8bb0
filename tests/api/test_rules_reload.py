"""Rules while serving: a broken change keeps the old rules serving (and says why), a good one
takes effect — through the file watcher, ``POST /-/reload`` and SIGHUP to a real ``rapport serve``;
a ``collectors.yaml`` change reaches the running schedules; ``POST /api/v1/rules/validate`` gives
the CLI's findings."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from live_api import LiveServer, ServeProcess, ServerFactory, seed_world, wait_for
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from rapport.api.bundle import check_rules
from rapport.api.cli import app as cli
from rapport.signals.collectors.base import REGISTRY
from rapport.signals.collectors.schedule import CollectorService

# responsiveness: 100 − 10·hours → 100 − 5·hours. acme (mean 2h): 80 → 90, score (3·90+80)/4.
GOOD_EDIT = ("linear: {best: 0, worst: 10}", "linear: {best: 0, worst: 20}")
ACME_AFTER_GOOD_EDIT = 87.5
BAD_EDIT = ("    weight: 3", "    weight: high")
BAD_FINDING = (
    "scorecard.yaml:18:5: components.responsiveness.weight: Input should be a valid number, "
    "unable to parse string as a number (got 'high')"
)


def edit(rules_dir: Path, change: tuple[str, str]) -> None:
    path = rules_dir / "scorecard.yaml"
    text = path.read_text(encoding="utf-8")
    assert change[0] in text
    path.write_text(text.replace(*change), encoding="utf-8")


def reload_gauge(server: LiveServer) -> float:
    text = server.call("GET", "/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "rapport_rules_last_reload_successful":
            return family.samples[0].value
    raise AssertionError("rapport_rules_last_reload_successful is missing")


def acme_score(server: LiveServer | ServeProcess) -> float:
    score: float = server.call("GET", "/api/v1/clients/acme").json()["score"]
    return score


def test_a_broken_change_is_rejected_and_the_old_rules_keep_serving(world: LiveServer) -> None:
    before = world.call("GET", "/api/v1/rules").json()
    edit(world.rules_dir, BAD_EDIT)
    wait_for(
        lambda: not world.call("GET", "/api/v1/rules").json()["last_reload"]["ok"],
        what="the watcher to reject the broken scorecard",
    )
    after = world.call("GET", "/api/v1/rules").json()
    assert after["version"] == before["version"]
    assert after["components"] == ["responsiveness", "invoices"]
    findings = after["last_reload"]["findings"]
    assert [f["text"].split("/rules/", 1)[1] for f in findings] == [BAD_FINDING]
    assert after["last_reload"]["version"] is None
    assert reload_gauge(world) == 0.0
    world.call("POST", "/api/v1/evaluate").raise_for_status()  # still scores with the old rules
    assert acme_score(world) == pytest.approx(80.0)


def test_a_good_change_takes_effect_and_rescores(world: LiveServer) -> None:
    before = world.call("GET", "/api/v1/rules").json()["version"]
    edit(world.rules_dir, GOOD_EDIT)
    wait_for(
        lambda: acme_score(world) == pytest.approx(ACME_AFTER_GOOD_EDIT),
        what="the watcher to load the new scorecard and re-score",
    )
    rules = world.call("GET", "/api/v1/rules").json()
    assert rules["version"] != before
    assert rules["last_reload"]["ok"] is True
    assert rules["last_reload"]["version"] == rules["version"]
    assert reload_gauge(world) == 1.0


def test_fixing_a_broken_change_recovers(world: LiveServer) -> None:
    edit(world.rules_dir, BAD_EDIT)
    wait_for(lambda: reload_gauge(world) == 0.0, what="the broken change to be rejected")
    edit(world.rules_dir, (BAD_EDIT[1], BAD_EDIT[0]))
    wait_for(lambda: reload_gauge(world) == 1.0, what="the fixed scorecard to load")


def test_post_reload_reports_rejection_with_422_and_success_with_200(
    serve_api: ServerFactory,
) -> None:
    server = serve_api(watch_rules=False)
    seed_world(server)
    edit(server.rules_dir, BAD_EDIT)
    rejected = server.call("POST", "/-/reload")
    assert rejected.status_code == 422
    assert rejected.json()["ok"] is False
    assert [f["text"].split("/rules/", 1)[1] for f in rejected.json()["findings"]] == [BAD_FINDING]
    assert acme_score(server) == pytest.approx(80.0)
    edit(server.rules_dir, (BAD_EDIT[1], BAD_EDIT[0]))
    edit(server.rules_dir, GOOD_EDIT)
    accepted = server.call("POST", "/-/reload")
    assert accepted.status_code == 200
    assert accepted.json()["ok"] is True
    wait_for(lambda: acme_score(server) == pytest.approx(ACME_AFTER_GOOD_EDIT),
             what="the reload to trigger a re-score")  # fmt: skip


def test_sighup_reloads_a_running_rapport_serve(rules_dir: Path, sqlite_url: str) -> None:
    serve = ServeProcess(sqlite_url, rules_dir, "--no-watch")
    try:
        acme = {"id": "acme", "name": "Acme Corp"}
        serve.call("PUT", "/api/v1/clients/acme", json=acme).raise_for_status()
        reply = {"event_id": "r1", "client": "acme", "kind": "response_time",
                 "ts": "2000-01-01T00:00:00Z", "value": 1.0}  # fmt: skip
        serve.call("POST", "/api/v1/signals", json={"signals": [reply]}).raise_for_status()
        version = serve.call("GET", "/api/v1/rules").json()["version"]
        edit(rules_dir, GOOD_EDIT)
        assert serve.call("GET", "/api/v1/rules").json()["version"] == version  # not watching
        serve.signal(signal.SIGHUP)
        wait_for(
            lambda: serve.call("GET", "/api/v1/rules").json()["version"] != version,
            what="SIGHUP to reload the rules",
        )
        assert serve.process.poll() is None  # SIGHUP reloads; it does not stop the server
    finally:
        serve.stop()


# --- collectors.yaml is part of the bundle --------------------------------------------------------


def collectors_yaml(**intervals: str) -> str:
    """A collectors file with one file-drop collector per id, every ``interval`` given."""
    lines = ["version: 1", "collectors:"]
    for name, interval in intervals.items():
        lines += [
            f"  {name}:",
            "    type: file",
            f"    schedule: {{interval: {interval}, jitter: 0}}",
            "    path: drops",
            "    kind: response_time",
        ]
    return "\n".join(lines) + "\n"


def scheduled(server: LiveServer) -> dict[str, float]:
    """The running collector jobs: id → interval in seconds (empty while not leader)."""
    hook = server.service.collectors
    assert isinstance(hook, CollectorService)
    scheduler = hook.scheduler
    if scheduler is None:
        return {}
    return {job.id: job.trigger.interval.total_seconds() for job in scheduler.get_jobs()}


def test_a_broken_collectors_file_is_rejected_exactly_as_rules_check_reports_it(
    serve_api: ServerFactory,
) -> None:
    server = serve_api(watch_rules=False)
    seed_world(server)
    before = server.call("GET", "/api/v1/rules").json()["version"]
    (server.rules_dir / "collectors.yaml").write_text(
        "version: 1\ncollectors:\n  helpdesk:\n    type: no_such_type\n", encoding="utf-8"
    )

    rejected = server.call("POST", "/-/reload")

    assert rejected.status_code == 422
    assert reload_gauge(server) == 0.0
    assert server.call("GET", "/api/v1/rules").json()["version"] == before
    checked = CliRunner().invoke(cli, ["rules", "check", str(server.rules_dir)])
    assert checked.exit_code == 1
    texts = [f["text"] for f in rejected.json()["findings"]]
    assert texts == checked.stdout.splitlines()
    assert texts == [
        f"{server.rules_dir / 'collectors.yaml'}:4:5: collectors.helpdesk.type: unknown "
        f"collector type 'no_such_type' (one of: {', '.join(sorted(REGISTRY))})"
    ]
    assert acme_score(server) == pytest.approx(80.0)  # the previous rules keep scoring


def test_a_good_collectors_change_reaches_the_schedules_without_restart(
    serve_api: ServerFactory,
) -> None:
    server = serve_api(watch_rules=False)
    assert scheduled(server) == {}  # no collectors.yaml: nothing scheduled
    collectors = server.rules_dir / "collectors.yaml"
    collectors.write_text(collectors_yaml(exports="1h"), encoding="utf-8")
    assert server.call("POST", "/-/reload").status_code == 200
    wait_for(lambda: scheduled(server) == {"exports": 3600.0}, what="the schedules to start")

    collectors.write_text(collectors_yaml(exports="2h", surveys="30m"), encoding="utf-8")
    assert server.call("POST", "/-/reload").status_code == 200
    assert scheduled(server) == {"exports": 7200.0, "surveys": 1800.0}

    collectors.write_text(collectors_yaml(surveys="30m"), encoding="utf-8")
    assert server.call("POST", "/-/reload").status_code == 200
    assert scheduled(server) == {"surveys": 1800.0}
    assert reload_gauge(server) == 1.0


# --- POST /api/v1/rules/validate ----------------------------------------------------------------


def test_validate_returns_the_same_findings_as_the_cli(
    shared_world: LiveServer, tmp_path: Path
) -> None:
    text = (shared_world.rules_dir / "scorecard.yaml").read_text(encoding="utf-8")
    broken = text.replace(*BAD_EDIT).replace(
        "aggregate: latest", "aggregate: latest\n    colour: red"
    )
    response = shared_world.call(
        "POST", "/api/v1/rules/validate", content=broken.encode(),
        headers={"Content-Type": "application/yaml"},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    # The CLI's checker on a directory holding the same file:
    (tmp_path / "scorecard.yaml").write_text(broken, encoding="utf-8")
    expected = [str(f).replace(f"{tmp_path}/", "") for f in check_rules(tmp_path)]
    assert body["ok"] is False
    assert [f["text"] for f in body["findings"]] == expected
    assert len(expected) == 2
    assert expected[0] == BAD_FINDING


def test_validate_accepts_a_good_file(shared_world: LiveServer) -> None:
    text = (shared_world.rules_dir / "scorecard.yaml").read_text(encoding="utf-8")
    response = shared_world.call(
        "POST", "/api/v1/rules/validate", content=text.replace(*GOOD_EDIT).encode()
    )
    assert response.json() == {"ok": True, "findings": []}


def test_validate_checks_other_files_of_the_directory(shared_world: LiveServer) -> None:
    clients = "version: 1\nclients:\n  - {id: a, name: A}\n  - {id: a, name: B}\n"
    response = shared_world.call(
        "POST", "/api/v1/rules/validate?file=clients.yaml", content=clients.encode()
    )
    body = response.json()
    assert body["ok"] is False
    assert [f["path"] for f in body["findings"]] == ["clients.yaml"]


def test_validate_never_changes_the_serving_rules(shared_world: LiveServer) -> None:
    before = shared_world.call("GET", "/api/v1/rules").json()
    shared_world.call("POST", "/api/v1/rules/validate", content=b"version: 2\n")
    assert shared_world.call("GET", "/api/v1/rules").json() == before


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("../escape.yaml", id="a path leaving the rules directory is refused"),
        pytest.param("/etc/x.yaml", id="an absolute path is refused"),
        pytest.param("scorecard.txt", id="a file that is not YAML is refused"),
    ],
)
def test_validate_refuses_file_names_outside_the_rules(shared_world: LiveServer, name: str) -> None:
    response = shared_world.call("POST", "/api/v1/rules/validate", params={"file": name},
                                 content=b"version: 1\n")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["reason"].startswith(f"file {name!r} must be a relative path")


def test_validate_refuses_a_body_that_is_not_utf8(shared_world: LiveServer) -> None:
    response = shared_world.call("POST", "/api/v1/rules/validate", content=b"\xff\xfe\x00")
    assert response.status_code == 400
    assert response.json() == {"reason": "the body must be UTF-8 YAML text"}
