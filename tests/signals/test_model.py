"""The signal and client models at Rapport's boundary: what each kind accepts, how it is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from pydantic import ValidationError

from rapport.engine.kinds import BUILTIN_KINDS
from rapport.signals.model import (
    BUILTIN_SIGNALS,
    CUSTOM_SIGNAL,
    SIGNAL_TAGS,
    TIME_FIELDS,
    Client,
    IncidentSignal,
    Instant,
    KindTableError,
    MilestoneSignal,
    OutcomeSignal,
    ResponseTimeSignal,
    SignalModel,
    StoredAs,
    StoredSignal,
    SurveySignal,
    kind_table,
    parse_signal,
)

BASE = {"event_id": "e1", "client": "acme"}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param(
            {"kind": "response_time", "ts": "2026-06-01T09:00:00+02:00", "value": 3.5,
             "channel": "email"},
            {"ts": datetime(2026, 6, 1, 7, tzinfo=UTC), "value": 3.5,
             "attrs": {"channel": "email"}},
            id="a response time keeps its hours and is stored in UTC",
        ),
        pytest.param(
            {"kind": "milestone", "due": "2026-06-15", "delivered_at": "2026-06-15T18:00:00Z"},
            {"ts": datetime(2026, 6, 16, tzinfo=UTC), "end": datetime(2026, 6, 15, 18, tzinfo=UTC)},
            id="a bare due date means the end of that day",
        ),
        pytest.param(
            {"kind": "survey", "ts": "2026-06-01T09:00:00", "value": 4, "scale": "csat"},
            {"ts": datetime(2026, 6, 1, 9, tzinfo=UTC), "value": 4.0, "attrs": {"scale": "csat"}},
            id="a naive time is read as UTC",
        ),
        pytest.param(
            {"kind": "incident", "severity": "sev1", "opened_at": "2026-06-01T09:00:00Z"},
            {"ts": datetime(2026, 6, 1, 9, tzinfo=UTC), "end": None,
             "attrs": {"severity": "sev1"}},
            id="an incident without resolved_at is open",
        ),
        pytest.param(
            {"kind": "overdue_invoices", "ts": "2026-06-01T00:00:00Z", "value": 2,
             "attrs": {"currency": "EUR"}},
            {"value": 2.0, "attrs": {"currency": "EUR"}},
            id="a custom kind keeps its value and attributes",
        ),
    ],
)  # fmt: skip
def test_each_kind_flattens_to_one_stored_row(
    given: dict[str, Any], stored: dict[str, Any]
) -> None:
    row = parse_signal({**BASE, **given}).to_stored()
    assert isinstance(row, StoredSignal)
    assert row.kind == given["kind"]
    for field, value in stored.items():
        assert getattr(row, field) == value, field


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param({"kind": "survey", "ts": "2026-06-01T00:00:00Z", "value": 11},
                     "value 11 is outside the nps scale 0..10", id="an NPS answer above 10"),
        pytest.param({"kind": "survey", "ts": "2026-06-01T00:00:00Z", "value": 3, "scale": "7..1"},
                     "unknown survey scale '7..1'", id="a reversed range scale"),
        pytest.param({"kind": "incident", "severity": "sev1", "opened_at": "2026-06-02T00:00:00Z",
                      "resolved_at": "2026-06-01T00:00:00Z"},
                     "resolved_at is before opened_at", id="an incident resolved before it opened"),
        pytest.param({"kind": "incident", "severity": "critical",
                      "opened_at": "2026-06-02T00:00:00Z"},
                     "severity", id="an unknown severity"),
        pytest.param({"kind": "response_time", "ts": "2026-06-01T00:00:00Z", "value": "fast"},
                     "value", id="a word where hours belong"),
        pytest.param({"kind": "response_time", "ts": "2026-06-01T00:00:00Z", "value": -1},
                     "greater than or equal to 0", id="negative hours"),
        pytest.param({"kind": "milestone", "due": "9999-12-31"},
                     "date is out of range", id="a due date with no end of day"),
        pytest.param({"kind": "milestone", "due": "0001-01-01T00:00:00+14:00"},
                     "date-time is out of range", id="a time before the first UTC instant"),
        pytest.param({"kind": "survey", "ts": "2026-06-01T00:00:00Z", "value": 5, "extra": 1},
                     "Extra inputs are not permitted", id="an unknown field"),
    ],
)  # fmt: skip
def test_bad_signals_are_refused_with_the_reason(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_signal({**BASE, **given})
    assert message in str(raised.value)


def test_client_ids_and_owner_emails_are_checked() -> None:
    Client(id="acme-1.eu", name="Acme", owner={"name": "Mei", "email": "mei@example.com"})
    with pytest.raises(ValidationError):
        Client(id="acme corp", name="Acme")
    with pytest.raises(ValidationError):
        Client(id="acme", name="Acme", owner={"name": "Mei", "email": "not-an-email"})


# --- the table of kinds ---------------------------------------------------------------------------


class UptimeSignal(SignalModel):
    """A kind with a model but no entry in the engine's table."""

    stored_as = StoredAs(value="value")

    kind: Literal["uptime"]
    ts: Instant
    value: float
    region: str | None = None


