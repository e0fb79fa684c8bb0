"""The github collector against a loopback server serving GitHub's documented milestones list
(JSON array pages linked by the ``Link`` header) and its rate-limit answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fakeapi import (
    NOW,
    FakeAPI,
    Reply,
    Seen,
    drain,
    fetch_context,
    http_date,
)

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.github import GithubCollector, GithubConfig
from rapport.signals.collectors.http import make_http_client
from rapport.signals.model import StoredSignal

REPOS = [("acme/portal", "acme"), ("globex/site", "globex")]


def milestone(number: int, title: str, state: str, due: str | None, closed: str | None) -> dict:
    """A milestone as GitHub's REST API documents it."""
    return {
        "url": f"https://api.github.com/repos/acme/portal/milestones/{number}",
        "html_url": f"https://github.com/acme/portal/milestone/{number}",
        "id": 1002600 + number,
        "node_id": "MDk6TWlsZXN0b25lMTAwMjYwNA==",
        "number": number,
        "state": state,
        "title": title,
        "description": "Tracking milestone",
        "creator": {"login": "octocat", "id": 1},
        "open_issues": 4,
        "closed_issues": 8,
        "created_at": "2024-01-10T16:00:00Z",
        "updated_at": "2024-05-10T16:00:00Z",
        "closed_at": closed,
        "due_on": due,
    }


PORTAL_1 = [
    milestone(1, "v1.0", "closed", "2024-03-01T07:00:00Z", "2024-03-04T15:30:00Z"),
    milestone(2, "v1.1", "open", "2024-05-15T07:00:00Z", None),
]
PORTAL_2 = [
    milestone(3, "Someday", "open", None, None),
    {"id": 1002604, "number": 4, "title": "v2.0", "due_on": "2024-09-01T07:00:00Z"},
    milestone(5, "v1.2", "closed", "2024-06-30T07:00:00Z", "2024-06-20T09:00:00Z"),
]
INITECH = [milestone(9, "TPS", "open", "2024-07-01T07:00:00Z", None)]


def expected(number: int, client: str, due: datetime, end: datetime | None, title: str, repo: str):
    return StoredSignal(
        event_id=f"github:milestone:{1002600 + number}", client=client, kind="milestone", ts=due,
        end=end, attrs={"name": title, "project": repo}, source="github",
        recorded_at=datetime(2024, 1, 10, 16, tzinfo=UTC),  # the milestone's created_at
    )  # fmt: skip


# GitHub keeps a due date as a day at a fixed hour (07:00Z): due at the end of that day in the
# client's zone (UTC here), the next midnight.
MARCH_1, MARCH_4 = datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 4, 15, 30, tzinfo=UTC)
JUNE_30, JUNE_20 = datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 6, 20, 9, tzinfo=UTC)
EXPECTED = [
    expected(1, "acme", MARCH_1, MARCH_4, "v1.0", "acme/portal"),
    expected(2, "acme", datetime(2024, 5, 16, tzinfo=UTC), None, "v1.1", "acme/portal"),
    expected(5, "acme", JUNE_30, JUNE_20, "v1.2", "acme/portal"),
]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:

        def portal(request: Seen) -> Reply:
            if request.arg("page") == "2":
                return Reply(json=PORTAL_2)
            link = (
                f"<{server.url}/repos/acme/portal/milestones?state=all&per_page=100&page=2>; "
                f'rel="next", <{server.url}/repos/acme/portal/milestones?page=2>; rel="last"'
            )
            return Reply(json=PORTAL_1, headers={"Link": link})

        server.add("/repos/acme/portal/milestones", portal)
        server.add("/repos/globex/site/milestones", Reply(json=[]))
        server.add("/repos/initech/tps/milestones", Reply(json=INITECH))
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, repos=("acme/portal", "globex/site", "initech/tps")) -> GithubCollector:
    config = {"base_url": api.url, "token_env": "GITHUB_TOKEN", "repos": list(repos)}
    return GithubCollector(GithubConfig.model_validate(config))


def harness(client: httpx.Client):
    return fetch_context(client, REPOS, "github_repo", {"GITHUB_TOKEN": "ghp_test"})


def test_every_repo_and_page_becomes_exact_signals_and_a_finished_run_saves_no_cursor(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api), None, run.context)
    assert signals == EXPECTED
    assert cursor is None
    first, second = api.seen("/repos/acme/portal/milestones")
    assert (first.arg("state"), first.arg("per_page"), first.arg("page")) == ("all", "100", None)
    assert second.arg("page") == "2"
    assert first.headers["authorization"] == "Bearer ghp_test"
    assert first.headers["accept"] == "application/vnd.github+json"
    assert len(api.seen("/repos/globex/site/milestones")) == 1


def test_a_milestone_missing_a_field_is_skipped_and_one_without_due_date_makes_no_signal(
    api, client
):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.skipped == ["github:acme/portal:milestone:4: missing field 'state'"]


def test_an_unmapped_repository_is_counted(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.unmapped == {"initech/tps": 1}


def test_the_cursor_walks_page_by_page_and_a_run_resumes_where_it_stopped(api, client):
    run = harness(client)
    source = collector(api)
    first = source.fetch(None, run.context)
    assert first.more and first.cursor == {
        "repo": "acme/portal",
        "next": f"{api.url}/repos/acme/portal/milestones?state=all&per_page=100&page=2",
    }
    resumed, cursor = drain(source, {"repo": "globex/site", "next": None}, run.context)
    assert (resumed, cursor) == ([], None)
    assert len(api.seen("/repos/acme/portal/milestones")) == 1


def test_a_primary_rate_limit_waits_until_the_reset_time(api, client):
    reset = str(int((NOW + timedelta(seconds=90)).timestamp()))
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset, "Date": http_date(NOW)}
    api.fail_next(
        "/repos/acme/portal/milestones",
        Reply(status=403, json={"message": "API rate limit exceeded"}, headers=headers),
    )
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and run.sleeps == [90.0]


def test_a_secondary_rate_limit_429_honours_retry_after(api, client):
    api.fail_next(
        "/repos/globex/site/milestones",
        Reply(status=429, json={"message": "secondary rate limit"}, headers={"Retry-After": "60"}),
    )
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and run.sleeps == [60.0]


def test_a_500_is_retried(api, client):
    api.fail_next(
        "/repos/acme/portal/milestones", Reply(status=502, json={"message": "Bad gateway"})
    )
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_a_timeout_is_retried(api):
    api.fail_next("/repos/acme/portal/milestones", Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch(api, client):
    api.fail_next("/repos/acme/portal/milestones", Reply(body=b"[{]"))
    with pytest.raises(CollectorError, match="malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_a_next_link_to_another_host_is_refused(api, client):
    api.fail_next(
        "/repos/acme/portal/milestones",
        Reply(json=[], headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'}),
    )
    with pytest.raises(CollectorError, match="leaves base_url"):
        collector(api).fetch(None, harness(client).context)


def test_a_missing_repository_fails_the_fetch_with_the_status(api, client):
    with pytest.raises(CollectorError, match=r"HTTP 404"):
        collector(api, repos=["nobody/nothing"]).fetch(None, harness(client).context)
