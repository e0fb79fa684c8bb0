"""The pingcode collector against a loopback server serving PingCode's documented enterprise
token and work-item list (page_index / page_size / total / values)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from fakeapi import NOW, FakeAPI, Reply, Seen, drain, fetch_context

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.pingcode import (
    ITEMS_PATH,
    TOKEN_PATH,
    TYPES_PATH,
    PingCodeCollector,
    PingCodeConfig,
    _due,
)
from rapport.signals.model import StoredSignal, end_of_day

PROJECTS = [("SCR", "acme"), ("WTF", "globex")]
MAY_10 = int(datetime(2024, 5, 10, 15, 59, 59, tzinfo=UTC).timestamp())
MAY_9 = int(datetime(2024, 5, 9, 8, tzinfo=UTC).timestamp())
JUNE_30 = int(datetime(2024, 6, 30, 15, 59, 59, tzinfo=UTC).timestamp())


def work_item(item_id: str, identifier: str, title: str, state: str, end_at: int | None,
              completed_at: int | None, **extra: object) -> dict:  # fmt: skip
    """A work item as PingCode's 获取工作项列表 documents it (fields we read, and some not)."""
    project = identifier.split("-", maxsplit=1)[0]
    item = {
        "id": item_id,
        "url": f"https://rest_api_root/v1/project/work_items/{item_id}",
        "project": {
            "id": f"p-{project}",
            "identifier": project,
            "name": f"{project}项目",
            "type": "waterfall",
            "is_archived": 0,
            "is_deleted": 0,
        },
        "identifier": identifier,
        "title": title,
        "type": "milestone",
        "start_at": None,
        "end_at": end_at,
        "state": {"id": "s1", "name": state, "type": state},
        "completed_at": completed_at,
        "created_at": 1700000000,
        "updated_at": 1716000000,
        "is_archived": 0,
        "is_deleted": 0,
    }
    return {**item, **extra}


PAGES = {
    "0": [
        work_item("w1", "SCR-1", "上线验收", "completed", MAY_10, MAY_9),
        work_item("w2", "SCR-2", "二期交付", "in_progress", JUNE_30, None),
        work_item("w3", "WTF-3", "需求评审", "pending", None, None),
    ],
    "1": [
        work_item("w4", "HBR-4", "Hybrid milestone", "pending", JUNE_30, None),
        {"id": "w5", "title": "no identifier", "project": {"identifier": "SCR"}, "end_at": MAY_10},
        work_item("w6", "SCR-6", "已删除", "pending", JUNE_30, None, is_deleted=1),
    ],
    "2": [],
}  # fmt: skip


def items(request: Seen) -> Reply:
    index = request.arg("page_index") or "0"
    return Reply(
        json={"page_size": 3, "page_index": int(index), "total": 7, "values": PAGES[index]}
    )


MILESTONE_TYPE = "5eb623f6a70571487ea47111"  # a waterfall project's 里程碑 type: a hex id


def types(request: Seen) -> Reply:
    """获取工作项类型列表 for one project, as documented (system types, one custom type)."""
    values = [
        {"id": "epic", "name": "史诗", "group": "requirement"},
        {"id": "task", "name": "任务", "group": "task"},
        {"id": MILESTONE_TYPE, "name": "里程碑", "group": "requirement"},
        {"id": "64a1b2c3d4e5f60718293a4b", "name": "交付物", "group": "requirement"},
    ]
    return Reply(json={"page_size": 30, "page_index": 0, "total": len(values), "values": values})


def token_reply(token: str = "tok-1", expires_in: int = 2592000) -> Reply:
    return Reply(json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def milestone(item_id: str, client: str, due: int, done: int | None, name: str, project: str):
    return StoredSignal(
        event_id=f"pingcode:work_item:{item_id}", client=client, kind="milestone",
        ts=datetime.fromtimestamp(due, UTC),
        end=datetime.fromtimestamp(done, UTC) if done is not None else None,
        attrs={"name": name, "project": project}, source="pingcode",
        recorded_at=datetime.fromtimestamp(1700000000, UTC),  # the work item's created_at
    )  # fmt: skip


EXPECTED = [
    milestone("w1", "acme", MAY_10, MAY_9, "SCR-1 上线验收", "SCR"),
    milestone("w2", "acme", JUNE_30, None, "SCR-2 二期交付", "SCR"),
]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add(TOKEN_PATH, token_reply())
        server.add(ITEMS_PATH, items)
        server.add(TYPES_PATH, types)
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **overrides: object) -> PingCodeCollector:
    settings = {
        "base_url": api.url,
        "client_id": "CVMTTGAwaYiz",
        "token_env": "PINGCODE_SECRET",
        "project_ids": ["p-SCR", "p-WTF", "p-HBR"],
        "type_ids": ["milestone"],
        "page_size": 3,
    }
    return PingCodeCollector(PingCodeConfig.model_validate({**settings, **overrides}))


