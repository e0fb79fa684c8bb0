"""What the pages show: the API's numbers for the viewer, in the viewer's language, escaped, with
security headers, and only same-origin assets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from live_api import LiveServer, ServerFactory, seed_world

from rapport.api.pages.i18n import LANG_COOKIE, Texts, choose_language
from rapport.api.pages.views import recent_alerts
from rapport.engine.alerts import AlertTransition
from rapport.signals.alerts import NewSilence, add_silence, save_alerts
from rapport.signals.model import Client


@pytest.fixture
def open_world(serve_api: ServerFactory) -> LiveServer:
    server = serve_api(tokens=False)
    seed_world(server)
    return server


def test_the_client_page_shows_the_apis_score_grade_and_coverage(open_world: LiveServer) -> None:
    api = open_world.http.get("/api/v1/clients/acme").json()
    page = open_world.http.get("/clients/acme", params={"lang": "en"}).text
    t = Texts("en")
    assert f'<div class="value" id="score">{t.number(api["score"])}</div>' in page
    assert f'data-grade="{api["grade"]}"' in page
    assert f'data-coverage="{api["coverage"]}"' in page
    assert f'id="rules-version">{api["rules_version"]}</code>' in page


def test_the_client_page_lists_each_component_with_its_evidence(open_world: LiveServer) -> None:
    explain = open_world.http.get("/api/v1/clients/acme/explain").json()
    page = open_world.http.get("/clients/acme").text
    for component in explain["components"]:
        assert f'id="component-{component["id"]}"' in page
        for event in (component["evidence"] or {}).get("events", []):
            assert event["why"].replace("'", "&#39;") in page


def test_the_explain_link_answers_the_apis_json(open_world: LiveServer) -> None:
    api = open_world.http.get("/api/v1/clients/acme/explain").json()
    page = open_world.http.get("/clients/acme/explain")
    assert page.headers["content-type"] == "application/json"
    assert page.json() == api


def test_the_portfolio_groups_clients_by_grade_with_unscored_last(open_world: LiveServer) -> None:
    page = open_world.http.get("/").text
    groups = re.findall(r'<section class="group" id="grade-([^"]+)"', page)
    assert groups == ["healthy", "watch", "at_risk", "none"]
    assert page.index('data-client="acme"') < page.index('data-client="umbrella"')
    assert '<a href="/clients/acme">Acme Corp</a>' in page


def test_a_client_name_with_markup_renders_as_text(open_world: LiveServer) -> None:
    evil = "<script>alert(1)</script>"
    open_world.store.upsert_clients([Client(id="evil", name=evil)])
    open_world.service.evaluator.evaluate_now()
    for path in ("/", "/clients/evil"):
        page = open_world.http.get(path).text
        assert evil not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_every_page_carries_the_security_headers(open_world: LiveServer) -> None:
    for path in ("/", "/clients/acme", "/clients/nobody", "/-/pages-assets/pages.css"):
        headers = open_world.http.get(path).headers
        assert headers["content-security-policy"].startswith("default-src 'self'"), path
        assert "script-src 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_an_unknown_client_is_a_404_page(open_world: LiveServer) -> None:
    answer = open_world.http.get("/clients/nobody")
    assert answer.status_code == 404
    assert "There is no client nobody" in answer.text


def test_the_grade_stylesheet_uses_the_scorecards_colours(open_world: LiveServer) -> None:
    css = open_world.http.get("/-/pages/grades.css")
    assert css.headers["content-type"].startswith("text/css")
    assert ".g-healthy{background:#2e7d32;color:#fff}" in css.text
    assert ".g-watch{background:#f9a825;color:#000}" in css.text, "dark ink on yellow"


def test_lang_in_the_query_switches_and_is_remembered(open_world: LiveServer) -> None:
    chinese = open_world.http.get("/clients/acme", params={"lang": "zh-CN"})
    assert '<html lang="zh-CN">' in chinese.text and "健康分" in chinese.text
    assert open_world.http.cookies[LANG_COOKIE] == "zh-CN"
    again = open_world.http.get("/clients/acme")
    assert '<html lang="zh-CN">' in again.text, "the cookie remembers the choice"
    english = open_world.http.get("/", params={"lang": "en"})
    assert "Client portfolio" in english.text


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        pytest.param(
            None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", id="a Chinese browser gets zh-CN"
        ),
        pytest.param(None, None, "zh-TW", "zh-CN", id="any Chinese gets the Chinese pages"),
        pytest.param(None, None, "de-DE,en;q=0.5", "en", id="English is the first one we have"),
        pytest.param(None, None, None, "en", id="no preference falls back to English"),
        pytest.param(None, "zh-CN", "en", "zh-CN", id="the cookie beats Accept-Language"),
        pytest.param("en", "zh-CN", "zh", "en", id="the query beats the cookie"),
        pytest.param("fr", None, None, "en", id="an unknown lang is ignored"),
    ],
)
def test_the_viewers_language(
    query: str | None, cookie: str | None, accept: str | None, expected: str
) -> None:
    assert choose_language(query, cookie, accept) == expected


def test_numbers_and_dates_follow_the_language() -> None:
    moment = datetime(2026, 6, 30, 12, 5, tzinfo=UTC)
    assert Texts("en").number(1234.56) == "1,234.6"
    assert Texts("en").when(moment) == "Jun 30, 2026 12:05 UTC"
    assert Texts("zh-CN").when(moment) == "2026年6月30日 12:05 UTC"
    assert Texts("zh-CN").grade("at_risk") == "有风险"
    assert Texts("zh-CN").percent(0.59) == "59%"


@pytest.mark.parametrize(
    ("change", "shown", "trend"),
    [
        pytest.param(0.03, "0", "", id="a change that rounds to nothing shows as 0"),
        pytest.param(-0.04, "0", "", id="a tiny drop shows as 0, not -0"),
        pytest.param(2.66, "+2.7", "up", id="a rise has its plus sign"),
        pytest.param(-5.18, "-5.2", "down", id="a drop has its minus sign"),
        pytest.param(None, "–", "", id="no change known shows a dash"),
    ],
)
def test_changes_show_with_their_sign_as_rounded(
    change: float | None, shown: str, trend: str
) -> None:
    assert Texts("en").signed(change) == shown
    assert Texts("en").trend(change) == trend


def test_the_alerts_section_is_left_out_when_the_client_has_no_alert_or_silence(
    open_world: LiveServer,
) -> None:
    assert recent_alerts(open_world.service, "globex", Texts("en")) == []
    assert 'id="alerts"' not in open_world.http.get("/clients/globex").text


def test_the_client_page_lists_its_alerts_and_active_silences(open_world: LiveServer) -> None:
    service = open_world.service
    now = service.clock()
    fired = AlertTransition(
        rule="score_low", client="acme", episode="e1", kind="firing", at=now,
        severity="critical", labels={}, value=41.0, threshold=50.0, silenced=False,
        dedupe_key="score_low|acme|e1|firing|0",
    )  # fmt: skip
    save_alerts(service.store, [], [fired])
    add_silence(
        service.store,
        NewSilence(client="acme", rule=None, labels={}, reason="migration week", author="mei"),
        now - timedelta(hours=1),
        now + timedelta(days=7),
    )
    lines = recent_alerts(service, "acme", Texts("en"))
    assert [(line.kind, line.rule) for line in lines] == [
        ("firing", "score_low"),
        ("silenced", "*"),
    ]
    # score_low is no rule of the serving rules: its numbers are shown as they are
    assert lines[0].detail == "critical, value 41, threshold 50"
    chinese = recent_alerts(service, "acme", Texts("zh-CN"))
    assert (chinese[0].kind, chinese[0].detail) == (
        "已触发",
        "critical, 当前值 41, 阈值 50",
    )
    page = open_world.http.get("/clients/acme", params={"lang": "en"}).text
    assert 'id="alerts"' in page and "score_low" in page and "migration week (mei" in page


def test_the_grafana_link_appears_only_when_configured(serve_api: ServerFactory) -> None:
    server = serve_api(tokens=False, grafana_url="http://grafana.test/d/rapport-client")
    seed_world(server)
    page = server.http.get("/clients/acme").text
    assert 'href="http://grafana.test/d/rapport-client?var-client=acme"' in page
    plain = serve_api(tokens=False)
    seed_world(plain)
    assert "grafana.test" not in plain.http.get("/clients/acme").text
