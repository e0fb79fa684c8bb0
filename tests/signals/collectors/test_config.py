"""collectors.yaml: shape, per-type settings, schedules — every problem at its line and column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from rapport.engine.errors import RulesError
from rapport.signals.collectors.base import REGISTRY
from rapport.signals.collectors.config import (
    COLLECTORS_FILE,
    UnknownCollectorNameError,
    check_collectors_file,
    check_collectors_text,
    cron_fields,
    load_collectors_config,
)
from rapport.signals.collectors.file import FileConfig
from rapport.signals.collectors.survey_csv import SurveyCsvConfig

#: every registered type, as the "one of" hint lists them
TYPES = ", ".join(sorted(REGISTRY))

RULES = Path(__file__).parents[3] / "rules"

GOOD = """\
version: 1
collectors:
  exports:
    type: file
    path: drop
    kind: response_time
    schedule: {interval: 15m, jitter: 0}
    max_staleness: 6h
  nps:
    type: survey_csv
    path: /srv/surveys
    score: Score
    company: Company
    schedule: {cron: "*/30 8-18 * * 1-5", jitter: 30s, misfire_grace: 1h}
    clients: {Acme Corp: acme, 42: globex}
    enabled: false
  uptime:
    type: prometheus
    base_url: http://prometheus:9090
    query: up
    kind: site_uptime
    client_attribute: prometheus_client
