"""The push API's signal schemas are derived from the table of kinds, never typed again."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rapport.api.schemas import SignalBatch, parse_signal_in
from rapport.signals.model import BUILTIN_SIGNALS, CUSTOM_SIGNAL

KINDS = [*BUILTIN_SIGNALS.values(), CUSTOM_SIGNAL]


def test_the_batch_schema_offers_one_strict_model_per_kind_of_the_table() -> None:
    schema = SignalBatch.model_json_schema()
    union = schema["properties"]["signals"]["items"]["oneOf"]
    offered = {ref["$ref"].rsplit("/", 1)[1] for ref in union}
    assert offered == {kind.model.__name__.removesuffix("Signal") + "In" for kind in KINDS}
    for kind in KINDS:
        body = schema["$defs"][kind.model.__name__.removesuffix("Signal") + "In"]
        assert set(body["properties"]) == {*kind.model.model_fields}, kind.name


BASE = {"event_id": "e1", "client": "acme"}
WHEN = "2026-06-01T09:00:00Z"


@pytest.mark.parametrize(
    ("kind", "given", "field"),
    [
        pytest.param(kind.name, {**sample, name: 1700000000}, name,
                     id=f"a {kind.name} with an epoch number for {name} should fail")
        for kind, sample in [
            (BUILTIN_SIGNALS["response_time"], {"ts": WHEN, "value": 1.0}),
            (BUILTIN_SIGNALS["milestone"], {"due": WHEN, "delivered_at": WHEN}),
            (BUILTIN_SIGNALS["survey"], {"ts": WHEN, "value": 7}),
            (BUILTIN_SIGNALS["incident"], {"severity": "sev2", "opened_at": WHEN,
                                           "resolved_at": WHEN}),
            (CUSTOM_SIGNAL, {"ts": WHEN, "value": 1.0}),
        ]
        for name in kind.all_times
    ] + [
        pytest.param(name, {**sample, "value": "3.5"}, "value",
                     id=f"a {name} with its value as text should fail")
        for name, sample in [("response_time", {"ts": WHEN}), ("survey", {"ts": WHEN}),
                             ("overdue_invoices", {"ts": WHEN})]
    ],
)  # fmt: skip
def test_every_time_is_text_and_every_value_a_number(
    kind: str, given: dict[str, Any], field: str
) -> None:
    data = {**BASE, "kind": "overdue_invoices" if kind == "custom" else kind, **given}
    with pytest.raises(ValidationError) as raised:
        parse_signal_in(data)  # each item is validated on its own (a batch skips it)
    (problem,) = raised.value.errors()
    assert problem["loc"][-1] == field
