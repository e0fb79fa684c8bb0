"""``collectors.yaml``: which sources Rapport pulls from, when, and how stale they may get.

::

    version: 1
    collectors:
      helpdesk:                          # the collector's id (used by `rapport collect helpdesk`)
        type: zendesk                    # a registered collector type
        schedule: {interval: 15m, jitter: 30s}     # or {cron: "*/15 * * * *"}
        max_staleness: 6h                # older last success → its kinds are stale for its clients
        backfill: 400d                   # a first run reads this much history (default: what
                                         # the scorecard reads for its kinds, at least)
        client_attribute: zendesk_org    # which Client.attrs key maps source ids (type default)
        clients: {"360001": acme}        # source id → client id, wins over the registry
        base_url: https://acme.zendesk.com          # ...then the type's own settings
        token_env: ZENDESK_TOKEN

The keys above ``base_url`` are common to every collector; the rest is validated with the type's
``Config`` model. Every problem is reported at once as ``path:line:col: key: message (hint)``.
Relative paths in a collector's settings are relative to this file.
"""

from __future__ import annotations

import builtins
import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)

import rapport.signals.collectors.builtin  # noqa: F401  (fills REGISTRY with every collector type)
from rapport.engine.errors import Finding, RapportError, RulesError
from rapport.engine.loader import check_model_text, read_rules_text
from rapport.engine.model import DURATION_SCHEMA, SUPPORTED_VERSIONS, Duration, parse_duration
from rapport.engine.shape_errors import translate_errors
from rapport.engine.yamlsource import Locator, format_key, parse_yaml
from rapport.signals.collectors.backfill import window_for
from rapport.signals.collectors.base import REGISTRY, Collector, CollectorConfig
from rapport.signals.model import ClientId

COLLECTORS_FILE = "collectors.yaml"
_COLLECTOR_ID = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
DEFAULT_MAX_STALENESS = 24 * 3600.0


def _keys_as_text(value: Any) -> Any:
    """YAML reads ``360001: acme`` with a number as the key; source ids are text."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


def _seconds_or_zero(value: Any) -> float:
    """Like ``Duration`` but ``0`` / ``"0s"`` is allowed (no jitter)."""
    if value in (0, "0", "0s"):
        return 0.0
    return parse_duration(value)


class Schedule(BaseModel):
    """When a collector runs: every ``interval`` or on a 5-field ``cron`` expression (UTC), each
    run delayed by up to ``jitter`` so replicas and collectors do not all fire at once; a run that
    could not start within ``misfire_grace`` of its time is skipped (the next one catches up)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval: Duration | None = None
    cron: str | None = None
    jitter: Annotated[
        float,
        BeforeValidator(_seconds_or_zero),
        WithJsonSchema({"anyOf": [DURATION_SCHEMA, {"enum": [0, "0", "0s"]}]}),
    ] = 30.0
    misfire_grace: Duration = 300.0

    @model_validator(mode="after")
    def _one_timing(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("a schedule needs exactly one of interval or cron")
        if self.cron is not None:
            try:
                CronTrigger(**cron_fields(self.cron), timezone=UTC)
            except ValueError as error:
                raise ValueError(f"invalid cron expression {self.cron!r}: {error}") from None
        return self


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_fields(expr: str) -> dict[str, str]:
    """A 5-field crontab expression → APScheduler 3 ``CronTrigger`` keyword arguments.

    APScheduler 3 numbers weekdays from Monday = 0 while cron uses Sunday = 0 (and 7), so numeric
    weekdays are rewritten as names (``1-5`` → ``mon-fri``); step values (``*/2``) are left alone.
    """
    values = expr.split()
    if len(values) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(values)}")
    minute, hour, day, month, weekday = values
    return {
        "minute": minute,
        "hour": hour,
        "day": day,
        "month": month,
        "day_of_week": _weekday_names(weekday),
    }


def _weekday_names(field: str) -> str:
    """A cron weekday field → the explicit list of day names it means (``*`` stays ``*``)."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if (step and not step.isdigit()) or step == "0":
            raise ValueError(f"invalid step in weekday field {field!r}")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            low, high = (_weekday(x, field) for x in span.split("-", 1))
        else:
            low = high = _weekday(span, field)
            high = 6 if step else high
        if low > high:
            raise ValueError(f"weekday range {span!r} runs backwards")
        days.update(d % 7 for d in range(low, high + 1, int(step or 1)))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def _weekday(text: str, field: str) -> int:
    name = text.strip().lower()
    if name.isdigit() and int(name) <= 7:
        return int(name)
    if name[:3] in _WEEKDAYS:
        return _WEEKDAYS.index(name[:3])
    raise ValueError(f"invalid weekday {text!r} in {field!r}")


class CommonSettings(BaseModel):
    """The keys every collector entry has besides its type's own settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    description: str = ""
    enabled: bool = True
    schedule: Schedule = Field(default_factory=lambda: Schedule.model_validate({"interval": "1h"}))
    max_staleness: Duration = DEFAULT_MAX_STALENESS
    client_attribute: str | None = Field(default=None, min_length=1)
    clients: Annotated[dict[str, ClientId], BeforeValidator(_keys_as_text)] = Field(
        default_factory=dict
    )
    max_pages: int = Field(default=100, ge=1, le=100_000)
    backfill: Duration | None = None