"""


def findings(text: str) -> list[str]:
    config, found = check_collectors_text(text, "rules/collectors.yaml")
    assert (config is None) == bool(found)
    return [str(f).removeprefix("rules/collectors.yaml:") for f in found]


def test_the_shipped_example_is_valid() -> None:
    assert check_collectors_file(RULES / COLLECTORS_FILE) == []
    config = load_collectors_config(RULES / COLLECTORS_FILE)
    assert list(config.collectors) == ["helpdesk_exports", "nps_survey"]


def test_a_valid_file_loads_into_specs() -> None:
    config, found = check_collectors_text(GOOD, "/etc/rapport/rules/collectors.yaml")
    assert found == [] and config is not None
    exports, nps, uptime = config.collectors.values()
    assert (exports.type, exports.kinds, exports.client_attribute) == (
        "file",
        ("response_time",),
        None,
    )
    assert exports.schedule.interval == 900.0 and exports.schedule.jitter == 0.0
    assert exports.max_staleness == 6 * 3600
    assert isinstance(exports.config, FileConfig)
    assert exports.config.path == Path("/etc/rapport/rules/drop")  # relative to the file
    assert isinstance(nps.config, SurveyCsvConfig)
    assert nps.client_attribute == "survey_company"  # chosen by the company column
    assert nps.overrides == {"Acme Corp": "acme", "42": "globex"}
    assert nps.enabled is False and nps.schedule.misfire_grace == 3600.0
    assert nps.max_staleness == 24 * 3600  # the default
    assert (uptime.kinds, uptime.client_attribute) == (("site_uptime",), "prometheus_client")
    assert uptime.schedule.interval == 3600.0  # the default schedule
    assert [s.id for s in config.select()] == ["exports", "uptime"]  # enabled ones
    assert [s.id for s in config.select(["nps"])] == ["nps"]
    with pytest.raises(UnknownCollectorNameError, match="No collector by the id of 'nsp'"):
        config.select(["nsp"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "collectors: {}\n",
            ["1:1: version: missing (start the file with `version: 1`)"],
            id="a file without version should fail",
        ),
        pytest.param(
            "version: 2\ncollectors: {}\n",
            ["1:1: version: unsupported version 2 (supported: 1)"],
            id="a file of another version should fail",
        ),
        pytest.param(
            "version: 1\ncolectors: {}\n",
            ["2:1: colectors: unknown key 'colectors' (did you mean 'collectors'?)"],
            id="a misspelt top-level key should fail with a hint",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a:\n    type: zendsk\n",
            ["4:5: collectors.a.type: unknown collector type 'zendsk' (did you mean 'zendesk'?)"],
            id="an unknown type should fail with the closest type",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a:\n    path: x\n",
            [f"3:3: collectors.a: required key 'type' missing (one of: {TYPES})"],
            id="an entry without a type should fail listing the types",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a:\n    type: file\n    path: x\n    kind: response_time\n"
            "    glb: '*.csv'\n",
            ["7:5: collectors.a.glb: unknown key 'glb' (did you mean 'glob'?)"],
            id="a misspelt setting of the type should fail with a hint",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a:\n    type: file\n    path: x\n    kind: response_time\n"
            "    schedul: {interval: 1h}\n",
            ["7:5: collectors.a.schedul: unknown key 'schedul' (did you mean 'schedule'?)"],
            id="a misspelt common key should fail with a hint",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a:\n    type: prometheus\n    query: up\n",
            [
                "3:3: collectors.a.base_url: required key missing",
                "3:3: collectors.a.kind: required key missing",
            ],
            id="missing settings should each be reported",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a:\n    type: file\n    path: x\n    kind: response_time\n"
            "    schedule: {cron: '0 25 * * *'}\n",
            [
                "7:5: collectors.a.schedule: invalid cron expression '0 25 * * *': Error validating"
                " expression '25': the last value (25) is higher than the maximum value (23)"
            ],
            id="an impossible cron hour should fail",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a:\n    type: file\n    path: x\n    kind: response_time\n"
            "    schedule: {jitter: 1m}\n",
            ["7:5: collectors.a.schedule: a schedule needs exactly one of interval or cron"],
            id="a schedule without timing should fail",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a: file\n",
            ["3:3: collectors.a: expected a mapping of settings (type, schedule, …)"],
            id="an entry that is not a mapping should fail",
        ),
        pytest.param(
            "version: 1\ncollectors:\n  a:\n    type: sql\n    url: postgresql://app:pw@db/crm\n"
            "    kind: incident\n    query: SELECT 1\n",
            ["3:3: collectors.a: the url holds a password; move it to token_env or token_file"],
            id="a password written in the file should fail",
        ),
        pytest.param(
            "version: 1\n"
            "collectors:\n"
            "  a:\n"
            "    type: file\n"
            "    path: x\n"
            "    kind: response_time\n"
            "    schedule: {interval: 15}\n"
            "    max_staleness: soon\n"
            "  Bad_Id:\n"
            "    type: imap\n"
            "    host: mail.example\n"
            "    username: pm\n"
            "    token_env: IMAP_PASSWORD\n"
            "    team_domains: [ours.example]\n"
            "  c:\n"
            "    type: survey_csv\n"
            "    path: y\n"
            "    score: S\n",
            [
                "7:16: collectors.a.schedule.interval: expected a duration such as 30d, 12h or 2w"
                " (got 15)",
                "8:5: collectors.a.max_staleness: expected a duration such as 30d, 12h or 2w"
                " (got 'soon')",
                "9:3: collectors.Bad_Id: invalid collector id 'Bad_Id'"
                " (use lowercase letters, digits, _ and -, starting with a letter)",
                "15:3: collectors.c: name exactly one of company or email (the respondent column)",
            ],
            id="a file with several problems should report them all",
        ),
    ],
)
def test_bad_files_report_every_problem_at_its_position(text: str, expected: list[str]) -> None:
    assert findings(text) == expected


def test_loading_a_bad_file_raises_with_every_finding(tmp_path: Path) -> None:
    path = tmp_path / COLLECTORS_FILE
    path.write_text("version: 1\ncollectors:\n  a:\n    type: fiel\n  b:\n    type: sqll\n")
    with pytest.raises(RulesError) as raised:
        load_collectors_config(path)
    assert [f.key for f in raised.value.findings] == ["collectors.a.type", "collectors.b.type"]


def test_a_missing_file_is_a_finding(tmp_path: Path) -> None:
    [finding] = check_collectors_file(tmp_path / COLLECTORS_FILE)
    assert finding.message == "file not found"


@pytest.mark.parametrize(
    ("cron", "weekday"),
    [
        pytest.param(
            "0 6 * * 1-5", "mon,tue,wed,thu,fri", id="cron one to five means monday to friday"
        ),
        pytest.param("0 6 * * 0", "sun", id="cron zero means sunday"),
        pytest.param("0 6 * * 7", "sun", id="cron seven also means sunday"),
        pytest.param("0 6 * * 5-7", "sun,fri,sat", id="a range up to seven ends on sunday"),
        pytest.param("0 6 * * */2", "sun,tue,thu,sat", id="a step counts from sunday"),
        pytest.param("0 6 * * sat,SUN", "sun,sat", id="day names are kept"),
        pytest.param("0 6 * * *", "*", id="every day stays every day"),
    ],
)
def test_cron_weekdays_follow_cron_not_apscheduler_numbering(cron: str, weekday: str) -> None:
    assert cron_fields(cron)["day_of_week"] == weekday


def test_a_weekday_cron_fires_on_monday_not_on_sunday() -> None:
    trigger = CronTrigger(**cron_fields("0 6 * * 1"), timezone=UTC)
    saturday = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, saturday) == datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
