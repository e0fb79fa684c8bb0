"""Turning a provider's records into signals: typed field access that fails per item, and the
loop that keeps the rest of a page when one item is malformed.

A connector's converter raises ``ItemError`` for an item it cannot use (a missing or mistyped
field, a signal the typed models refuse); ``convert_items`` logs it through
``FetchContext.log_skip`` with the reason and carries on with the next item. A whole page of the
wrong shape is a ``CollectorError`` instead (``page_items``): that is a broken source, not a bad
item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from rapport.engine.errors import RapportError
from rapport.signals.collectors.base import CollectorError, FetchContext
from rapport.signals.model import StoredSignal, ZoneLookup, parse_signal

T = TypeVar("T")


class ItemError(RapportError):
    """One item of a page cannot become a signal; it is skipped and the rest of the page kept."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


_MISSING = object()


def pluck(item: Any, path: str) -> Any:
    """``item["a"]["b"]`` for ``path="a.b"``; a missing key is an ``ItemError``."""
    value = item
    for key in path.split("."):
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            raise ItemError(f"missing field {path!r}")
    return value


def require(item: Any, path: str, kind: type[T] | tuple[type[T], ...]) -> T:
    """The value at ``path``, which must be present, non-null and of ``kind``."""
    value = pluck(item, path)
    if (
        value is None
        or not isinstance(value, kind)
        or (isinstance(value, bool) and kind is not bool)
    ):
        raise ItemError(f"field {path!r} is {_describe(value)}, expected {_kind_name(kind)}")
    return value


def optional(item: Any, path: str, kind: type[T] | tuple[type[T], ...]) -> T | None:
    """Like ``require`` but a missing or null value is None."""
    try:
        value = pluck(item, path)
    except ItemError:
        return None
    return None if value is None else require(item, path, kind)


def instant(value: Any, path: str) -> datetime:
    """An ISO 8601 string (``Z`` or offset; naive is UTC) or epoch seconds → aware UTC datetime."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ItemError(f"field {path!r} is not an ISO 8601 time: {value[:40]!r}") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ItemError(f"field {path!r} is not a usable epoch time: {value!r}") from None
    raise ItemError(f"field {path!r} is {_describe(value)}, expected a time")


def to_signal(data: dict[str, Any], zones: ZoneLookup | None = None) -> StoredSignal:
    """Validate ``data`` with the typed signal models (so a connector can never store a signal
    the push API would refuse) and flatten it, a bare date ending in the client's zone of
    ``zones`` (``FetchContext.clients.zones``); a validation failure is a ``ItemError``."""
    try:
        return parse_signal(data).to_stored(zones)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'][1:]) or 'signal'}: {e['msg']}"
            for e in error.errors()
        )
        raise ItemError(problems) from None


def page_items(body: Any, key: str, where: str, collector: str) -> list[Any]:
    """``body[key]`` as a list; a page without it is a broken source, not a bad item."""
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise CollectorError(collector, f"{where}: unexpected response: {key!r} is not a list")
    return items


def convert_items(
    items: Iterable[Any],
    convert: Callable[[Any], StoredSignal | None],
    label: Callable[[Any], str],
    context: FetchContext,
) -> list[StoredSignal]:
    """``convert`` every item; a ``ItemError`` is logged through ``context.log_skip`` under
    ``label(item)`` and skipped, None (no signal to make, e.g. unmapped) is dropped."""
    signals: list[StoredSignal] = []
    for item in items:
        try:
            signal = convert(item)
        except ItemError as bad:
            context.log_skip(label(item), bad.reason)
            continue
        if signal is not None:
            signals.append(signal)
    return signals


def labeller(prefix: str, key: str = "id") -> Callable[[Any], str]:
    """A ``label`` for ``convert_items``: ``prefix + item[key]`` or ``prefix + '?'``."""

    def label(item: Any) -> str:
        value = item.get(key) if isinstance(item, dict) else None
        return f"{prefix}{value if isinstance(value, str | int) else '?'}"

    return label


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return f"a {type(value).__name__} ({str(value)[:40]!r})"


def _kind_name(kind: type[Any] | tuple[type[Any], ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {"str": "a string", "int": "an integer", "float": "a number", "dict": "an object"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)
