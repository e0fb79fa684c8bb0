"""The outbox store part on SQLite and PostgreSQL: dedupe on enqueue, due order, state moves."""

from __future__ import annotations

from sqlalchemy import inspect

from rapport.signals import outbox
from rapport.signals.store import Store


def entry(key: str, at: float = 100.0, digest: bool = False) -> outbox.NewEntry:
    return outbox.NewEntry(key, "smtp", "mei@example.org", "{}", digest, at)


def test_enqueue_keeps_the_first_of_each_key(store: Store) -> None:
    assert outbox.enqueue(store, [entry("a"), entry("b"), entry("a")], now=1.0) == 2
    assert outbox.enqueue(store, [entry("a"), entry("c")], now=2.0) == 1
    assert outbox.counts(store) == {"pending": 3, "sent": 0, "failed": 0}


def test_due_sent_retry_failed_and_retry_again(store: Store) -> None:
    outbox.enqueue(store, [entry("a", 100.0), entry("b", 200.0)], now=1.0)
    assert [e.key for e in outbox.due(store, 150.0)] == ["a"]
    outbox.mark_retry(store, ["a"], "451", next_attempt=300.0)
    assert [e.key for e in outbox.due(store, 250.0)] == ["b"]
    outbox.mark_sent(store, ["b"], now=250.0)
    outbox.mark_failed(store, ["a"], "550")
    [failed] = outbox.entries(store, "failed")
    assert (failed.key, failed.attempts, failed.last_error) == ("a", 2, "550")
    assert outbox.due(store, 1e9) == []
    assert outbox.retry_failed(store, now=400.0) == 1
    [again] = outbox.due(store, 400.0)
    assert (again.state, again.attempts) == ("pending", 0)
    outbox.mark_sent(store, ["a"], now=401.0)
    outbox.mark_retry(store, ["a"], "late", next_attempt=500.0)  # a sent entry stays sent
    assert outbox.counts(store) == {"pending": 0, "sent": 2, "failed": 0}


def test_the_migrated_table_matches_the_module(store: Store) -> None:
    inspector = inspect(store._engine)
    columns = {c["name"]: c["nullable"] for c in inspector.get_columns("outbox")}
    assert columns == {c.name: c.nullable for c in outbox.outbox.columns}
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("outbox")}
    assert indexes == {i.name: [c.name for c in i.columns] for i in outbox.outbox.indexes}
