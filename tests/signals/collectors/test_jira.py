"""The jira collector against a loopback server serving Jira Cloud's documented paginated project
versions and enhanced JQL search."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fakeapi import FakeAPI, Reply, Seen, drain, fetch_context

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.jira import SEARCH, JiraCollector, JiraConfig
from rapport.signals.model import StoredSignal

PROJECTS = [("ACME", "acme"), ("GLOBEX", "globex")]


def version(version_id: str, name: str, released: bool, release: str | None, **extra) -> dict:
    """A version as Jira's "Get project versions paginated" documents it."""
    item = {
        "self": f"https://acme.atlassian.net/rest/api/3/version/{version_id}",
        "id": version_id,
        "name": name,
        "archived": False,
        "released": released,
        "projectId": 10000,
        "overdue": False,
    }
    if release is not None:
        item["releaseDate"] = release
    return {**item, **extra}


def versions_page(values: list, start: int, last: bool) -> Reply:
    return Reply(
        json={
            "self": "https://acme.atlassian.net/rest/api/3/project/ACME/version",
            "maxResults": 2,
            "startAt": start,
            "total": 5,
            "isLast": last,
            "values": values,
        }
    )


def acme_versions(request: Seen) -> Reply:
    if request.arg("startAt") == "0":
        return versions_page(
            [
                version("10001", "1.0", True, "2024-03-01"),
                version("10002", "1.1", False, "2024-05-15"),
            ],
            0,
            last=False,
        )
    return versions_page(
        [
            version("10003", "2.0", False, None),
            version("10004", "0.9", True, "2023-12-01", archived=True),
            {"id": "10005", "released": False, "releaseDate": "2024-07-01"},
            version("10006", "1.2", False, None, userReleaseDate="20/Jun/2024"),
        ],
        2,
        last=True,
    )


def day_end(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day + 1, tzinfo=UTC)


def milestone(
    event: str, client: str, due: datetime, end: datetime | None, name: str, project: str
):
    return StoredSignal(
        event_id=event, client=client, kind="milestone", ts=due, end=end,
        attrs={"name": name, "project": project}, source="jira",
    )  # fmt: skip


VERSIONS = [
    milestone(
        "jira:version:10001", "acme", day_end(2024, 3, 1), day_end(2024, 3, 1), "1.0", "ACME"
    ),
    milestone("jira:version:10002", "acme", day_end(2024, 5, 15), None, "1.1", "ACME"),
    milestone("jira:version:10006", "acme", day_end(2024, 6, 20), None, "1.2", "ACME"),
]


def issue(issue_id: str, key: str, due: str | None, resolved: str | None, summary: str) -> dict:
    """An issue as the enhanced JQL search returns it with the fields we ask for."""
    project = key.split("-", maxsplit=1)[0]
    return {
        "expand": "",
        "id": issue_id,
        "self": f"https://acme.atlassian.net/rest/api/3/issue/{issue_id}",
        "key": key,
        "fields": {
            "summary": summary,
            "duedate": due,
            "resolutiondate": resolved,
            "project": {"id": "10000", "key": project, "name": project.title()},
        },
    }


def search(request: Seen) -> Reply:
    if request.arg("nextPageToken") is None:
        return Reply(
            json={
                "issues": [
                    issue(
                        "20001", "ACME-1", "2024-05-10", "2024-05-09T16:00:00.000+0000", "Go live"
                    ),
                    issue("20002", "GLOBEX-7", "2024-06-01", None, "Data migration"),
                    issue("20003", "INITECH-3", "2024-06-02", None, "TPS reports"),
                    issue("20004", "ACME-2", "next week", None, "Fuzzy"),
                ],
                "nextPageToken": "t2",
                "isLast": False,
            }
        )
    return Reply(json={"issues": [], "isLast": True})


ISSUES = [
    milestone("jira:issue:20001", "acme", day_end(2024, 5, 10),
              datetime(2024, 5, 9, 16, tzinfo=UTC), "ACME-1 Go live", "ACME"),
    milestone("jira:issue:20002", "globex", datetime(2024, 6, 2, tzinfo=UTC), None,
              "GLOBEX-7 Data migration", "GLOBEX"),
]  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add("/rest/api/3/project/ACME/version", acme_versions)
        server.add("/rest/api/3/project/GLOBEX/version", versions_page([], 0, last=True))
        server.add(
            "/rest/api/3/project/INITECH/version",
            versions_page([version("30001", "TPS 1", False, "2024-08-01")], 0, last=True),
        )
        server.add(SEARCH, search)
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **overrides: object) -> JiraCollector:
    settings = {
        "base_url": api.url,
        "email": "pm@acme.test",
        "token_env": "JIRA_TOKEN",
        "projects": ["ACME", "GLOBEX", "INITECH"],
        "page_size": 2,
    }
    return JiraCollector(JiraConfig.model_validate({**settings, **overrides}))


