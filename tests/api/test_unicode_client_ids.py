"""A client id in Chinese through the real HTTP server: percent-encoded in URLs, stored, scored,
explained, in history, and a valid Prometheus label value (``promtool check metrics``)."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import quote

import pytest
from live_api import LiveServer

YUNFAN = "上海云帆"
PATH = "/api/v1/clients/%E4%B8%8A%E6%B5%B7%E4%BA%91%E5%B8%86"


@pytest.fixture
def yunfan(world: LiveServer) -> LiveServer:
    """The seeded world plus 上海云帆, registered and given one reply, then scored."""
    assert quote(YUNFAN) == PATH.rsplit("/", 1)[1]
    body = {"id": YUNFAN, "name": "上海云帆科技", "timezone": "Asia/Shanghai"}
    put = world.call("PUT", PATH, json=body)
    assert put.status_code == 200, put.text
    reply = {
        "event_id": "yunfan-r1",
        "client": YUNFAN,
        "kind": "response_time",
        "ts": "2026-06-30T10:00:00Z",
        "value": 2.0,
        "channel": "email",
    }
    posted = world.call("POST", "/api/v1/signals", json={"signals": [reply]})
    assert posted.status_code == 200, posted.text
    assert "unscored" not in posted.json()["accepted"][0]  # registered: it is scored
    world.service.evaluator.evaluate_now()
    return world


def test_a_chinese_client_id_round_trips_through_its_percent_encoded_url(
    yunfan: LiveServer,
) -> None:
    detail = yunfan.call("GET", PATH)
    assert detail.status_code == 200, detail.text
    assert detail.json()["id"] == YUNFAN
    assert detail.json()["score"] == 80.0  # 2 hours: 100 − 10·2
    explained = yunfan.call("GET", f"{PATH}/explain")
    assert explained.status_code == 200, explained.text
    assert explained.json()["client"] == YUNFAN
    history = yunfan.call("GET", f"{PATH}/history")
    assert history.status_code == 200, history.text
    assert history.json()["client"] == YUNFAN
    assert [p["score"] for p in history.json()["points"]] == [80.0]


def test_the_exposition_with_a_chinese_client_id_passes_promtool(yunfan: LiveServer) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: apt-get install prometheus (.ci/run installs it)")
    text = yunfan.call("GET", "/metrics").text
    assert f'client="{YUNFAN}"' in text
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
