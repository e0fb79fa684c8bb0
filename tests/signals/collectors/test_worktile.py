"""The worktile collector against a loopback server serving Worktile's tenant token, project task
types and task list (page_index / page_size / total / values), in every fault mode."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from fakeapi import NOW, FakeAPI, Reply, Seen, drain, fetch_context

from rapport.signals.collectors.base import ClientMap, CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.worktile import (
    TASKS_PATH,
    TOKEN_PATH,
    TYPES_PATH,
    WorktileCollector,
    WorktileConfig,
)
from rapport.signals.model import Client, StoredSignal

PROJECTS = [("WEB", "acme"), ("APP", "globex")]
SHANGHAI = ZoneInfo("Asia/Shanghai")
# a day-only due date as Worktile keeps it: midnight of the day picked, in the team's zone
JUNE_30 = int(datetime(2024, 6, 30, tzinfo=SHANGHAI).timestamp())
MAY_10_15H = int(datetime(2024, 5, 10, 15, 0, tzinfo=UTC).timestamp())
MAY_9 = int(datetime(2024, 5, 9, 8, tzinfo=UTC).timestamp())
MILESTONE_TYPE = "5f6b1c2d3e4f5a6b7c8d9e11"
CREATED = 1700000000


def task(task_id: str, identifier: str, title: str, state: str, due: int | None,
         with_time: int = 0, completed_at: int | None = None, **extra: object) -> dict:  # fmt: skip
    """A task as the list documents it (the fields we read, and some we don't)."""
    project = identifier.split("-", maxsplit=1)[0]
    item = {
        "id": task_id,
        "url": f"https://open.worktile.com/v1/mission/tasks/{task_id}",
        "identifier": identifier,
        "title": title,
        "type": {"id": MILESTONE_TYPE, "name": "里程碑"},
        "project": {"id": f"p-{project}", "identifier": project, "name": f"{project} 项目"},
        "state": {"id": "s1", "name": state, "type": state},
        "start": None,
        "due": None if due is None else {"date": due, "with_time": with_time},
        "completed_at": completed_at,
        "created_at": CREATED,
        "updated_at": 1716000000,
        "is_archived": 0,
        "is_deleted": 0,
    }
    return {**item, **extra}


PAGES = {
    "0": [
        task("t1", "WEB-1", "上线验收", "completed", MAY_10_15H, 1, MAY_9),
        task("t2", "WEB-2", "二期交付", "in_progress", JUNE_30),
        task("t3", "APP-3", "no due date", "pending", None),
    ],
    "1": [],  # a server may answer an empty page mid-sweep: the sweep ends there
}


def tasks(request: Seen) -> Reply:
    index = request.arg("page_index") or "0"
    total = 6  # more than the first page holds: the empty second page ends the sweep
    return Reply(
        json={"page_size": 3, "page_index": int(index), "total": total, "values": PAGES[index]}
    )


def paged(request: Seen) -> Reply:
    """Three pages of two: an unmapped project, a task missing a field, a deleted one."""
    index = int(request.arg("page_index") or "0")
    values = [
        [task("a1", "WEB-11", "one", "pending", JUNE_30), task("a2", "APP-12", "two", "pending",
                                                                     JUNE_30)],
        [task("a3", "HBR-13", "unmapped", "pending", JUNE_30),
         {"id": "a4", "title": "no identifier", "project": {"identifier": "WEB"},
          "due": {"date": JUNE_30, "with_time": 0}}],
        [task("a5", "WEB-15", "deleted", "pending", JUNE_30, is_deleted=1)],
    ][index]  # fmt: skip
    return Reply(json={"page_index": index, "page_size": 2, "total": 5, "values": values})


def types(request: Seen) -> Reply:
    values = [
        {"id": "5f6b1c2d3e4f5a6b7c8d9e01", "name": "任务"},
        {"id": MILESTONE_TYPE, "name": "里程碑"},
    ]
    return Reply(json={"page_index": 0, "page_size": 30, "total": 2, "values": values})


def token_reply(token: str = "tt-1", expires_in: int = 7200) -> Reply:
    return Reply(json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


EXPECTED = [
    StoredSignal(
        event_id="worktile:task:t1", client="acme", kind="milestone",
        ts=datetime.fromtimestamp(MAY_10_15H, UTC), end=datetime.fromtimestamp(MAY_9, UTC),
        attrs={"name": "WEB-1 上线验收", "project": "WEB"}, source="worktile",
        recorded_at=datetime.fromtimestamp(CREATED, UTC),
    ),
    StoredSignal(
        # 2024-06-30 picked in Shanghai, for a client in Shanghai: due at the next midnight there
        event_id="worktile:task:t2", client="acme", kind="milestone",
        ts=datetime(2024, 6, 30, 16, tzinfo=UTC), end=None,
        attrs={"name": "WEB-2 二期交付", "project": "WEB"}, source="worktile",
        recorded_at=datetime.fromtimestamp(CREATED, UTC),
    ),
]  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add(TOKEN_PATH, token_reply())
        server.add(TASKS_PATH, tasks)
        for project in ("p-WEB", "p-APP"):
            server.add(TYPES_PATH.format(project_id=project), types)
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **overrides: object) -> WorktileCollector:
    settings = {
        "base_url": api.url,
        "client_id": "wt-app-1",
        "token_env": "WORKTILE_SECRET",
        "project_ids": ["p-WEB", "p-APP"],
        "page_size": 3,
    }
    return WorktileCollector(WorktileConfig.model_validate({**settings, **overrides}))


def harness(client: httpx.Client, zone: str = "Asia/Shanghai"):
    run = fetch_context(client, PROJECTS, "worktile_project", {"WORKTILE_SECRET": "s3cret"})
    registry = [
        Client(id=c, name=c, attrs={"worktile_project": p}, timezone=zone) for p, c in PROJECTS
    ]
    run.context.clients = ClientMap(registry, "worktile_project")
    return run


def test_milestone_tasks_become_exact_signals_with_one_tenant_token(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api), None, run.context)
    assert signals == EXPECTED
    assert cursor == {"since": int(NOW.timestamp()) - 3600, "sweep": None, "page": 0}
    (token,) = api.seen(TOKEN_PATH)
    assert (token.arg("grant_type"), token.arg("client_id"), token.arg("client_secret")) == (
        "client_credentials",
        "wt-app-1",
        "s3cret",
    )
    page, empty = api.seen(TASKS_PATH)
    assert (page.arg("page_index"), empty.arg("page_index")) == ("0", "1")
    # "milestone" (the default) is found by name: 里程碑's id in each project's task types
    assert page.arg("type_ids") == MILESTONE_TYPE and page.arg("project_ids") == "p-WEB,p-APP"
    assert page.headers["authorization"] == "Bearer tt-1" and page.arg("updated_between") is None


