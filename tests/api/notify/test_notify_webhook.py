"""The webhook notifier against a loopback HTTP server: Slack, Teams and plain JSON shapes; a
5xx is retried by the outbox, a 4xx fails; the URL's secret path never appears in an error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from conftest import MEI, notice
from pydantic import SecretStr

from rapport.api.notify.base import DeliveryError, Envelope
from rapport.api.notify.webhook import WebhookConfig, WebhookNotifier


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[Any]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        self.send_response(Hook.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.received, Hook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret-token"
    server.shutdown()
    server.server_close()


def send(url: str, format: str) -> Any:
    config = WebhookConfig(name="team", url=SecretStr(url), format=format)  # type: ignore[arg-type]
    WebhookNotifier(config).send(Envelope("k", MEI, [notice()]))
    return Hook.received[-1]


def test_slack_gets_text_and_blocks(hook: str) -> None:
    body = send(hook, "slack")
    assert body["text"] == "[Rapport] Northwind Logistics: 82 → 61 (at risk), score-drop"
    assert [b["type"] for b in body["blocks"]] == ["section", "context"]
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"


def test_teams_gets_an_adaptive_card_message(hook: str) -> None:
    body = send(hook, "teams")
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["type"] == "TextBlock"
    assert card["actions"][0]["url"] == "http://rapport.example/clients/northwind/explain"


def test_plain_json_gets_the_notices(hook: str) -> None:
    body = send(hook, "json")
    assert body["version"] == 1
    [item] = body["notices"]
    assert (item["client_id"], item["score"], item["kind"]) == ("northwind", 61.0, "firing")


@pytest.mark.parametrize(
    ("status", "transient"), [(503, True), (429, True), (404, False)],
    ids=["a 503 is retried later", "a 429 is retried later", "a 404 fails"],
)  # fmt: skip
def test_errors_say_whether_to_retry_and_hide_the_url_path(
    hook: str, status: int, transient: bool
) -> None:
    Hook.status = status
    with pytest.raises(DeliveryError) as caught:
        send(hook, "json")
    assert caught.value.transient is transient
    assert "secret-token" not in str(caught.value) and str(status) in str(caught.value)
