"""Signals in the shapes exports naturally have, brought to the models' shape before validation.

``natural_signal`` accepts, for every kind:

- ``null`` as absent (at the top level and inside ``attrs``);
- a built-in kind's own fields nested in ``attrs`` (``{"attrs": {"scale": "nps"}}``): lifted out;
- attributes beyond the kind's own, flat (``"rev": "3"``) or nested: kept in ``attrs`` and stored
  with the row; a scalar number or boolean becomes its JSON text (``3`` → ``"3"``);
- a milestone's or incident's ``ts`` as its ``recorded_at``, when the model declares one.

A flat key close to one of the kind's fields (``severty``) is left where it is, so that validation
rejects it with "did you mean". ``fix_for`` gives the "use …" hint for a field's error.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from rapport.engine.validate import did_you_mean
from rapport.signals.model import COMMON_FIELDS, EXTRA_ATTRS, TIME_FIELDS, signal_kind

#: The field a milestone's or incident's ``ts`` is read as (when its model has it).
RECORDED_AT = "recorded_at"

#: How to write each field correctly, for the errors that remain.
_EXAMPLES = {
    "event_id": "a unique id of the event, e.g. event_id: ms-42",
    "client": "the client's id from clients.yaml, e.g. client: acme",
    "ts": "an ISO 8601 time such as ts: 2026-06-01T09:00:00Z",
    "due": "due: 2026-06-30 or an ISO 8601 time",
    "delivered_at": "delivered_at: 2026-06-30 or an ISO 8601 time, or leave it empty while open",
    "opened_at": "an ISO 8601 time such as opened_at: 2026-06-01T09:00:00Z",
    "resolved_at": "an ISO 8601 time, or leave it empty while open",
    "severity": "sev1, sev2, sev3 or sev4",
    "value": "a number, e.g. value: 9",
    "scale": "nps, csat or a range such as 1..7",
}


def natural_signal(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` in the models' shape (``item`` itself when it already is; it is never changed)."""
    kind = item.get("kind")
    own, known = _fields_of(kind if isinstance(kind, str) else "")
    if EXTRA_ATTRS not in item and known.issuperset(item) and None not in item.values():
        return _ts_as_recorded_at(item, own)  # already the models' shape: the usual row
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    nested = item.get(EXTRA_ATTRS)
    if isinstance(nested, dict):
        for name, value in nested.items():
            if value is None:
                continue
            if name in own and name != EXTRA_ATTRS and name not in item:
                out[name] = value
            else:
                extra[name] = _attr_text(value)
    elif nested is not None:
        out[EXTRA_ATTRS] = nested  # not a mapping: let validation say so
    for name, value in item.items():
        if value is None or name == EXTRA_ATTRS:
            continue
        if name in known or not _is_attr(name, value, own):
            out[name] = value
        else:
            extra[name] = _attr_text(value)
    if extra:
        out[EXTRA_ATTRS] = extra
    return _ts_as_recorded_at(out, own)


@cache
def _fields_of(kind: str) -> tuple[frozenset[str], frozenset[str]]:
    """A kind's own fields, and those with the common ones (cached: called once per row)."""
    own = frozenset(signal_kind(kind).model.model_fields)
    return own, own | frozenset(COMMON_FIELDS)


def _is_attr(name: str, value: Any, own: frozenset[str]) -> bool:
    """An unknown key is an attribute unless it looks like a misspelt field or is not a scalar."""
    if isinstance(value, dict | list):
        return False
    if name == "ts" or name in TIME_FIELDS:  # a time of another kind is a mistake, not an attribute
        return False
    return did_you_mean(name, sorted(own - {EXTRA_ATTRS}), cutoff=0.75) is None


def _attr_text(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return value


def _ts_as_recorded_at(item: dict[str, Any], own: frozenset[str]) -> dict[str, Any]:
    """A milestone's or incident's ``ts`` is when the event was recorded, if it can be stored."""
    if "ts" in item and "ts" not in own and RECORDED_AT in own and RECORDED_AT not in item:
        item = {**item, RECORDED_AT: item["ts"]}
        del item["ts"]
    return item


def fix_for(field: str) -> str | None:
    """How to write ``field`` correctly (``use …``), or None when there is nothing to add."""
    example = _EXAMPLES.get(field)
    return None if example is None else f"use {example}"