def harness(client: httpx.Client):
    return fetch_context(client, PROJECTS, "jira_project", {"JIRA_TOKEN": "atl-token"})


def test_versions_of_every_project_become_exact_milestones(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api), None, run.context)
    assert signals == VERSIONS
    assert cursor is None
    first, second = api.seen("/rest/api/3/project/ACME/version")
    assert (first.arg("startAt"), second.arg("startAt"), first.arg("maxResults")) == ("0", "2", "2")
    token = base64.b64encode(b"pm@acme.test:atl-token").decode()
    assert first.headers["authorization"] == f"Basic {token}"


def test_a_version_missing_its_name_is_skipped_and_the_unmapped_project_counted(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.skipped == ["jira:ACME:version:10005: missing field 'name'"]
    assert run.unmapped == {"initech": 1}


def test_archived_versions_are_read_when_asked(api, client):
    signals, _ = drain(collector(api, include_archived=True), None, harness(client).context)
    archived = milestone(
        "jira:version:10004", "acme", day_end(2023, 12, 1), day_end(2023, 12, 1), "0.9", "ACME"
    )
    assert archived in signals


def test_a_versions_run_resumes_at_the_saved_project_and_offset(api, client):
    signals, _ = drain(collector(api), {"project": "ACME", "start_at": 2}, harness(client).context)
    assert [s.event_id for s in signals] == ["jira:version:10006"]
    assert [r.arg("startAt") for r in api.seen("/rest/api/3/project/ACME/version")] == ["2"]


def test_issues_with_due_dates_become_milestones_and_the_cursor_remembers_the_sweep(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api, source="issues"), None, run.context)
    assert signals == ISSUES
    assert run.context.skipped == [
        "jira:issue:20004: field 'fields.duedate' is 'next week', expected YYYY-MM-DD"
    ]
    assert run.unmapped == {"initech": 1}
    assert cursor == {"since": "2024-05-31T12:00:00+00:00", "sweep": None, "token": None}
    first, second = api.seen(SEARCH)
    assert first.arg("jql") == ('project in ("ACME", "GLOBEX", "INITECH") AND duedate is not EMPTY')
    assert first.arg("fields") == "summary,duedate,resolutiondate,project"
    assert second.arg("nextPageToken") == "t2"


def test_the_next_issue_sweep_asks_only_for_issues_updated_since_the_last(api, client):
    saved = {"since": "2024-05-31T12:00:00+00:00", "sweep": None, "token": None}
    drain(
        collector(api, source="issues", jql="issuetype = Milestone"), saved, harness(client).context
    )
    assert api.seen(SEARCH)[0].arg("jql") == (
        'project in ("ACME", "GLOBEX", "INITECH") AND duedate is not EMPTY'
        ' AND updated >= "2024/05/31 12:00" AND (issuetype = Milestone)'
    )


def test_without_an_email_the_token_is_sent_as_a_bearer_token(api, client):
    drain(collector(api, email=None), None, harness(client).context)
    assert api.seen()[0].headers["authorization"] == "Bearer atl-token"


def test_429_with_retry_after_is_honoured(api, client):
    api.fail_next(
        "/rest/api/3/project/ACME/version",
        Reply(
            status=429,
            json={"errorMessages": ["Rate limit exceeded"]},
            headers={"Retry-After": "3"},
        ),
    )
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == VERSIONS and run.sleeps == [3.0]


def test_a_500_is_retried(api, client):
    api.fail_next(SEARCH, Reply(status=500, json={"errorMessages": ["Internal server error"]}))
    run = harness(client)
    signals, _ = drain(collector(api, source="issues"), None, run.context)
    assert signals == ISSUES and len(run.sleeps) == 1


def test_a_timeout_is_retried(api):
    api.fail_next("/rest/api/3/project/GLOBEX/version", Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == VERSIONS and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch(api, client):
    api.fail_next(SEARCH, Reply(body=b'{"issues": [}'))
    with pytest.raises(CollectorError, match="malformed JSON"):
        collector(api, source="issues").fetch(None, harness(client).context)


@pytest.mark.parametrize(
    "cursor",
    [{"project": "ACME"}, {"since": "yesterday", "sweep": None, "token": None}],
    ids=[
        "a versions cursor without an offset is refused",
        "an issues cursor with a bad time is refused",
    ],
)
def test_a_foreign_cursor_is_refused(api, client, cursor):
    source = "versions" if "project" in cursor else "issues"
    with pytest.raises(CollectorError, match="was not written by this collector"):
        collector(api, source=source).fetch(cursor, harness(client).context)
