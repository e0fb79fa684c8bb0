"""``/metrics`` as Prometheus reads it: parsed with prometheus_client's parser and checked by
``promtool check metrics`` (Debian's prometheus package), in the default budget and with
``metrics_detail`` on."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections import Counter
from datetime import timedelta

import pytest
from live_api import LiveServer, ServerFactory, seed_world
from prometheus_client.parser import text_string_to_metric_families

from rapport.api.metrics import SERIES_PER_CLIENT_BUDGET
from rapport.signals.model import StoredSignal

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: LiveServer) -> str:
    response = server.call("GET", "/metrics", token="read-token")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return response.text


def samples(text: str, name: str) -> Samples:
    """Every sample named ``name``, keyed by its sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


ACME = {"client": "acme", "segment": "enterprise", "owner": "alice-smith"}
GLOBEX = {"client": "globex", "segment": "smb", "owner": "bob-jones"}
INITECH = {"client": "initech", "segment": "none", "owner": "alice-smith"}
UMBRELLA = {"client": "umbrella", "segment": "none", "owner": "none"}


@pytest.fixture
def detailed(serve_api: ServerFactory) -> LiveServer:
    """The seeded world served with ``metrics_detail`` on."""
    server = serve_api(metrics_detail=True)
    seed_world(server)
    return server


