"""Rapport's effective configuration: defaults < config file < ``RAPPORT_*`` environment < secrets.

One ``Settings`` object is built at the edge (CLI or service start) and handed to what needs it;
nothing else reads the environment.

Sources, lowest priority first:

- the defaults below;
- an optional YAML config file (``RAPPORT_CONFIG_FILE`` or ``--config``): a mapping of field names,
  optionally starting with ``version: 1``;
- ``RAPPORT_<FIELD>`` environment variables (complex values such as ``tokens`` as JSON);
- a secrets directory (``RAPPORT_SECRETS_DIR``): one file per field, named ``rapport_<field>``
  (e.g. ``rapport_tokens`` holding the JSON token list) — how Docker and Kubernetes mount secrets;
- explicit overrides (CLI flags).

Tokens are configured by the SHA-256 hex digest of the token, never the token itself::

    RAPPORT_TOKENS='[{"name": "grafana", "sha256": "<64 hex>", "scopes": ["read"]},
        {"name": "mei", "sha256": "<64 hex>", "scopes": ["read"], "owner": "mei-chen"}]'
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceError

from rapport.engine.errors import RapportError
from rapport.engine.model import Duration, format_duration, parse_duration
from rapport.engine.yamlsource import MAX_RULES_BYTES
from rapport.signals.urls import mask_url, port_problem

DEFAULT_DATABASE_URL = "sqlite:///data/rapport.db"

Scope = Literal["read", "ingest", "admin"]


class SettingsError(RapportError):
    """A configuration value is invalid; the message names the variable and what is wrong."""

    def __init__(self, error: ValidationError | str) -> None:
        if isinstance(error, str):
            super().__init__(f"Invalid configuration: {error}")
            return
        problems = "; ".join(
            f"RAPPORT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        super().__init__(f"Invalid configuration: {problems}")


class TokenSpec(BaseModel):
    """One API token: its SHA-256 digest, what it may do and, optionally, whose clients it sees.

    ``owner`` restricts every client endpoint to clients whose owner matches it: either the owner's
    email (case-insensitive) or the slug of their name (``"Mei Chen"`` → ``mei-chen``), the same
    value the ``owner`` metrics label carries.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
    scopes: tuple[Scope, ...] = Field(min_length=1)
    owner: Annotated[str, Field(min_length=1, max_length=254)] | None = None

    @field_validator("sha256")
    @classmethod
    def _lower(cls, digest: str) -> str:
        return digest.lower()


