"""``recorded_at``: when a signal first became known. Stamped on first insert, never moved by a
revision, and what the store's load query filters by — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rapport.engine.frame import ClientSet
from rapport.signals.importer import import_files
from rapport.signals.model import Client, StoredSignal, parse_signal
from rapport.signals.store import Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    """A settable clock for the store's stamps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[Store]:
    with Store.open(store_url, clock=clock) as opened:
        opened.upsert_clients([Client(id="acme", name="Acme")])
        yield opened


def milestone(delivered: datetime | None = None, recorded: datetime | None = None) -> StoredSignal:
    data = {"kind": "milestone", "event_id": "m-1", "client": "acme", "due": T0 - 5 * DAY}
    if delivered is not None:
        data["delivered_at"] = delivered
    if recorded is not None:
        data["recorded_at"] = recorded
    return parse_signal(data).to_stored()


def recorded_of(store: Store) -> datetime | None:
    (stored,) = store.client_signals("acme", ["milestone"], T0 + 100 * DAY)
    return stored.recorded_at


def test_without_a_recorded_at_the_store_stamps_its_first_insert(
    store: Store, clock: Clock
) -> None:
    assert store.upsert_signals([milestone()]).inserted == 1
    clock.now = T0 + 2 * DAY
    assert store.upsert_signals([milestone(delivered=T0 + DAY)]).updated == 1
    assert recorded_of(store) == T0


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(T0 + 9 * DAY, id="a revision with a later recorded_at keeps the first"),
        pytest.param(T0 - 9 * DAY, id="a revision with an earlier recorded_at keeps the first"),
    ],
)
def test_a_revision_keeps_the_first_recorded_at(store: Store, later: datetime) -> None:
    store.upsert_signals([milestone(recorded=T0 - DAY)])
    result = store.upsert_signals([milestone(delivered=T0, recorded=later)])
    assert result.updated == 1
    assert recorded_of(store) == T0 - DAY


def test_another_recorded_at_alone_is_no_change(store: Store) -> None:
    store.upsert_signals([milestone(recorded=T0 - DAY)])
    assert store.upsert_signals([milestone(recorded=T0)]).unchanged == 1
    assert recorded_of(store) == T0 - DAY


def test_within_one_batch_the_first_item_gives_recorded_at(store: Store) -> None:
    batch = [milestone(recorded=T0 - 2 * DAY), milestone(delivered=T0, recorded=T0 - DAY)]
    assert store.upsert_signals(batch).statuses == ("inserted", "updated")
    assert recorded_of(store) == T0 - 2 * DAY
    (stored,) = store.client_signals("acme", ["milestone"], T0 + DAY)
    assert stored.end == T0  # the last payload's fields, the first recorded_at


@pytest.mark.parametrize(
    ("until", "seen"),
    [
        pytest.param(T0 - DAY, 0, id="before it was recorded the store does not load it"),
        pytest.param(T0, 1, id="at the instant it was recorded the store loads it"),
    ],
)
def test_the_store_loads_only_signals_recorded_by_until(
    store: Store, until: datetime, seen: int
) -> None:
    store.upsert_signals([milestone()])  # due 5 days before T0, recorded at T0
    frame = store.signal_set(ClientSet.of(["acme"]), until=until).frame("milestone")
    assert len(frame) == seen
    assert len(store.client_signals("acme", ["milestone"], until)) == seen
    if seen:
        assert frame.recorded is not None and frame.recorded.tolist() == [T0.timestamp()]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param(
            "late.csv",
            "event_id,client,kind,due,recorded_at\n"
            "m-1,acme,milestone,2026-02-20,2026-02-27T00:00:00+01:00\n",
            id="a CSV recorded_at column is read as an ISO 8601 time",
        ),
        pytest.param(
            "late.jsonl",
            '{"event_id": "m-1", "client": "acme", "kind": "milestone", "due": "2026-02-20",'
            ' "recorded_at": "2026-02-26T23:00:00Z"}\n',
            id="a JSON Lines recorded_at field is read as an ISO 8601 time",
        ),
    ],
)
def test_an_import_keeps_the_files_recorded_at(
    store: Store, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    import_files(store, [path])
    assert recorded_of(store) == datetime(2026, 2, 26, 23, tzinfo=UTC)