def series_per_client(text: str) -> Counter[str]:
    return Counter(
        s.labels["client"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "client" in s.labels
    )


def test_the_default_exposition_keeps_the_per_client_budget(world: LiveServer) -> None:
    counts = series_per_client(scrape(world))
    assert set(counts) == {"acme", "globex", "initech", "umbrella"}
    assert max(counts.values()) <= SERIES_PER_CLIENT_BUDGET, counts
    families = {f.name for f in text_string_to_metric_families(scrape(world))}
    assert "rapport_client_health_component_score" not in families
    assert "rapport_client_signal_last_timestamp_seconds" not in families


def test_detail_adds_the_per_component_and_per_kind_families(
    world: LiveServer, detailed: LiveServer
) -> None:
    default, detail = series_per_client(scrape(world)), series_per_client(scrape(detailed))
    assert all(detail[c] > default[c] for c in default), (default, detail)
    values = samples(scrape(detailed), "rapport_client_health_component_value")
    name = "rapport_client_health_component_value"
    assert (name, labels(**ACME, component="invoices")) in values


def test_default_grade_is_one_series_holding_the_current_grade(world: LiveServer) -> None:
    grades = samples(scrape(world), "rapport_client_health_grade")
    name = "rapport_client_health_grade"
    assert grades[(name, labels(**ACME, grade="healthy"))] == 1.0
    assert set(grades.values()) == {1.0}
    assert sum(1 for key in grades if dict(key[1])["client"] == "acme") == 1


def test_stale_components_are_counted_per_client(world: LiveServer) -> None:
    stale = samples(scrape(world), "rapport_client_health_stale_components")
    name = "rapport_client_health_stale_components"
    assert stale[(name, labels(**INITECH))] >= 1.0
    assert stale[(name, labels(**ACME))] == 0.0


def test_score_change_per_span_is_the_apis_delta(world: LiveServer) -> None:
    listed = world.call("GET", "/api/v1/clients", token="read-token").json()
    rows = listed["items"]
    expected = {
        (row["id"], span): row[field]
        for row in rows
        for span, field in (("7d", "delta_7d"), ("30d", "delta_30d"))
        if row[field] is not None
    }
    found = {
        (s.labels["client"], s.labels["span"]): s.value
        for family in text_string_to_metric_families(scrape(world))
        for s in family.samples
        if s.name == "rapport_client_health_score_change"
    }
    assert found == pytest.approx(expected, abs=0.01)


def test_scores_per_client_with_bounded_labels(world: LiveServer) -> None:
    scores = samples(scrape(world), "rapport_client_health_score")
    assert scores == {
        ("rapport_client_health_score", labels(**ACME)): pytest.approx(80.0),
        ("rapport_client_health_score", labels(**GLOBEX)): pytest.approx(40.0),
        ("rapport_client_health_score", labels(**INITECH)): pytest.approx(50.0),
    }  # umbrella has no score: no series rather than NaN


def test_component_points_grade_state_set_and_stale_flags(detailed: LiveServer) -> None:
    text = scrape(detailed)
    components = samples(text, "rapport_client_health_component_score")
    assert components[
        ("rapport_client_health_component_score", labels(**ACME, component="invoices"))
    ] == pytest.approx(80.0)
    assert (
        "rapport_client_health_component_score",
        labels(**GLOBEX, component="invoices"),
    ) not in components  # skipped: no series
    grades = samples(text, "rapport_client_health_grade")
    name = "rapport_client_health_grade"
    assert [grades[(name, labels(**ACME, grade=g))] for g in ("healthy", "watch", "at_risk")] == [
        1.0,
        0.0,
        0.0,
    ]
    assert [
        grades[(name, labels(**UMBRELLA, grade=g))] for g in ("healthy", "watch", "at_risk")
    ] == [0.0, 0.0, 0.0]
    stale = samples(text, "rapport_client_health_component_stale")
    name = "rapport_client_health_component_stale"
    assert stale[(name, labels(**INITECH, component="responsiveness"))] == 1.0
    assert stale[(name, labels(**ACME, component="responsiveness"))] == 0.0


def test_last_signal_time_per_kind(detailed: LiveServer) -> None:
    last = samples(scrape(detailed), "rapport_client_signal_last_timestamp_seconds")
    name = "rapport_client_signal_last_timestamp_seconds"
    assert last[(name, labels(**ACME, kind="response_time"))] == 1782734400.0  # 2026-06-29 12:00
    assert last[(name, labels(**ACME, kind="overdue_invoices"))] == 1782648000.0  # 06-28 12:00
    assert not any(dict(key[1])["client"] == "umbrella" for key in last)


def test_open_incidents_by_severity_for_clients_with_incidents_known(
    detailed: LiveServer, world: LiveServer
) -> None:
    now = detailed.clock.now
    hours = [now - timedelta(hours=h) for h in (9, 5, 1)]
    detailed.store.upsert_signals(
        [
            StoredSignal("i1", "acme", "incident", hours[1], attrs={"severity": "sev2"}),
            StoredSignal("i2", "acme", "incident", hours[0], hours[2], attrs={"severity": "sev1"}),
        ]
    )  # fmt: skip  (i2 is resolved)
    detailed.service.evaluator.evaluate_now()
    name = "rapport_client_open_incidents"
    opened = samples(scrape(detailed), name)
    assert opened == {
        (name, labels(**ACME, severity=severity)): 1.0 if severity == "sev2" else 0.0
        for severity in ("sev1", "sev2", "sev3", "sev4")
    }  # globex has no incident known: no series, not zeros
    assert samples(scrape(world), name) == {}  # a detail family


def test_no_label_carries_an_email_or_free_text(world: LiveServer) -> None:
    for family in text_string_to_metric_families(scrape(world)):
        for sample in family.samples:
            for value in sample.labels.values():
                assert "@" not in value and " " not in value, (sample.name, value)


def test_service_metrics_rules_evaluation_and_reload(world: LiveServer) -> None:
    text = scrape(world)
    version = world.service.rules.current().version
    assert samples(text, "rapport_rules_info") == {
        ("rapport_rules_info", labels(version=version)): 1.0
    }
    assert samples(text, "rapport_rules_last_reload_successful") == {
        ("rapport_rules_last_reload_successful", ()): 1.0
    }
    assert samples(text, "rapport_clients") == {("rapport_clients", ()): 4.0}
    evaluations = samples(text, "rapport_evaluation_duration_seconds_count")
    assert evaluations[("rapport_evaluation_duration_seconds_count", ())] >= 2  # start + seed
    assert samples(text, "rapport_last_evaluation_timestamp_seconds") == {
        ("rapport_last_evaluation_timestamp_seconds", ()): 1782820800.0  # T
    }


def test_removed_clients_disappear_after_the_next_evaluation(world: LiveServer) -> None:
    keep = {
        "clients": [
            {
                "id": "acme",
                "name": "Acme Corp",
                "segment": "enterprise",
                "owner": {"name": "Alice Smith", "email": "alice@example.com"},
            }
        ]
    }
    world.call("PUT", "/api/v1/clients?prune=true", json=keep).raise_for_status()
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    text = scrape(world)
    clients = {
        s.labels["client"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "client" in s.labels
    }
    assert clients == {"acme"}


def test_gzip_scrape_is_the_same_exposition(world: LiveServer) -> None:
    plain = world.call("GET", "/metrics", token="read-token").content
    headers = {"Accept-Encoding": "gzip", "Authorization": "Bearer read-token"}
    with world.http.stream("GET", "/metrics", headers=headers) as response:
        assert response.headers["content-encoding"] == "gzip"
        raw = b"".join(response.iter_raw())
    # Service part and per-client part are two gzip members: one valid stream all the same.
    assert gzip.decompress(raw) == plain


@pytest.mark.parametrize("detail", [False, True], ids=["default budget", "with detail"])
def test_the_exposition_passes_promtool(serve_api: ServerFactory, detail: bool) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: apt-get install prometheus (.ci/run installs it)")
    server = serve_api(metrics_detail=detail)
    seed_world(server)
    text = scrape(server)
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""
