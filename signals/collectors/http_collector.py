"""What an HTTP connector is built from: ``HttpSourceConfig`` (the config fields every one
shares), ``HttpCollector`` (the base whose ``auth`` hook is all a provider says about how it
authenticates) and ``Source`` (one fetch's view of the API: every GET through ``http.request``,
never off ``base_url``).

A new connector (Slack, Teams, HubSpot…) is one module::

    class SlackConfig(HttpSourceConfig):
        channels: list[str]

    class SlackCollector(HttpCollector[SlackConfig], name="slack", kinds=("response_time",),
                         client_attribute="slack_channel"):
        def auth(self, context):
            return bearer(self.token(context))

        def fetch(self, cursor, context):
            page = self.source(context).get("/api/conversations.history", {...})
            ...

plus one import line in ``builtin.py`` and its test against a loopback server.

Secrets: a ``Credentials`` value never shows its secret in ``repr``; every error names URLs
without their query (``http.redact``), so neither reaches a log or a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import Field, field_validator, model_validator

from rapport.engine.model import Duration
from rapport.signals.collectors.base import (
    BaseCollector,
    CollectorConfig,
    CollectorError,
    FetchContext,
)
from rapport.signals.collectors.http import (
    DEFAULT_DEADLINE,
    STANDARD_WAIT_HEADERS,
    JsonResponse,
    WaitHeader,
    redact,
    request,
    same_origin,
    wait_headers,
)

if TYPE_CHECKING:
    import httpx

# httpx is imported where a URL is checked, not with this module: checking a collectors.yaml
# (`rapport rules check`) must not load the HTTP stack (see signals/collectors/http.py).
# ruff: noqa: PLC0415


class HttpSourceConfig(CollectorConfig):
    """What every HTTP connector's ``Config`` has: the one origin it may call (``base_url``,
    required), where its secret lives (``token_env``: an environment variable name, or
    ``token_file``: a file path, relative to collectors.yaml — never the secret itself), its
    retry budget (``retries``, ``backoff``, ``max_wait``: the longest Retry-After honoured), the
    per-read ``timeout`` and the ``deadline`` one request may take in all, however steadily a
    slow source trickles bytes."""

    #: whether this connector cannot work without a secret
    token_required: ClassVar[bool] = True

    base_url: str
    token_env: str | None = Field(default=None, min_length=1)
    token_file: Path | None = None
    retries: int = Field(default=3, ge=0, le=10)
    backoff: Duration = 1.0
    max_wait: Duration = 300.0
    timeout: Duration | None = None
    deadline: Duration = DEFAULT_DEADLINE

    @field_validator("base_url")
    @classmethod
    def _plain_http_origin(cls, value: str) -> str:
        return http_origin(value)

    @model_validator(mode="after")
    def _one_secret_source(self) -> HttpSourceConfig:
        if self.token_env and self.token_file:
            raise ValueError("set token_env or token_file, not both")
        if self.token_required and not (self.token_env or self.token_file):
            raise ValueError(
                "a secret is required: set token_env (an environment variable name) "
                "or token_file (a file path)"
            )
        return self


def http_origin(value: str) -> str:
    """``value`` as a plain http(s) origin URL without a trailing slash; a ``ValueError`` (for a
    pydantic validator to report) when it has no host or carries a query, fragment or
    credentials."""
    import httpx

    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as error:
        raise ValueError(f"not a URL ({error})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("expected an http(s) URL such as https://example.zendesk.com")
    if url.query or url.fragment or url.userinfo:
        raise ValueError("must not carry a query, fragment or credentials (use token_env)")
    return str(url).rstrip("/")


def read_token(config: HttpSourceConfig, context: FetchContext, collector: str) -> str | None:
    """The secret named by ``token_env``/``token_file`` (read through ``context.secret``), or
    None when the config names none; an unreadable or empty secret is a ``CollectorError``."""
    name = config.token_env or (str(config.token_file) if config.token_file else None)
    if name is None:
        return None
    source = "environment variable" if config.token_env else "file"
    try:
        value = context.secret(name).strip()
    except (KeyError, OSError) as error:
        reason = f"cannot read the secret from {source} {name!r} ({error})"
        raise CollectorError(collector, reason) from None
    if not value:
        raise CollectorError(collector, f"the secret in {source} {name!r} is empty")
    return value


@dataclass(frozen=True)
class Credentials:
    """What a request sends to prove who it is: ``headers`` (``Authorization: Bearer …``) and/or
    HTTP ``basic`` (user, password). Neither is shown by ``repr``, so a credential printed in a
    log or an error message stays a secret."""

    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)


NO_CREDENTIALS = Credentials()


def bearer(token: str | None, scheme: str = "Bearer", header: str = "Authorization") -> Credentials:
    """``header: <scheme> <token>`` (the bare token when ``scheme`` is empty); no credentials
    when ``token`` is None (a connector whose secret is optional and not configured)."""
    if token is None:
        return NO_CREDENTIALS
    return Credentials(headers={header: f"{scheme} {token}" if scheme else token})


def basic(username: str, password: str) -> Credentials:
    """HTTP basic authentication (RFC 7617)."""
    return Credentials(basic=(username, password))


@dataclass
class Source:
    """One connector's view of its API during one fetch: its config (origin, retries), the
    context (client, sleep) and the auth it sends. ``get`` refuses any URL off the base origin."""

    config: HttpSourceConfig
    context: FetchContext
    collector: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    auth: httpx.Auth | tuple[str, str] | None = field(default=None, repr=False)
    waits: tuple[WaitHeader, ...] = STANDARD_WAIT_HEADERS

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def get(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        accept_status: Iterable[int] = (),
    ) -> JsonResponse:
        """GET a path under ``base_url`` (or a full URL on the same origin)."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        if not same_origin(self.config.base_url, url):
            raise CollectorError(
                self.collector,
                f"refusing {redact(url)}: it is not on base_url {self.config.base_url} "
                "(base URLs come from config only)",
            )
        return request(
            self.context.http,
            "GET",
            url,
            params=params,
            headers=self.headers,
            auth=self.auth,
            retries=self.config.retries,
            backoff=self.config.backoff,
            max_wait=self.config.max_wait,
            timeout=self.config.timeout,
            sleep=self.context.sleep,
            accept_status=accept_status,
            collector=self.collector,
            waits=self.waits,
            deadline=self.config.deadline,
        )