def harness(client: httpx.Client):
    return fetch_context(client, PROJECTS, "pingcode_project", {"PINGCODE_SECRET": "s3cret"})


def test_work_item_pages_become_exact_milestones_with_one_token_for_the_run(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api), None, run.context)
    assert signals == EXPECTED
    assert cursor == {"since": int(NOW.timestamp()) - 3600, "sweep": None, "page": 0}
    (token,) = api.seen(TOKEN_PATH)
    assert (token.arg("grant_type"), token.arg("client_id"), token.arg("client_secret")) == (
        "client_credentials",
        "CVMTTGAwaYiz",
        "s3cret",
    )
    pages = api.seen(ITEMS_PATH)
    assert [p.arg("page_index") for p in pages] == ["0", "1", "2"]
    assert pages[0].arg("project_ids") == "p-SCR,p-WTF,p-HBR"
    # "milestone" is this connector's documented name of 里程碑: resolved to the type's id
    assert pages[0].arg("type_ids") == MILESTONE_TYPE and pages[0].arg("updated_between") is None
    assert {p.headers["authorization"] for p in pages} == {"Bearer tok-1"}


def test_a_work_item_missing_a_field_is_skipped_and_an_unmapped_project_counted(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.skipped == ["pingcode:work_item:w5: missing field 'identifier'"]
    assert run.unmapped == {"hbr": 1}


def test_the_next_sweep_asks_only_for_items_updated_since(api, client):
    since = int(NOW.timestamp()) - 3600
    drain(collector(api), {"since": since, "sweep": None, "page": 0}, harness(client).context)
    assert api.seen(ITEMS_PATH)[0].arg("updated_between") == f"{since},"


def test_a_rejected_token_is_renewed_once(api, client):
    api.fail_next(
        ITEMS_PATH, Reply(status=401, json={"code": "100001", "message": "token invalid"})
    )
    api.fail_next(TOKEN_PATH, token_reply("tok-old"), token_reply("tok-new"))
    signals, _ = drain(collector(api), None, harness(client).context)
    assert signals == EXPECTED
    assert api.seen(ITEMS_PATH)[1].headers["authorization"] == "Bearer tok-new"


def test_a_token_that_keeps_being_rejected_fails_the_fetch(api, client):
    api.add(ITEMS_PATH, Reply(status=401, json={"message": "token invalid"}))
    with pytest.raises(CollectorError, match="refused a freshly issued token"):
        collector(api).fetch(None, harness(client).context)
    assert len(api.seen(TOKEN_PATH)) == 2


def test_an_absolute_expires_in_already_past_means_a_new_token_per_page(api, client):
    # PingCode's own example: "expires_in": 1577808000, which is a moment in 2020
    api.add(TOKEN_PATH, token_reply(expires_in=1577808000))
    drain(collector(api), None, harness(client).context)
    assert len(api.seen(TOKEN_PATH)) == 3


def test_a_wrong_client_secret_fails_the_fetch_without_leaking_it(api, client):
    api.add(TOKEN_PATH, Reply(status=400, json={"message": "invalid client"}))
    with pytest.raises(CollectorError, match="HTTP 400") as caught:
        collector(api).fetch(None, harness(client).context)
    assert "s3cret" not in str(caught.value)


def test_429_with_retry_after_is_honoured(api, client):
    api.fail_next(
        ITEMS_PATH, Reply(status=429, json={"message": "too many"}, headers={"Retry-After": "2"})
    )
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and run.sleeps == [2.0]


def test_a_500_is_retried(api, client):
    api.fail_next(ITEMS_PATH, Reply(status=500, json={"message": "error"}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_a_timeout_is_retried(api):
    api.fail_next(ITEMS_PATH, Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch(api, client):
    api.fail_next(ITEMS_PATH, Reply(body=b'{"values": [], "total": 0'))
    with pytest.raises(CollectorError, match="malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_more_than_twenty_projects_is_a_config_error(api):
    with pytest.raises(ValueError, match="at most 20 items"):
        collector(api, project_ids=[f"p{i}" for i in range(21)])


def test_a_429_waits_the_seconds_of_x_pc_retry_after(api, client):
    # 概述 / 频率限制: a 429 with x-pc-retry-after, the seconds to wait before asking again
    body = {"code": "100038", "message": "请求频率过高"}
    api.fail_next(ITEMS_PATH, Reply(status=429, json=body, headers={"x-pc-retry-after": "5"}))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and run.sleeps == [5.0]


def capped(request: Seen) -> Reply:
    """A server that serves at most 2 items a page whatever page_size asks (34 items in all)."""
    index = int(request.arg("page_index") or "0")
    values = [
        work_item(f"c{n}", f"SCR-{n}", "capped", "pending", JUNE_30, None)
        for n in range(index * 2, min(index * 2 + 2, 34))
    ]
    return Reply(json={"page_index": index, "page_size": 2, "total": 34, "values": values})


def test_paging_follows_the_reply_when_the_server_caps_the_page_size(api, client):
    api.add(ITEMS_PATH, capped)
    signals, cursor = drain(collector(api, page_size=100), None, harness(client).context, 40)
    assert len(signals) == 34 and len({s.event_id for s in signals}) == 34
    assert [r.arg("page_index") for r in api.seen(ITEMS_PATH)] == [str(i) for i in range(17)]
    assert cursor["page"] == 0  # the sweep finished


@pytest.mark.parametrize(
    ("type_ids", "sent", "warnings"),
    [
        (["里程碑"], MILESTONE_TYPE, []),
        (["milestone"], MILESTONE_TYPE, []),
        ([MILESTONE_TYPE, "task"], f"{MILESTONE_TYPE},task", []),
        (
            ["里程碑", "deliverable"],
            MILESTONE_TYPE,
            ["type_ids entry 'deliverable' is neither the id nor the name of a work item type "
             "of projects p-SCR, p-WTF, p-HBR"],
        ),
    ],
    ids=[
        "a type name is resolved to its id through the types endpoint",
        "the documented example's milestone means 里程碑",
        "ids are sent as they are",
        "an entry matching no type is dropped with a warning",
    ],
)  # fmt: skip
def test_type_ids_accept_names_and_ids(api, client, type_ids, sent, warnings):
    run = harness(client)
    signals, _ = drain(collector(api, type_ids=type_ids), None, run.context)
    assert signals == EXPECTED
    assert {r.arg("type_ids") for r in api.seen(ITEMS_PATH)} == {sent}
    assert run.context.warnings == warnings
    assert [r.arg("project_id") for r in api.seen(TYPES_PATH)] == ["p-SCR", "p-WTF", "p-HBR"]


def test_a_type_filter_that_matches_nothing_requests_nothing_and_warns(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api, type_ids=["deliverable"]), None, run.context)
    assert signals == [] and api.seen(ITEMS_PATH) == []
    assert run.context.warnings and "'deliverable'" in run.context.warnings[0]
    assert cursor == {"since": int(NOW.timestamp()) - 3600, "sweep": None, "page": 0}


def test_a_first_sweep_that_finds_no_items_of_the_types_warns(api, client):
    api.add(ITEMS_PATH, Reply(json={"page_index": 0, "page_size": 3, "total": 0, "values": []}))
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.warnings == ["type_ids ['milestone'] matched no work items"]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        pytest.param(
            "Asia/Shanghai", datetime(2026, 6, 30, 16, tzinfo=UTC),
            id="23:59:59 in the client's zone is that day, due at the next midnight there",
        ),
        pytest.param(
            "UTC", datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC),
            id="the same instant for a client elsewhere stays that instant",
        ),
    ],
)  # fmt: skip
def test_an_end_date_lands_on_the_instant_a_pm_in_the_clients_zone_means(
    zone: str, expected: datetime
) -> None:
    end_at = datetime(2026, 6, 30, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    due = _due(end_at, ZoneInfo(zone))
    resolved = end_of_day(due, ZoneInfo(zone)) if not isinstance(due, datetime) else due
    assert resolved == expected
