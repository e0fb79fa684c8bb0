"""The HTTP collector base against a real loopback server: each provider's ``auth`` hook puts its
credentials on the wire as the provider documents, and no error message or repr shows them."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fakeapi import FakeAPI, Reply, fetch_context

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.github import GithubCollector, GithubConfig
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.http_collector import Credentials, basic, bearer
from rapport.signals.collectors.http_json import HttpJsonCollector, HttpJsonConfig
from rapport.signals.collectors.hubspot import DEALS_PATH, HubSpotCollector, HubSpotConfig
from rapport.signals.collectors.jira import JiraCollector, JiraConfig
from rapport.signals.collectors.pagerduty import PagerDutyCollector, PagerDutyConfig
from rapport.signals.collectors.pingcode import (
    ITEMS_PATH,
    TOKEN_PATH,
    PingCodeCollector,
    PingCodeConfig,
)
from rapport.signals.collectors.prometheus import PrometheusCollector, PrometheusConfig
from rapport.signals.collectors.worktile import WorktileCollector, WorktileConfig
from rapport.signals.collectors.zendesk import ZendeskCollector, ZendeskConfig

SECRET = "s3cret-value"
ISSUED = "issued-s3cret"  # the token PingCode's token endpoint hands out
EMAIL = "pm@acme.example"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _http_json(url: str) -> HttpJsonCollector:
    fields = {"ts": "t", "value": "v"}
    return HttpJsonCollector(
        HttpJsonConfig(
            base_url=url, token_env="T", kind="response_time", event_id="id", client="c",
            fields=fields, auth_header="X-Api-Key", auth_scheme="",
        )
    )  # fmt: skip


#: (provider, collector on the server's URL, the request path that carries the credentials,
#:  the header, its value)
PROVIDERS: list[tuple[str, Callable[[str], Any], str, str, str]] = [
    (
        "zendesk sends basic {email}/token : token",
        lambda url: ZendeskCollector(ZendeskConfig(base_url=url, email=EMAIL, token_env="T")),
        "/api/v2/incremental/tickets/cursor.json",
        "authorization",
        _basic(f"{EMAIL}/token", SECRET),
    ),
    (
        "jira cloud sends basic email : token",
        lambda url: JiraCollector(
            JiraConfig(base_url=url, email=EMAIL, token_env="T", projects=["ACME"])
        ),
        "/rest/api/3/project/ACME/version",
        "authorization",
        _basic(EMAIL, SECRET),
    ),
    (
        "jira data center sends a bearer token",
        lambda url: JiraCollector(JiraConfig(base_url=url, token_env="T", projects=["ACME"])),
        "/rest/api/3/project/ACME/version",
        "authorization",
        f"Bearer {SECRET}",
    ),
    (
        "github sends a bearer token",
        lambda url: GithubCollector(GithubConfig(base_url=url, token_env="T", repos=["a/b"])),
        "/repos/a/b/milestones",
        "authorization",
        f"Bearer {SECRET}",
    ),
    (
        "pagerduty sends its token scheme",
        lambda url: PagerDutyCollector(PagerDutyConfig(base_url=url, token_env="T")),
        "/incidents",
        "authorization",
        f"Token token={SECRET}",
    ),
    (
        "pingcode sends the token it obtained with the client secret",
        lambda url: PingCodeCollector(
            PingCodeConfig(base_url=url, token_env="T", client_id="cid", project_ids=["p"])
        ),
        ITEMS_PATH,
        "authorization",
        f"Bearer {ISSUED}",
    ),
    (
        "worktile sends the tenant token it obtained with the client secret",
        lambda url: WorktileCollector(
            WorktileConfig(base_url=url, token_env="T", client_id="cid", project_ids=["p"])
        ),
        "/v1/mission/projects/p/task_types",
        "authorization",
        f"Bearer {ISSUED}",
    ),
    (
        "hubspot sends the private app token as a bearer token",
        lambda url: HubSpotCollector(HubSpotConfig(base_url=url, token_env="T")),
        DEALS_PATH,
        "authorization",
        f"Bearer {SECRET}",
    ),
    (
        "prometheus sends its optional bearer token",
        lambda url: PrometheusCollector(
            PrometheusConfig(base_url=url, token_env="T", query="up", kind="uptime")
        ),
        "/api/v1/query",
        "authorization",
        f"Bearer {SECRET}",
    ),
    (
        "http_json sends the token in its configured header and scheme",
        _http_json,
        "",
        "x-api-key",
        SECRET,
    ),
]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add(TOKEN_PATH, Reply(json={"access_token": ISSUED, "expires_in": 3600}))
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=5.0) as http:
        yield http


@pytest.mark.parametrize(
    ("build", "path", "header", "value"),
    [pytest.param(b, p, h, v, id=name) for name, b, p, h, v in PROVIDERS],
)
def test_the_auth_hook_reaches_the_server_and_no_error_message_shows_the_secret(
    api, client, build, path, header, value
):
    # The server refuses (401 is never retried): the run fails, and its message must not leak.
    target = path or "/"
    api.fail_next(target, Reply(status=401, json={"error": "Couldn't authenticate you"}))
    harness = fetch_context(client, secrets={"T": SECRET})
    with pytest.raises(CollectorError) as raised:
        build(api.url).fetch(None, harness.context)
    sent = next(seen for seen in api.seen() if seen.path == target)
    assert sent.headers[header] == value
    for secret in (SECRET, ISSUED, value):
        assert secret not in str(raised.value)
        assert secret not in repr(raised.value)


def test_pingcode_sends_the_client_secret_only_to_the_token_endpoint_and_never_shows_it(
    api, client
):
    api.fail_next(TOKEN_PATH, Reply(status=500), Reply(status=500), Reply(status=500))
    collector = PingCodeCollector(
        PingCodeConfig(
            base_url=api.url, token_env="T", client_id="cid", project_ids=["p"], retries=2
        )
    )
    harness = fetch_context(client, secrets={"T": SECRET})
    with pytest.raises(CollectorError) as raised:
        collector.fetch(None, harness.context)
    assert {seen.arg("client_secret") for seen in api.seen(TOKEN_PATH)} == {SECRET}
    assert api.seen(ITEMS_PATH) == []
    assert "gave up after 3 attempts" in str(raised.value)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(bearer(SECRET), id="a bearer token is hidden from repr"),
        pytest.param(basic(EMAIL, SECRET), id="basic credentials are hidden from repr"),
        pytest.param(Credentials(headers={"X-Key": SECRET}), id="a custom header is hidden"),
    ],
)
def test_credentials_never_show_their_secret(credentials):
    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials)


def test_without_a_token_the_optional_bearer_sends_nothing():
    assert bearer(None) == Credentials()
    assert bearer("t", scheme="").headers == {"Authorization": "t"}