COMMON_KEYS = frozenset(CommonSettings.model_fields)


class CollectorsFile(BaseModel):
    """The file's outer shape; each entry is checked against its type afterwards."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    collectors: dict[str, Any] | None = Field(default_factory=dict)


@dataclass(frozen=True)
class CollectorSpec:
    """One configured collector, ready to run: the common settings and its type's ``Config``."""

    id: str
    type: str
    config: CollectorConfig
    schedule: Schedule
    max_staleness: float
    client_attribute: str | None
    overrides: Mapping[str, str]
    enabled: bool = True
    max_pages: int = 100
    description: str = ""
    #: ``backfill:`` as configured: a first run reads exactly this much history (None: derived)
    backfill: float | None = None
    #: the longest window the scorecard reads for this collector's kinds (set by ``with_backfill``)
    history_needed: float | None = None

    @property
    def collector_type(self) -> builtins.type[Collector]:
        return REGISTRY[self.type]

    @property
    def kinds(self) -> tuple[str, ...]:
        """The signal kinds this collector produces: its type's, or the configured ``kind``."""
        configured = getattr(self.config, "kind", None)
        return (configured,) if isinstance(configured, str) else self.collector_type.kinds

    def build(self) -> Collector:
        return self.collector_type(self.config)


class UnknownCollectorNameError(RapportError):
    def __init__(self, names: Sequence[str], known: Iterable[str], path: Path | None) -> None:
        where = f" in {path}" if path is not None else ""
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"No collector by the id of {', '.join(map(repr, names))}{where} (known: {listed})"
        )


@dataclass(frozen=True)
class CollectorsConfig:
    """A loaded ``collectors.yaml``: collectors by id, in file order."""

    collectors: Mapping[str, CollectorSpec] = field(default_factory=dict)
    path: Path | None = None

    def select(self, names: Sequence[str] | None = None) -> list[CollectorSpec]:
        """The named collectors (all enabled ones when ``names`` is empty); an unknown name raises
        ``UnknownCollectorNameError``. Naming a disabled collector runs it anyway."""
        if not names:
            return [spec for spec in self.collectors.values() if spec.enabled]
        unknown = [n for n in names if n not in self.collectors]
        if unknown:
            raise UnknownCollectorNameError(unknown, self.collectors, self.path)
        return [self.collectors[n] for n in dict.fromkeys(names)]

    def with_backfill(self, windows: Mapping[str, float]) -> CollectorsConfig:
        """This config with each collector's ``history_needed``: the longest of ``windows``
        (``backfill.kind_windows`` of the scorecard) over its kinds. The bundle calls it, so
        every runner of a loaded rules directory backfills what its scorecard reads."""
        specs = {
            cid: replace(spec, history_needed=window_for(spec.kinds, windows))
            for cid, spec in self.collectors.items()
        }
        return CollectorsConfig(specs, self.path)

    def only(self, names: Sequence[str] | None) -> CollectorsConfig:
        """This config narrowed to ``names`` (all of it when empty); named ones are enabled."""
        if not names:
            return self
        chosen = {spec.id: replace(spec, enabled=True) for spec in self.select(names)}
        return CollectorsConfig(chosen, self.path)


# --- validation -----------------------------------------------------------------------------------


def check_collectors_text(text: str, path: str) -> tuple[CollectorsConfig | None, list[Finding]]:
    """Validate a collectors file's text; returns the config, or None and every finding.

    The outer shape (``version`` first, then the top-level keys) is checked like every rules
    file; each entry is then checked on its own — its id, its ``type``, the common keys and the
    type's settings — so one file reports the problems of every entry together.
    """
    _, findings = check_model_text(text, path, CollectorsFile)
    parsed = parse_yaml(text, path)
    data = parsed.data
    if not isinstance(data, dict) or data.get("version") not in SUPPORTED_VERSIONS:
        return None, findings  # unreadable, or a version we do not read: nothing more to say
    entries = data.get("collectors") or {}
    if not isinstance(entries, dict):
        return None, findings
    base_dir = Path(path).parent
    specs: dict[str, CollectorSpec] = {}
    for cid, entry in entries.items():
        problems = _check_id(str(cid), parsed.locator, path)
        if not isinstance(entry, dict):
            where = ("collectors", cid)
            line, column = parsed.locator.locate(where)
            message = "expected a mapping of settings (type, schedule, …)"
            problems.append(Finding(path, line, column, format_key(where), message))
            spec = None
        else:
            spec, entry_problems = _check_entry(str(cid), entry, parsed.locator, path, base_dir)
            problems += entry_problems
        findings += problems
        if spec is not None and not problems:
            specs[str(cid)] = spec
    findings = sorted(set(findings))
    return (None if findings else CollectorsConfig(specs, Path(path))), findings