class ReplyWithoutThread(SignalModel):
    """``response_time`` missing an attribute the engine lets rules filter on."""

    stored_as = StoredAs(value="value")

    kind: Literal["response_time"]
    ts: Instant
    value: float
    channel: str = "other"


@pytest.mark.parametrize(
    ("models", "message"),
    [
        pytest.param((UptimeSignal,), "signal kind uptime: is not in engine.kinds.BUILTIN_KINDS",
                     id="a kind the engine does not know should fail"),
        pytest.param((ReplyWithoutThread,),
                     "signal kind response_time: model attributes ('channel',) != engine attrs "
                     "('channel', 'thread')",
                     id="a model whose attributes differ from the engine's should fail"),
        pytest.param((ResponseTimeSignal, MilestoneSignal, SurveySignal, OutcomeSignal),
                     "signal kind incident: has no signal model",
                     id="a table without every built-in kind should fail"),
    ],
)  # fmt: skip
def test_a_kind_table_that_disagrees_with_the_engine_is_refused(
    models: tuple[type[SignalModel], ...], message: str
) -> None:
    with pytest.raises(KindTableError) as raised:
        kind_table(*models)
    assert str(raised.value) == message


def test_stored_as_naming_no_field_fails_when_the_class_is_built() -> None:
    with pytest.raises(
        KindTableError, match=r"^signal kind Typo: stored_as names no field \['tss'\]"
    ):

        class Typo(SignalModel):
            stored_as = StoredAs(ts="tss")

            kind: Literal["typo"]
            ts: Instant


def test_the_table_holds_every_built_in_kind_with_the_engine_attributes() -> None:
    assert list(BUILTIN_SIGNALS) == list(BUILTIN_KINDS)
    for name, kind in BUILTIN_SIGNALS.items():
        assert kind.attrs == BUILTIN_KINDS[name].attrs, name
    assert (*BUILTIN_KINDS, "custom") == SIGNAL_TAGS


@pytest.mark.parametrize(
    ("kind", "fields", "required", "times"),
    [
        pytest.param(BUILTIN_SIGNALS["response_time"], ("ts", "value", "channel", "thread"),
                     {"ts", "value"}, ("ts",), id="a response time is read off its model"),
        pytest.param(BUILTIN_SIGNALS["milestone"], ("due", "delivered_at", "name", "project"),
                     {"due"}, ("due", "delivered_at"), id="a milestone is read off its model"),
        pytest.param(BUILTIN_SIGNALS["survey"], ("ts", "value", "scale", "survey"),
                     {"ts", "value"}, ("ts",), id="a survey is read off its model"),
        pytest.param(BUILTIN_SIGNALS["incident"], ("severity", "opened_at", "resolved_at",
                     "service"), {"severity", "opened_at"}, ("opened_at", "resolved_at"),
                     id="an incident is read off its model"),
        pytest.param(CUSTOM_SIGNAL, ("ts", "value"), {"ts", "value"}, ("ts",),
                     id="a custom kind's attributes are not fields of its own"),
    ],
)  # fmt: skip
def test_each_kinds_fields_are_derived_from_its_model(
    kind: Any, fields: tuple[str, ...], required: set[str], times: tuple[str, ...]
) -> None:
    assert (kind.fields, kind.required, kind.times) == (fields, required, times)
    assert set(times) <= TIME_FIELDS


def test_the_stored_row_takes_the_fields_stored_as_names() -> None:
    incident = IncidentSignal(
        event_id="e1", client="acme", kind="incident", severity="sev2",
        opened_at=datetime(2026, 6, 1, tzinfo=UTC), resolved_at=datetime(2026, 6, 2, tzinfo=UTC),
    )  # fmt: skip
    assert incident.to_stored() == StoredSignal(
        "e1", "acme", "incident", datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2026, 6, 2, tzinfo=UTC), None, {"severity": "sev2"}, "manual",
    )  # fmt: skip
