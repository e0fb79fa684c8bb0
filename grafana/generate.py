"""Generate Rapport's Grafana dashboards and Prometheus recording rules (``make boards``).

Writes ``grafana/dashboards/{portfolio,client,operations}.json``,
``grafana/prometheus/recording_rules.yml`` and ``grafana/prometheus/alert_rules.yml`` (the
shipped alert rules as ``rapport export prometheus-rules`` writes them);
``tests/grafana/test_generate.py`` fails when the committed files differ from what this script
produces, so edit here and run ``make boards``.

Contract of every dashboard: a stable ``uid``; a ``datasource`` variable that every panel uses;
links to the other boards; a unit on every value panel. Panels of the default boards read only the
default series of ``/metrics`` (the 6-series budget) and the recording rules; panels whose
description starts with ``DETAIL`` need ``RAPPORT_METRICS_DETAIL=true``. The alert and outbox
families (``rapport_alerts_firing``, ``rapport_outbox_*``, ``rapport_notifications_sent_total``)
come from the alerts and notify modules.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from rapport.api.bundle import check_bundle
from rapport.api.prometheus_rules import prometheus_rules

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
UIDS = {"portfolio": "rapport-portfolio", "client": "rapport-client", "ops": "rapport-operations"}
#: The shipped scorecard's grades: lower bound and colour (rules/scorecard.yaml), plus the state
#: of a client whose coverage is below min_coverage.
GRADES = (("at_risk", 0, "#c62828"), ("watch", 50, "#f9a825"), ("healthy", 75, "#2e7d32"))
INSUFFICIENT = ("insufficient_data", "#8e8e8e")
FILTER = 'owner=~"$owner",segment=~"$segment"'
DETAIL = "DETAIL: needs RAPPORT_METRICS_DETAIL=true on rapport serve. "
SCORE_BANDS = tuple(range(0, 100, 10))

Json = dict[str, Any]


def target(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False) -> Json:
    """One Prometheus query of a panel."""
    t: Json = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend or "__auto"}
    if instant:
        t |= {"instant": True, "range": False, "format": "table"}
    return t


def panel(
    pid: int, kind: str, title: str, pos: tuple[int, int, int, int], targets: list[Json], **kw: Any
) -> Json:
    """A panel at grid ``pos`` (x, y, w, h); ``unit``, ``description``, ``options``, ``color``,
    ``thresholds``, ``overrides``, ``transformations``, ``links`` and ``custom`` go where Grafana
    reads them."""
    x, y, w, h = pos
    defaults: Json = {"unit": kw.get("unit", "none")}
    for key in ("min", "max", "mappings", "color", "thresholds", "links", "custom", "decimals"):
        if key in kw:
            defaults[key] = kw[key]
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": kw.get("description", ""),
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": kw.get("overrides", [])},
        "options": kw.get("options", {}),
        "transformations": kw.get("transformations", []),
    }


def grade_thresholds() -> Json:
    steps = [{"color": c, "value": None if m == 0 else m} for _, m, c in GRADES]
    return {"mode": "absolute", "steps": steps}


def grade_mappings() -> list[Json]:
    colours = {name: c for name, _, c in GRADES} | {INSUFFICIENT[0]: INSUFFICIENT[1]}
    options = {n: {"color": c, "index": i} for i, (n, c) in enumerate(colours.items())}
    return [{"type": "value", "options": options}]


def variables(*names: str) -> list[Json]:
    """The template variables: always ``datasource`` and ``rapport_url``, then ``names``."""
    found: list[Json] = [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
        {
            "name": "rapport_url",
            "label": "Rapport URL",
            "type": "constant",
            "query": "http://localhost:8000",
            "hide": 2,
        },
    ]
    for name in names:
        query = f"label_values(rapport_client_health_coverage, {name})"
        multi = name != "client"
        found.append(
            {
                "name": name,
                "label": name.capitalize(),
                "type": "query",
                "datasource": DS,
                "query": {"query": query, "refId": f"{name}-values"},
                "refresh": 2,
                "sort": 1,
                "multi": multi,
                "includeAll": multi,
                **({"allValue": ".*"} if multi else {}),
            }
        )
    return found


def dashboard(key: str, title: str, panels: list[Json], vars_: list[Json], **kw: Any) -> Json:
    links = [
        {"title": t, "type": "link", "url": f"/d/{UIDS[k]}", "keepTime": True, "includeVars": False}
        for k, t in (("portfolio", "Portfolio"), ("client", "Client"), ("ops", "Operations"))
        if k != key
    ]
    return {
        "uid": UIDS[key],
        "title": title,
        "tags": ["rapport"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "refresh": "1m",
        "time": {"from": kw.get("since", "now-30d"), "to": "now"},
        "links": links + kw.get("links", []),
        "templating": {"list": vars_},
        "annotations": {"list": kw.get("annotations", [])},
        "panels": panels,
    }


def portfolio() -> Json:
    by_grade = f"sum by (grade) (rapport:clients:count_by_grade{{{FILTER}}})"
    client_link = [
        {"title": "Client board", "url": "/d/rapport-client?var-client=${__data.fields.client}"},
        {"title": "Client page", "url": "${rapport_url}/clients/${__data.fields.client}"},
    ]
    table_targets = [
        target(f"rapport_client_health_score{{{FILTER}}}", ref="score", instant=True),
        target(f'rapport_client_health_score_change{{span="7d",{FILTER}}}', ref="d7", instant=True),
        target(
            f'rapport_client_health_score_change{{span="30d",{FILTER}}}', ref="d30", instant=True
        ),
        target(f"rapport_client_health_coverage{{{FILTER}}}", ref="coverage", instant=True),
        target(f"rapport_client_health_grade{{{FILTER}}} == 1", ref="grade", instant=True),
    ]
    rename = {"Value #score": "score", "Value #d7": "7d change", "Value #d30": "30d change"}
    rename |= {"Value #coverage": "coverage"}
    table_transforms = [
        {"id": "joinByField", "options": {"byField": "client", "mode": "outer"}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True, "Value #grade": True, "__name__": True},
                "renameByName": rename,
            },
        },
        {"id": "sortBy", "options": {"sort": [{"field": "score", "desc": False}]}},
    ]
    cell = {"cellOptions": {"type": "color-background"}}
    overrides = [
        _override(
            "grade", [("mappings", grade_mappings()), ("custom.cellOptions", cell["cellOptions"])]
        ),
        _override(
            "score",
            [("thresholds", grade_thresholds()), ("custom.cellOptions", cell["cellOptions"])],
        ),
        _override("coverage", [("unit", "percentunit")]),
        _override("client", [("links", client_link)]),
    ]
    panels = [
        panel(
            1,
            "stat",
            "Clients by grade now",
            (0, 0, 12, 5),
            [target(by_grade, "{{grade}}", instant=False)],
            description="How many of your clients sit in each grade; insufficient_data is a state "
            "of its own (too little measured data to grade).",
            mappings=grade_mappings(),
            color={"mode": "thresholds"},
            options={
                "reduceOptions": {"calcs": ["lastNotNull"]},
                "colorMode": "background",
                "textMode": "value_and_name",
            },
        ),
        panel(
            2,
            "barchart",
            "Score distribution",
            (12, 0, 12, 5),
            [
                target(
                    f"sum by (band) (rapport:clients:count_by_score_band{{{FILTER}}})",
                    "{{band}}",
                    instant=True,
                )
            ],
            description="Clients per 10-point score band (graded clients only).",
            options={"xField": "band", "orientation": "vertical"},
        ),
        panel(
            3,
            "timeseries",
            "Clients by grade over time",
            (0, 5, 24, 7),
            [target(by_grade, "{{grade}}")],
            description="Grade counts over the selected range: a growing at_risk or "
            "insufficient_data band is the trend to act on.",
            custom={"stacking": {"mode": "normal"}, "fillOpacity": 60, "drawStyle": "line"},
            overrides=[
                _override(n, [("color", {"mode": "fixed", "fixedColor": c})], by="name")
                for n, _, c in GRADES
            ]
            + [
                _override(
                    INSUFFICIENT[0],
                    [("color", {"mode": "fixed", "fixedColor": INSUFFICIENT[1]})],
                    by="name",
                )
            ],
        ),
        panel(
            4,
            "table",
            "Every client, lowest score first",
            (0, 12, 24, 12),
            table_targets,
            description="Score with grade colours, change over 7 and 30 days (from Rapport's own "
            "history), coverage and owner. Click a client for its board or its page in Rapport.",
            overrides=overrides,
            transformations=table_transforms,
            options={"showHeader": True, "sortBy": [{"displayName": "score", "desc": False}]},
        ),
        panel(
            5,
            "bargauge",
            "Biggest drops this week",
            (0, 24, 12, 8),
            [
                target(
                    f'bottomk(10, rapport_client_health_score_change{{span="7d",{FILTER}}} < 0)',
                    "{{client}}",
                    instant=True,
                )
            ],
            description="The ten clients whose score fell most in 7 days (points).",
            options={"orientation": "horizontal", "displayMode": "basic"},
            color={"mode": "fixed", "fixedColor": "#c62828"},
        ),
        panel(
            6,
            "table",
            "Alerts firing",
            (12, 24, 12, 8),
            [target("sum by (rule, severity) (rapport_alerts_firing)", instant=True)],
            description="Rapport's alert rules firing now, by rule and severity.",
        ),
        panel(
            7,
            "stat",
            "Clients with stale sources",
            (0, 32, 6, 5),
            [target(f"count(rapport_client_health_stale_components{{{FILTER}}} > 0) or vector(0)")],
            description="Clients with at least one component scored on stale data: their score may "
            "lag reality (see the Operations board for the collectors).",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        panel(
            8,
            "table",
            "Stale sources by client",
            (6, 32, 18, 5),
            [
                target(
                    f"rapport_client_health_stale_components{{{FILTER}}} > 0 or on() vector(0)",
                    instant=True,
                )
            ],
            description="Each client with stale components and how many (0 alone: none is stale).",
        ),
    ]
    return dashboard("portfolio", "Rapport · Portfolio", panels, variables("owner", "segment"))


def _override(name: str, props: list[tuple[str, Any]], by: str = "name") -> Json:
    matcher = {"id": "byName" if by == "name" else "byRegexp", "options": name}
    return {"matcher": matcher, "properties": [{"id": k, "value": v} for k, v in props]}


def client() -> Json:
    c = 'client="$client"'
    value = "rapport_client_health_component_value{" + c + ',component="%s"}'
    thresholds_drawn = {"thresholdsStyle": {"mode": "line+area"}, "fillOpacity": 0}
    panels = [
        panel(
            1,
            "timeseries",
            "Score over time",
            (0, 0, 16, 8),
            [target(f"rapport_client_health_score{{{c}}}", "score")],
            description="The health score; the bands are the scorecard's grades (watch from 50, "
            "healthy from 75). A gap means the client was insufficient_data.",
            min=0,
            max=100,
            thresholds=grade_thresholds(),
            custom=thresholds_drawn,
        ),
        panel(
            2,
            "stat",
            "Grade",
            (16, 0, 4, 4),
            [target(f"rapport_client_health_grade{{{c}}} == 1", "{{grade}}")],
            description="The current grade.",
            options={
                "textMode": "name",
                "colorMode": "background",
                "reduceOptions": {"calcs": ["lastNotNull"]},
            },
            mappings=grade_mappings(),
        ),
        panel(
            3,
            "stat",
            "Coverage",
            (20, 0, 4, 4),
            [target(f"rapport_client_health_coverage{{{c}}}")],
            description="Share of the scorecard's weight measured from signals.",
            unit="percentunit",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        panel(
            4,
            "stat",
            "Change",
            (16, 4, 8, 4),
            [target(f"rapport_client_health_score_change{{{c}}}", "{{span}}")],
            description="Score now minus 7 and 30 days before (points).",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "value_and_name"},
        ),
        panel(
            5,
            "timeseries",
            "Component points over time",
            (0, 8, 24, 8),
            [target(f"rapport_client_health_component_score{{{c}}}", "{{component}}")],
            description=DETAIL + "Points (0-100) each component of the scorecard gave.",
            min=0,
            max=100,
        ),
        panel(
            6,
            "timeseries",
            "Response time p90",
            (0, 16, 6, 6),
            [target(value % "responsiveness", "p90")],
            description=DETAIL + "Hours to our first reply, 90th percentile over 30 days.",
            unit="h",
        ),
        panel(
            7,
            "stat",
            "Missed milestones",
            (6, 16, 6, 6),
            [target(value % "delivery_on_time")],
            description=DETAIL + "Share of the milestones due in 90 days that were missed.",
            unit="percentunit",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        panel(
            8,
            "stat",
            "Latest survey",
            (12, 16, 6, 6),
            [target(value % "satisfaction")],
            description=DETAIL + "The latest survey answer on a 0-100 scale.",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        panel(
            9,
            "timeseries",
            "Incidents (severity-weighted, 30 days)",
            (18, 16, 6, 6),
            [target(value % "stability")],
            description=DETAIL
            + "Incidents opened in 30 days weighted sev1 10, sev2 5, sev3 2, sev4 1.",
        ),
        panel(
            11,
            "bargauge",
            "Open incidents by severity",
            (0, 22, 8, 6),
            [target(f"rapport_client_open_incidents{{{c}}}", "{{severity}}", instant=True)],
            description=DETAIL
            + "Incidents open now, by severity; no bars when no incident was ever recorded "
            "for this client (unknown, not zero).",
            unit="none",
        ),
        panel(
            10,
            "table",
            "Last signal age by kind",
            (8, 22, 16, 6),
            [target(f"time() - rapport_client_signal_last_timestamp_seconds{{{c}}}", instant=True)],
            description=DETAIL + "How long ago the newest signal of each kind arrived.",
            unit="s",
        ),
    ]
    annotations = [
        {
            "name": "Alerts",
            "enable": True,
            "iconColor": "red",
            "datasource": DS,
            "target": {
                "expr": 'ALERTS{alertstate="firing",client="$client"}',
                "refId": "alerts",
                "legendFormat": "{{alertname}} {{severity}}",
            },
        },
    ]
    page = {
        "title": "Client page in Rapport",
        "type": "link",
        "url": "${rapport_url}/clients/${client}",
        "targetBlank": True,
    }
    return dashboard(
        "client",
        "Rapport · Client",
        panels,
        variables("client"),
        annotations=annotations,
        links=[page],
    )


def operations() -> Json:
    ts = "timeseries"
    panels = [
        panel(
            1,
            "table",
            "Collector last success",
            (0, 0, 8, 6),
            [target("time() - rapport_collector_last_success_timestamp_seconds", instant=True)],
            description="Seconds since each collector last finished a successful run.",
            unit="s",
        ),
        panel(
            2,
            ts,
            "Collector errors",
            (8, 0, 8, 6),
            [
                target(
                    "sum by (collector) "
                    '(increase(rapport_collector_runs_total{result="error"}[1h]))'
                    " or sum by (collector) (rapport_collector_runs_total) * 0",
                    "{{collector}}",
                )
            ],
            description="Failed collector runs per hour (0 while all succeed).",
        ),
        panel(
            3,
            ts,
            "Items fetched",
            (16, 0, 8, 6),
            [
                target(
                    "sum by (collector) (rate(rapport_collector_items_fetched_total[5m]))",
                    "{{collector}}",
                )
            ],
            description="Signals fetched per second by each collector.",
            unit="reqps",
        ),
        panel(
            4,
            ts,
            "Clients with stale sources",
            (0, 6, 8, 6),
            [target("count(rapport_client_health_stale_components > 0) or vector(0)", "clients")],
            description="Clients with a component scored on stale data.",
        ),
        panel(
            5,
            ts,
            "Evaluation duration p90",
            (8, 6, 8, 6),
            [
                target(
                    "histogram_quantile(0.9, sum by (le) "
                    "(rate(rapport_evaluation_duration_seconds_bucket[30m])))",
                    "p90",
                ),
                target(
                    "time() - rapport_last_evaluation_timestamp_seconds",
                    "age of the scores",
                    ref="B",
                ),
            ],
            description="Time to load, score and store every client; and how old the served "
            "scores are.",
            unit="s",
        ),
        panel(
            6,
            ts,
            "Ingest rate and rejects",
            (16, 6, 8, 6),
            [target("sum by (result) (rate(rapport_signals_ingested_total[5m]))", "{{result}}")],
            description="Signals received through POST /signals per second, by outcome.",
            unit="reqps",
        ),
        panel(
            7,
            "table",
            "Rules version",
            (0, 12, 12, 4),
            [target("rapport_rules_info", instant=True)],
            description="The rules version being served.",
        ),
        panel(
            8,
            "stat",
            "Rules reload",
            (12, 12, 12, 4),
            [target("rapport_rules_last_reload_successful")],
            description="1: the last rules (re)load is serving; 0: it was rejected and the "
            "previous rules serve.",
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "rejected", "color": "red"},
                        "1": {"text": "ok", "color": "green"},
                    },
                }
            ],
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
        ),
        panel(
            9,
            ts,
            "Alert outbox",
            (0, 16, 12, 6),
            [
                target("rapport_outbox_pending", "pending"),
                target("rapport_outbox_failed", "failed", ref="B"),
            ],
            description="Notices waiting to be sent and those that failed for good.",
        ),
        panel(
            10,
            ts,
            "Notifications sent",
            (12, 16, 12, 6),
            [
                target(
                    "sum by (channel, result) (rate(rapport_notifications_sent_total[5m]))",
                    "{{channel}} {{result}}",
                )
            ],
            description="Notifications per second by channel and result.",
            unit="reqps",
        ),
    ]
    return dashboard("ops", "Rapport · Operations", panels, variables(), since="now-24h")


def recording_rules() -> Json:
    """Portfolio aggregates, kept by owner and segment so the boards' filters still apply."""
    rules: list[Json] = [
        {
            "record": "rapport:clients:count_by_grade",
            "expr": "count by (grade, owner, segment) (rapport_client_health_grade == 1)",
        },
    ]
    for low in SCORE_BANDS:
        high = low + 10
        upper = "<= 100" if high == 100 else f"< {high}"
        rules.append(
            {
                "record": "rapport:clients:count_by_score_band",
                "expr": f"count by (owner, segment) (rapport_client_health_score >= {low} {upper})",
                "labels": {"band": f"{low:02d}-{high}"},
            }
        )
    rules.append(
        {
            "record": "rapport:client_health_score:avg_by_owner",
            "expr": "avg by (owner) (rapport_client_health_score)",
        }
    )
    return {"groups": [{"name": "rapport-portfolio", "interval": "1m", "rules": rules}]}


def outputs() -> dict[Path, str]:
    """Every generated file and its text."""
    boards = {"portfolio": portfolio(), "client": client(), "operations": operations()}
    files = {
        HERE / "dashboards" / f"{k}.json": json.dumps(v, indent=2, sort_keys=True) + "\n"
        for k, v in boards.items()
    }
    head = "# Generated by grafana/generate.py (make boards): edit there, not here.\n"
    files[HERE / "prometheus" / "recording_rules.yml"] = head + yaml.safe_dump(
        recording_rules(), sort_keys=False
    )
    files[HERE / "prometheus" / "alert_rules.yml"] = shipped_alert_rules()
    return files


def shipped_alert_rules() -> str:
    """The shipped rules/alerts.yaml as Prometheus alerting rules (``rapport export
    prometheus-rules``), so the compose stack's Prometheus fires them without a step of its own.
    Unversioned: the file must not change with every commit of the repository."""
    bundle, findings = check_bundle(HERE.parent / "rules")
    if bundle is None or bundle.alerts is None:
        raise SystemExit(f"rules/ does not load: {findings}")
    return prometheus_rules(bundle.alerts, bundle.scorecard)


def main() -> int:
    for path, text in outputs().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
