"""The collector base and registry: a class declares itself once and is registered by it, a name
claimed twice fails at import with the named error, and every collector that checks its saved
cursor refuses a foreign one with the one ``BadCursorError``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeapi import fetch_context

import rapport.signals.collectors.builtin  # noqa: F401  (registers every built-in type)
from rapport.signals.collectors.base import (
    REGISTRY,
    BadCursorError,
    BaseCollector,
    ClientFacts,
    CollectorConfig,
    CollectorDefinitionError,
    CollectorError,
    DuplicateCollectorError,
    FetchContext,
    FetchResult,
    JsonValue,
)
from rapport.signals.collectors.github import GithubCollector, GithubConfig
from rapport.signals.collectors.http_json import HttpJsonCollector, HttpJsonConfig
from rapport.signals.collectors.hubspot import HubSpotCollector, HubSpotConfig
from rapport.signals.collectors.jira import JiraCollector, JiraConfig
from rapport.signals.collectors.pagerduty import PagerDutyCollector, PagerDutyConfig
from rapport.signals.collectors.pingcode import PingCodeCollector, PingCodeConfig
from rapport.signals.collectors.worktile import WorktileCollector, WorktileConfig
from rapport.signals.collectors.zendesk import ZendeskCollector, ZendeskConfig
from rapport.signals.model import Client, Owner

BASE = "https://source.example"
FACT_OWNER = Owner(name="Ada Lovelace", email="ada@ourco.example")


@pytest.fixture
def registry() -> Iterator[dict[str, Any]]:
    """``REGISTRY`` as it was before the test, restored after it (test types do not leak)."""
    before = dict(REGISTRY)
    yield REGISTRY
    REGISTRY.clear()
    REGISTRY.update(before)


class EchoConfig(CollectorConfig):
    words: list[str]


def test_a_subclass_declaring_a_name_is_registered_with_its_config_kinds_and_attribute(registry):
    class EchoCollector(
        BaseCollector[EchoConfig], name="test_echo", kinds=("survey",), client_attribute="echo"
    ):
        def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
            return FetchResult([], None)

    assert registry["test_echo"] is EchoCollector
    assert (EchoCollector.name, EchoCollector.kinds, EchoCollector.client_attribute) == (
        "test_echo",
        ("survey",),
        "echo",
    )
    assert EchoCollector.Config is EchoConfig
    assert EchoCollector(EchoConfig(words=["hi"])).config.words == ["hi"]


def test_a_subclass_without_a_name_is_an_intermediate_base_and_is_not_registered(registry):
    before = set(registry)

    class Intermediate(BaseCollector[EchoConfig]):
        pass

    assert set(registry) == before


def test_a_collector_that_does_not_say_its_config_fails_when_it_is_defined(registry):
    with pytest.raises(CollectorDefinitionError, match=r"does not say its Config"):

        class Untyped(BaseCollector, name="test_untyped"):  # type: ignore[type-arg]
            pass

    assert "test_untyped" not in registry


def _import(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[path.stem]


def test_a_module_claiming_a_built_in_name_fails_at_import_naming_both_classes(registry, tmp_path):
    module = tmp_path / "copycat.py"
    module.write_text(
        "from rapport.signals.collectors.base import BaseCollector, CollectorConfig\n"
        "class CopyCollector(BaseCollector[CollectorConfig], name='jira'):\n"
        "    pass\n"
    )
    with pytest.raises(DuplicateCollectorError) as raised:
        _import(module)
    assert str(raised.value) == (
        "Collector names registered twice: 'jira' by rapport.signals.collectors.jira."
        "JiraCollector and copycat.CopyCollector"
    )
    assert raised.value.names == ["jira"]
    assert registry["jira"] is JiraCollector  # the first registration stands


def test_the_bad_cursor_error_builds_its_message_and_is_a_collector_failure():
    error = BadCursorError("jira", {"page": 3})
    assert str(error) == (
        "Collector 'jira' failed: saved cursor {'page': 3} was not written by this collector"
    )
    assert isinstance(error, CollectorError)
    assert (error.collector, error.cursor) == ("jira", {"page": 3})


def _http_json() -> HttpJsonCollector:
    fields = {"ts": "t", "value": "v"}
    config = HttpJsonConfig(
        base_url=BASE, kind="response_time", event_id="id", client="c", fields=fields
    )
    return HttpJsonCollector(config)


FOREIGN: list[tuple[str, Callable[[], Any], Any]] = [
    (
        "jira versions",
        lambda: JiraCollector(JiraConfig(base_url=BASE, token_env="T", projects=["ACME"])),
        {"page": 1},
    ),
    (
        "jira issues",
        lambda: JiraCollector(
            JiraConfig(base_url=BASE, token_env="T", projects=["ACME"], source="issues")
        ),
        {"since": 5},
    ),
    (
        "zendesk",
        lambda: ZendeskCollector(ZendeskConfig(base_url=BASE, email="a@b.example", token_env="T")),
        {"page": 1},
    ),
    (
        "github",
        lambda: GithubCollector(GithubConfig(base_url=BASE, token_env="T", repos=["a/b"])),
        [1, 2],
    ),
    (
        "pagerduty",
        lambda: PagerDutyCollector(PagerDutyConfig(base_url=BASE, token_env="T")),
        {"next_since": "not a time"},
    ),
    (
        "pingcode",
        lambda: PingCodeCollector(
            PingCodeConfig(base_url=BASE, token_env="T", client_id="c", project_ids=["p"])
        ),
        "page 2",
    ),
    (
        "worktile",
        lambda: WorktileCollector(
            WorktileConfig(base_url=BASE, token_env="T", client_id="c", project_ids=["p"])
        ),
        {"since": 1, "page": 0},
    ),
    (
        "hubspot",
        lambda: HubSpotCollector(HubSpotConfig(base_url=BASE, token_env="T")),
        {"phase": "owners", "after": None, "since": None, "sweep": None, "renewals": {}},
    ),
    ("http_json", _http_json, {"position": 1}),
]


@pytest.mark.parametrize(
    ("build", "cursor"),
    [pytest.param(b, c, id=f"{name} refuses a cursor it did not write") for name, b, c in FOREIGN],
)
def test_every_collector_that_checks_its_cursor_raises_the_one_bad_cursor_error(build, cursor):
    collector = build()
    harness = fetch_context(None, secrets={"T": "s3cret"})  # no client: it fails before any call
    with pytest.raises(BadCursorError) as raised:
        collector.fetch(cursor, harness.context)
    assert str(raised.value) == (
        f"Collector {collector.name!r} failed: saved cursor {cursor!r} was not written by this "
        "collector"
    )


@pytest.mark.parametrize(
    ("facts", "attrs", "owner"),
    [
        pytest.param(
            ClientFacts("acme", attrs={"renewal_date": "2027-01-31"}, owner=FACT_OWNER),
            {"hubspot_company": "9001", "renewal_date": "2027-01-31"}, FACT_OWNER,
            id="facts should set attributes and fill a missing owner",
        ),
        pytest.param(
            ClientFacts("acme", cleared=("renewal_date", "absent")),
            {"hubspot_company": "9001"}, None,
            id="a cleared attribute should be removed, an absent one ignored",
        ),
    ],
)  # fmt: skip
def test_client_facts_change_only_what_they_say(facts, attrs, owner):
    current = Client(id="acme", name="Acme", attrs={"hubspot_company": "9001",
                                                   "renewal_date": "2026-01-31"})  # fmt: skip
    applied = facts.apply(current)
    assert (applied.attrs, applied.owner, applied.name) == (attrs, owner, "Acme")


def test_client_facts_never_replace_the_registrys_own_owner():
    mine = Owner(name="Registry PM", email="pm@ourco.example")
    current = Client(id="acme", name="Acme", owner=mine)
    assert ClientFacts("acme", owner=FACT_OWNER).apply(current).owner == mine