def test_several_pages_are_read_to_the_end_and_an_empty_page_ends_the_sweep(api, client):
    api.add(TASKS_PATH, paged)
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert [s.event_id for s in signals] == ["worktile:task:a1", "worktile:task:a2"]
    assert [r.arg("page_index") for r in api.seen(TASKS_PATH)] == ["0", "1", "2"]
    api.add(TASKS_PATH, Reply(json={"page_index": 0, "page_size": 3, "total": 9, "values": []}))
    signals, cursor = drain(collector(api), None, harness(client).context)
    assert signals == [] and cursor["page"] == 0


def test_a_task_missing_a_field_is_skipped_and_an_unmapped_project_counted(api, client):
    api.add(TASKS_PATH, paged)
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.skipped == ["worktile:task:a4: missing field 'identifier'"]
    assert run.unmapped == {"hbr": 1}


@pytest.mark.parametrize(
    ("timezone", "zone", "due"),
    [
        pytest.param(None, "Asia/Shanghai", datetime(2024, 6, 30, 16, tzinfo=UTC),
                     id="a day is read in the client's zone and due at its end there"),
        pytest.param(None, "UTC", datetime(2024, 6, 30, tzinfo=UTC),
                     id="read in UTC the same instant is still June 29, due at its end"),
        pytest.param("Asia/Shanghai", "UTC", datetime(2024, 7, 1, tzinfo=UTC),
                     id="a configured team zone reads the day the PM picked"),
    ],
)  # fmt: skip
def test_a_day_only_due_date_is_the_day_in_the_projects_time_zone(api, client, timezone, zone, due):
    signals, _ = drain(collector(api, timezone=timezone), None, harness(client, zone).context)
    assert signals[1].ts == due


