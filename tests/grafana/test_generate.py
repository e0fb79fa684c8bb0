"""The committed boards and recording rules are what grafana/generate.py writes, they read back
through Grafana's own dashboard types (grafana-foundation-sdk), and they hang together."""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
from typing import Any

import pytest
from boards import BOARDS, GRAFANA, load, panels
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

generate = runpy.run_path(str(GRAFANA / "generate.py"))


def test_the_committed_files_are_what_the_generator_writes() -> None:
    for path, text in generate["outputs"]().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run `make boards`"


def missing(ours: Any, theirs: Any, where: str = "") -> list[str]:
    """Paths of ``ours`` that did not survive the round trip (Grafana's types dropped them)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return [
            p
            for k, v in ours.items()
            for p in (
                [f"{where}.{k}"] if k not in theirs else missing(v, theirs[k], f"{where}.{k}")
            )
        ]
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [
            p
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for p in missing(a, b, f"{where}[{i}]")
        ]
    return []


@pytest.mark.parametrize(
    "path", BOARDS, ids=lambda p: f"{p.stem} board reads back through Grafana's types"
)
def test_every_board_reads_back_through_grafanas_dashboard_types(path: Any) -> None:
    board = load(path)
    back = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    # Panel options and field-config customs are typed per panel plugin, so the generic
    # dashboard model keeps them as given; everything else must be a field Grafana knows.
    # An annotation's target is the datasource's query (Prometheus: expr), which the SDK's 11.6
    # AnnotationTarget types as Grafana's built-in one: the only place exempted.
    assert [p for p in missing(board, back) if ".target." not in p] == []


def test_uids_and_panel_ids_are_unique_and_every_panel_uses_the_datasource_variable() -> None:
    uids = [load(p)["uid"] for p in BOARDS]
    assert len(uids) == len(set(uids)) == 3
    for path in BOARDS:
        board = load(path)
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), path.name
        assert board["templating"]["list"][0]["type"] == "datasource"
        assert {link["url"] for link in board["links"]} >= {
            f"/d/{u}" for u in uids if u != board["uid"]
        }
    for uid, panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (
            uid,
            panel["title"],
        )
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
        assert panel["fieldConfig"]["defaults"].get("unit"), (uid, panel["title"])


def test_the_client_board_links_to_the_client_page_and_the_portfolio() -> None:
    board = load(GRAFANA / "dashboards" / "client.json")
    urls = {link["url"] for link in board["links"]}
    assert "${rapport_url}/clients/${client}" in urls and "/d/rapport-portfolio" in urls


@pytest.mark.parametrize("name", ["recording_rules.yml", "alert_rules.yml"])
def test_the_generated_prometheus_rules_pass_promtool(name: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: apt-get install prometheus (.ci/run installs it)")
    rules = GRAFANA / "prometheus" / name
    done = subprocess.run(
        [promtool, "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
