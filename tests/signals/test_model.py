"""The signal and client models at Rapport's boundary: what each kind accepts, how it is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from rapport.signals.model import Client, StoredSignal, parse_signal

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
