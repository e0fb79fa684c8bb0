"""The ``webhook`` notifier: alert notices POSTed as JSON to a URL from config only.

Three shapes (``format``):

- ``slack``: a Slack incoming webhook's ``{"text": …, "blocks": [section, context]}`` (mrkdwn);
- ``teams``: a Microsoft Teams workflow webhook's message with one Adaptive Card attachment
  (``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": {…}}]}``);
- ``json``: ``{"version": 1, "notices": [<AlertNotice as JSON>, …]}`` for any other receiver.

The request goes through the collectors' bounded HTTP client (``make_http_client``: timeouts,
no redirects followed, a response size limit). Retries are the outbox's (persistent backoff), not
this request's: a 5xx, 429, timeout or broken connection is a transient ``DeliveryError``, any
other status a permanent one. Webhook URLs are secrets (Slack's path is its token): messages show
only the scheme and host.
"""

# The heavy libraries (jinja2, css-inline, babel, email-validator, httpx, prometheus_client)
# load when first used, not with the module: `rapport --help` must stay light.
# ruff: noqa: PLC0415

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from rapport.api.notify.base import BaseNotifier, DeliveryError, Envelope, NotifierConfig
from rapport.api.notify.notice import AlertNotice

if TYPE_CHECKING:
    import httpx

#: Bytes of a webhook's answer read at most (the answer is only checked for its status).
_MAX_ANSWER = 64 * 1024


class WebhookConfig(NotifierConfig):
    """One webhook: a ``name`` (the outbox recipient), its ``url``, its JSON ``format``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    url: SecretStr
    format: Literal["slack", "teams", "json"] = "json"
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, url: SecretStr) -> SecretStr:
        parts = urlsplit(url.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return url


class WebhookNotifier(BaseNotifier[WebhookConfig], name="webhook"):
    """POSTs each envelope's notices in the configured shape."""

    def __init__(self, config: WebhookConfig, http: httpx.Client | None = None) -> None:
        from rapport.signals.collectors.http import make_http_client

        super().__init__(config)
        self._http = http or make_http_client(timeout=config.timeout)

    @property
    def shown_url(self) -> str:
        parts = urlsplit(self.config.url.get_secret_value())
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"

    def send(self, envelope: Envelope) -> None:
        import httpx

        body = json.dumps(payload(self.config.format, envelope.notices), ensure_ascii=False)
        try:
            with self._http.stream(
                "POST",
                self.config.url.get_secret_value(),
                content=body.encode(),
                headers={"Content-Type": "application/json; charset=utf-8"},
            ) as response:
                status = response.status_code
                for _ in response.iter_bytes(_MAX_ANSWER):
                    break  # the status is the answer; the body may be discarded
        except httpx.HTTPError as error:
            reason = f"{self.shown_url}: {type(error).__name__}"
            raise DeliveryError(self.name, reason, transient=True) from None
        if not 200 <= status < 300:
            transient = status >= 500 or status in (408, 429)
            raise DeliveryError(
                self.name, f"{self.shown_url} answered {status}", transient=transient
            )

    def close(self) -> None:
        return None  # the client is shared and owned by whoever made it


def summary(notice: AlertNotice) -> str:
    """One line about ``notice``, in English (a team channel has no single locale)."""
    change = f"{_n(notice.score_before)} → {_n(notice.score)}"
    grade = (notice.grade or "unscored").replace("_", " ")
    state = {"firing": "", "repeat": "still firing: ", "resolved": "resolved: "}[notice.kind]
    return f"[Rapport] {state}{notice.client_name}: {change} ({grade}), {notice.rule}"


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def payload(format: str, notices: Sequence[AlertNotice]) -> dict[str, Any]:
    """The JSON body for ``notices`` in ``format`` (``slack``, ``teams`` or ``json``)."""
    if format == "slack":
        lines = [summary(n) for n in notices]
        links = [f"<{n.links.explain}|why>" for n in notices if n.links.explain]
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}
        ]
        if links:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}
            )
        return {"text": "\n".join(lines), "blocks": blocks}
    if format == "teams":
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": summary(n), "wrap": True} for n in notices
        ]
        actions = [
            {"type": "Action.OpenUrl", "title": f"Why: {n.client_name}", "url": n.links.explain}
            for n in notices
            if n.links.explain
        ]
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
            "actions": actions,
        }
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        return {"type": "message", "attachments": [attachment]}
    return {"version": 1, "notices": [n.model_dump(mode="json") for n in notices]}