class WebhookSpec(BaseModel):
    """A webhook that receives every alert notice: a name, its URL (a secret: Slack's path is its
    token) and its JSON shape (``slack``, ``teams`` or ``json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    url: SecretStr
    format: Literal["slack", "teams", "json"] = "json"


def _retention(value: Any) -> float | None:
    """``forever`` (or None) keeps the whole history; anything else is a duration."""
    if value is None or (isinstance(value, str) and value.strip() == "forever"):
        return None
    return parse_duration(value)


Retention = Annotated[float | None, BeforeValidator(_retention)]


class Settings(BaseSettings):
    """Where Rapport keeps its data and reads its rules, and how it serves them."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_", extra="forbid", frozen=True, validate_default=True
    )

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the store (SQLite file by default, or postgresql://…)",
    )
    rules_dir: Path = Field(default=Path("rules"), description="directory holding scorecard.yaml")
    host: str = Field(default="127.0.0.1", min_length=1, description="address `serve` binds to")
    port: int = Field(default=8000, ge=0, le=65535, description="port `serve` binds to (0: any)")
    tokens: tuple[TokenSpec, ...] = Field(
        default=(), description="API tokens (SHA-256 digests); none = open, loopback only"
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="largest request body accepted (bytes)"
    )
    max_rules_bytes: int = Field(
        default=MAX_RULES_BYTES,
        ge=1024,
        description="largest rules file read, or validate body accepted, before parsing (bytes)",
    )
    evaluate_interval: Duration = Field(
        default="15m",  # type: ignore[assignment]  # parsed by Duration's validator
        description="re-score everything this often even without new signals",
    )
    evaluate_debounce: Duration = Field(
        default="2s",  # type: ignore[assignment]
        description="after new signals, wait this long for more before re-scoring",
    )
    history_retention: Retention = Field(
        default="400d",  # type: ignore[assignment]
        description="delete stored scores older than this (each client keeps its newest older "
        "one); at least 31d, which the 30-day score changes read; `forever`: keep everything",
    )
    history_epsilon: float = Field(
        default=1e-6,
        ge=0.0,
        description="a score or component number moving less than this writes no history row",
    )
    watch_rules: bool = Field(default=True, description="reload rules when files change")
    access_log: bool = Field(default=False, description="`serve` logs one line per HTTP request")
    metrics_detail: bool = Field(
        default=False,
        description="/metrics adds per-component and per-signal-kind series (~4x the samples)",
    )
    # --- notifications (rapport.api.notify) ---
    smtp_url: str | None = Field(
        default=None,
        description="smtp://[user@]host[:587][?starttls=true] or smtps://host; unset: .eml files",
    )
    smtp_password: SecretStr | None = Field(default=None, description="the SMTP user's password")
    smtp_ca_file: Path | None = Field(
        default=None, description="CA bundle to trust for SMTP instead of the system's"
    )
    smtp_from: str = Field(
        default="rapport@localhost.localdomain", description="From address of alert emails"
    )
    outbox_dir: Path = Field(
        default=Path("data/outbox"), description="where .eml files go without SMTP"
    )
    validation_report: Path = Field(
        default=Path("data/validation.html"),
        description="where `rapport validate` writes its HTML report (served at /validation)",
    )
    public_url: str | None = Field(
        default=None, description="base URL of this service in email links (default: host:port)"
    )
    grafana_url: str | None = Field(default=None, description="Grafana base URL for board links")
    session_secret: SecretStr | None = Field(
        default=None,
        description="key signing the pages' sign-in cookies; unset: a random one per process, so "
        "sessions end when the process restarts and are not shared between replicas",
    )
    webhooks: tuple[WebhookSpec, ...] = Field(default=(), description="webhooks for alert notices")
    quiet_hours: (
        Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")] | None
    ) = Field(default=None, description="HH:MM-HH:MM in each recipient's zone: defer email")
    digest_hour: int | None = Field(
        default=None, ge=0, le=23, description="send each PM one digest email at this local hour"
    )
    outbox_max_attempts: int = Field(default=8, ge=1, description="attempts before failing")
    outbox_backoff: float = Field(
        default=30.0, gt=0, description="seconds before the first retry (doubling after)"
    )
    config_file: Path | None = Field(default=None, description="YAML file with these settings")
    secrets_dir: Path | None = Field(default=None, description="directory of rapport_<field> files")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite://, postgresql:// or postgresql+psycopg://")
        problem = port_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url

    @field_validator("history_retention")
    @classmethod
    def _covers_deltas(cls, retention: float | None) -> float | None:
        if retention is not None and retention < 31 * 86400:
            raise ValueError("must be at least 31d: the 30-day score changes read that far back")
        return retention

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: overrides, then secrets, then the environment, then the config file.
        return (
            init_settings,
            file_secret_settings,
            env_settings,
            _ConfigFileSource(settings_cls, init_settings),
        )


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by the ``config_file`` override or RAPPORT_CONFIG_FILE."""

    def __init__(self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._init = init

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        given = self._init.init_kwargs if isinstance(self._init, InitSettingsSource) else {}
        path = given.get("config_file") or os.environ.get("RAPPORT_CONFIG_FILE")
        if not path:
            return {}
        return read_config_file(Path(path))


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings mapping in ``path`` (``version: 1`` optional); SettingsError when unusable."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"cannot read config file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"config file {path} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a mapping of settings")
    version = data.pop("version", 1)
    if version != 1:
        raise SettingsError(f"config file {path}: unsupported version {version!r} (supported: 1)")
    return {str(k): v for k, v in data.items()}


def load_settings(**overrides: Any) -> Settings:
    """Settings from every source, with explicit (e.g. CLI flag) ``overrides`` on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    secrets = given.get("secrets_dir") or os.environ.get("RAPPORT_SECRETS_DIR")
    extra: dict[str, Any] = {}
    if secrets:
        if not Path(secrets).is_dir():
            raise SettingsError(f"RAPPORT_SECRETS_DIR: {secrets} is not a directory")
        extra["_secrets_dir"] = Path(secrets)
    try:
        return Settings(**given, **extra)
    except ValidationError as error:
        raise SettingsError(error) from None
    except SourceError as error:  # a source could not decode a value, e.g. RAPPORT_TOKENS='[{'
        raise SettingsError(_undecodable(error)) from None


_SOURCE_ERROR = re.compile(r'field "(?P<field>\w+)" from source "(?P<source>\w+)"')


def _undecodable(error: SourceError) -> str:
    """pydantic-settings' "error parsing value for field …" as the variable or file to fix."""
    found = _SOURCE_ERROR.search(str(error))
    if found is None:
        return str(error)
    field, source = found["field"], found["source"]
    where = (
        f"the secrets file rapport_{field}"
        if source.startswith("Secrets")
        else f"RAPPORT_{field.upper()}"
    )
    cause = error.__cause__
    detail = f" ({cause})" if cause is not None else ""
    return f"{where}: not valid JSON{detail}"


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data with secrets masked (for ``rapport config show``)."""
    data = settings.model_dump(mode="json")
    data["database_url"] = mask_url(settings.database_url)
    data["evaluate_interval"] = format_duration(settings.evaluate_interval)
    data["evaluate_debounce"] = format_duration(settings.evaluate_debounce)
    retention = settings.history_retention
    data["history_retention"] = "forever" if retention is None else format_duration(retention)
    data["tokens"] = [{**token, "sha256": "***"} for token in data.get("tokens", [])]
    return data
