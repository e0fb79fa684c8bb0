"""The store's alerts part: states replaced atomically, notices recorded once by dedupe key,
silences created, listed, expired, and refused when they select nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect

from rapport.engine.alerts import AlertState, AlertTransition
from rapport.signals import alerts
from rapport.signals.alerts import NewSilence, UnknownSilenceError
from rapport.signals.store import Store

T = datetime(2027, 1, 4, 12, tzinfo=UTC)


def _notice(kind: str = "firing") -> AlertTransition:
    return AlertTransition(
        rule="low", client="acme", episode="20270104T120000Z", kind=kind, at=T,  # type: ignore[arg-type]
        severity="critical", labels={"severity": "critical"}, value=42.0, threshold=50.0,
        silenced=False, dedupe_key=f"low|acme|20270104T120000Z|{kind}|0",
    )  # fmt: skip


def test_states_and_notices_round_trip_and_a_notice_is_recorded_once(store: Store) -> None:
    state = AlertState("low", "acme", "firing", T, fired_at=T, last_notified=T, repeats=2)
    alerts.save_alerts(store, [state], [_notice()])
    alerts.save_alerts(store, [state], [_notice(), _notice("resolved")])
    assert alerts.load_states(store) == [state]
    assert [t.kind for t in alerts.alert_history(store)] == ["firing", "resolved"]
    assert alerts.alert_history(store)[0] == _notice()
    alerts.save_alerts(store, [], [])
    assert alerts.load_states(store) == []


def test_migrated_alert_tables_match_the_part(store: Store) -> None:
    inspector = inspect(store._engine)
    for table in alerts.metadata.tables.values():
        columns = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name: c.nullable for c in table.columns}, table.name


def test_silences_are_created_listed_and_expired(store: Store) -> None:
    new = NewSilence("acme", None, {}, "holiday", "alice")
    made = alerts.add_silence(store, new, T, T + timedelta(days=7))
    assert alerts.list_silences(store, active_at=T + timedelta(days=1)) == [made]
    ended = alerts.expire_silence(store, made.id, T + timedelta(days=2))
    assert ended.expires == T + timedelta(days=2)
    assert alerts.list_silences(store, active_at=T + timedelta(days=3)) == []
    assert alerts.list_silences(store) == [ended]


@pytest.mark.parametrize(
    ("client", "ends", "message"),
    [(None, T + timedelta(days=1), "needs a client"), ("acme", T, "must end after")],
    ids=["a silence selecting nothing is refused", "a silence ending as it starts is refused"],
)
def test_invalid_silences_are_refused(
    client: str | None, ends: datetime, message: str, store: Store
) -> None:
    with pytest.raises(ValueError, match=message):
        alerts.add_silence(store, NewSilence(client, None, {}, "r", "a"), T, ends)


def test_an_unknown_silence_is_a_named_error(store: Store) -> None:
    with pytest.raises(UnknownSilenceError, match="No silence by the id of 'nope' was found"):
        alerts.expire_silence(store, "nope", T)