def _check_id(cid: str, locator: Locator, path: str) -> list[Finding]:
    if _COLLECTOR_ID.match(cid):
        return []
    line, column = locator.locate(("collectors", cid))
    hint = "use lowercase letters, digits, _ and -, starting with a letter"
    return [Finding(path, line, column, f"collectors.{cid}", f"invalid collector id {cid!r}", hint)]


def check_collectors_file(path: str | Path) -> list[Finding]:
    """Every finding in a collectors file (empty when it loads); for ``rapport rules check``."""
    text, findings = read_rules_text(Path(path))
    if text is None:
        return findings
    return check_collectors_text(text, str(path))[1]


def load_collectors_config(path: str | Path) -> CollectorsConfig:
    """The validated collectors file; raises ``RulesError`` with every finding."""
    text, findings = read_rules_text(Path(path))
    if text is None:
        raise RulesError(findings)
    config, findings = check_collectors_text(text, str(path))
    if config is None:
        raise RulesError(findings)
    return config


def _check_entry(
    cid: str, entry: dict[str, Any], locator: Locator, path: str, base_dir: Path
) -> tuple[CollectorSpec | None, list[Finding]]:
    where = ("collectors", cid)
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in REGISTRY:
        return None, [_type_finding(kind, where, locator, path)]
    config_cls = REGISTRY[kind].Config
    model = entry_model(kind, config_cls)
    try:
        model.model_validate(entry)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        found = translate_errors(errors, entry, model, _Subtree(locator, where), path)
        return None, [replace(f, key=_prefixed(where, f.key)) for f in found]
    common = CommonSettings.model_validate({k: v for k, v in entry.items() if k in COMMON_KEYS})
    config = _resolve_paths(
        config_cls.model_validate({k: v for k, v in entry.items() if k not in COMMON_KEYS}),
        base_dir,
    )
    attribute = common.client_attribute or _default_attribute(config, REGISTRY[kind])
    spec = CollectorSpec(
        id=cid,
        type=kind,
        config=config,
        schedule=common.schedule,
        max_staleness=common.max_staleness,
        client_attribute=attribute,
        overrides=dict(common.clients),
        enabled=common.enabled,
        max_pages=common.max_pages,
        description=common.description,
        backfill=common.backfill,
    )
    return spec, []


def _type_finding(kind: Any, where: tuple[str, str], locator: Locator, path: str) -> Finding:
    known = sorted(REGISTRY)
    if kind is None:
        line, column = locator.locate(where)
        return Finding(
            path,
            line,
            column,
            format_key(where),
            "required key 'type' missing",
            f"one of: {', '.join(known)}",
        )
    line, column = locator.locate((*where, "type"))
    close = difflib.get_close_matches(str(kind), known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"one of: {', '.join(known)}"
    return Finding(
        path, line, column, format_key((*where, "type")), f"unknown collector type {kind!r}", hint
    )


_ENTRY_MODELS: dict[str, type[BaseModel]] = {}


def entry_model(kind: str, config_cls: type[CollectorConfig]) -> type[BaseModel]:
    """The type's ``Config`` plus the common keys: one model, so an unknown key is checked (and
    spelled out in did-you-mean hints) against everything an entry of this type may say."""
    model = _ENTRY_MODELS.get(kind)
    if model is None or model.__base__ is not config_cls:
        fields: dict[str, Any] = {
            name: (info.annotation, info) for name, info in CommonSettings.model_fields.items()
        }
        model = create_model(f"{config_cls.__name__}Entry", __base__=config_cls, **fields)
        _ENTRY_MODELS[kind] = model
    return model


def _default_attribute(config: CollectorConfig, cls: type[Collector]) -> str | None:
    """A config may pick the attribute its ids map through (survey_csv: company vs email)."""
    chosen = getattr(config, "client_attribute_default", None)
    return chosen if isinstance(chosen, str) else cls.client_attribute


def _resolve_paths(config: CollectorConfig, base_dir: Path) -> CollectorConfig:
    """Relative ``Path`` settings → relative to the collectors file, whatever the working dir."""
    updates = {
        name: Path(os.path.normpath(base_dir / value))
        for name in type(config).model_fields
        if isinstance(value := getattr(config, name), Path) and not value.is_absolute()
    }
    return config.model_copy(update=updates) if updates else config


def _prefixed(where: tuple[str, ...], key: str) -> str:
    return format_key(where) + (f".{key}" if key and not key.startswith("[") else key)


class _Subtree(Locator):
    """A locator for one entry's data: paths are looked up below ``prefix`` in the whole file."""

    def __init__(self, whole: Locator, prefix: tuple[str | int, ...]) -> None:
        self._whole = whole
        self._prefix = prefix

    def locate(self, loc: Sequence[str | int]) -> tuple[int, int]:
        return self._whole.locate((*self._prefix, *loc))

    def exists(self, loc: Sequence[str | int]) -> bool:
        return self._whole.exists((*self._prefix, *loc))