def test_the_next_sweep_asks_only_for_tasks_updated_since(api, client):
    since = int(NOW.timestamp()) - 3600
    drain(collector(api), {"since": since, "sweep": None, "page": 0}, harness(client).context)
    assert api.seen(TASKS_PATH)[0].arg("updated_between") == f"{since},"


def test_a_rejected_token_is_renewed_once(api, client):
    api.fail_next(TASKS_PATH, Reply(status=401, json={"code": "100001", "message": "invalid"}))
    api.fail_next(TOKEN_PATH, token_reply("tt-old"), token_reply("tt-new"))
    signals, _ = drain(collector(api), None, harness(client).context)
    assert signals == EXPECTED
    assert api.seen(TASKS_PATH)[1].headers["authorization"] == "Bearer tt-new"


def test_a_token_refused_twice_is_one_clear_line(api, client):
    api.add(TASKS_PATH, Reply(status=401, json={"code": "100001", "message": "token invalid"}))
    with pytest.raises(CollectorError) as caught:
        collector(api).fetch(None, harness(client).context)
    assert "refused a freshly issued tenant token (HTTP 401)" in caught.value.reason
    assert "\n" not in str(caught.value)


def test_a_wrong_client_secret_is_one_line_without_the_secret(api, client):
    api.add(TOKEN_PATH, Reply(status=401, json={"code": "100002", "message": "invalid client"}))
    with pytest.raises(CollectorError, match=r"auth/token: HTTP 401: .*invalid client") as caught:
        collector(api).fetch(None, harness(client).context)
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "header", ["Retry-After", "x-pc-retry-after"], ids=["standard", "the vendor's own header"]
)
def test_429_waits_the_seconds_the_server_asks(api, client, header):
    api.fail_next(
        TASKS_PATH, Reply(status=429, json={"code": "100038", "message": "请求频率过高"},
                          headers={header: "4"}),
    )  # fmt: skip
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and run.sleeps == [4.0]


def test_a_500_is_retried(api, client):
    api.fail_next(TASKS_PATH, Reply(status=500, json={"code": "500", "message": "error"}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_a_timeout_is_retried(api):
    api.fail_next(TASKS_PATH, Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch(api, client):
    api.fail_next(TASKS_PATH, Reply(body=b'{"values": [], "total": 0'))
    with pytest.raises(CollectorError, match="malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_a_page_without_total_fails_the_fetch(api, client):
    api.fail_next(TASKS_PATH, Reply(json={"values": []}))
    with pytest.raises(CollectorError, match="'total' is not a number"):
        collector(api).fetch(None, harness(client).context)


def test_a_type_name_no_project_has_requests_nothing_and_warns(api, client):
    run = harness(client)
    signals, _ = drain(collector(api, type_ids=["交付物"]), None, run.context)
    assert signals == [] and api.seen(TASKS_PATH) == []
    assert run.context.warnings == [
        "type_ids entry '交付物' is neither the id nor the name of a task type of projects "
        "p-WEB, p-APP"
    ]


def test_a_cursor_from_elsewhere_is_refused(api, client):
    with pytest.raises(CollectorError, match="was not written by this collector"):
        collector(api).fetch({"after": "x"}, harness(client).context)