H = TypeVar("H", bound=HttpSourceConfig)


class HttpCollector(BaseCollector[H]):
    """The base of a collector that reads an HTTP API. A provider says how it authenticates by
    overriding ``auth`` (``basic``, ``bearer``, or a token it obtains first); ``headers`` adds
    the non-secret headers its API wants (a media type, an API version). ``source(context)``
    then gives the fetch a ``Source`` sending both on every request. ``rate_limit_headers``
    names the provider's own documented wait headers (beyond ``Retry-After``)."""

    rate_limit_headers: ClassVar[tuple[WaitHeader, ...]] = ()

    def auth(self, context: FetchContext) -> Credentials:
        """The credentials every request of this fetch sends (called once per ``source``)."""
        return NO_CREDENTIALS

    def headers(self) -> Mapping[str, str]:
        """Headers every request sends besides the credentials; never a secret."""
        return {}

    def source(self, context: FetchContext, credentials: Credentials | None = None) -> Source:
        """This fetch's view of the API, authenticated by ``credentials`` (default: ``auth``)."""
        sent = self.auth(context) if credentials is None else credentials
        headers = {**self.headers(), **sent.headers}
        waits = wait_headers(*self.rate_limit_headers)
        return Source(
            self.config, context, self.name, headers=headers, auth=sent.basic, waits=waits
        )

    def optional_token(self, context: FetchContext) -> str | None:
        """The configured secret (``token_env``/``token_file``), or None when none is named."""
        return read_token(self.config, context, self.name)

    def token(self, context: FetchContext) -> str:
        """The configured secret; a ``CollectorError`` when none is named."""
        token = self.optional_token(context)
        if token is None:
            raise CollectorError(self.name, "no secret is configured (set token_env or token_file)")
        return token
