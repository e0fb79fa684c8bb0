"""The store's migrations form one line: unique revision ids, each revising the one before, one
head. Two branches that each add "the next" migration would otherwise both be 0005, and every
store would refuse to open ("Multiple head revisions"). And a migration keeps the rows it finds."""

from __future__ import annotations

import ast
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from pydantic import TypeAdapter
from sqlalchemy import create_engine, inspect, select, text

from rapport.signals import schema
from rapport.signals.model import StoredSignal
from rapport.signals.store import Store

VERSIONS = Path(__file__).resolve().parents[2] / "signals" / "migrations" / "versions"


def _revisions() -> dict[str, str | None]:
    """``{revision: down_revision}`` of every migration file, read with ast (nothing imported)."""
    found: dict[str, str | None] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        values: dict[str, str | None] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            named = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            if named and node.target.id in ("revision", "down_revision") and node.value:
                values[node.target.id] = ast.literal_eval(node.value)
        revision = values["revision"]
        assert revision is not None and revision not in found, f"{path.name}: {revision} again"
        assert path.name.startswith(f"{revision}_"), f"{path.name} holds revision {revision}"
        found[revision] = values["down_revision"]
    return found


def test_every_migration_revises_the_one_before_it_in_one_line() -> None:
    revisions = _revisions()
    ordered = sorted(revisions)
    assert revisions[ordered[0]] is None
    for before, after in itertools.pairwise(ordered):
        assert revisions[after] == before, f"{after} should revise {before}"


def _migrate_to(url: str, revision: str) -> None:
    """Migrate the empty store at ``url`` to ``revision`` only, as an older Rapport left it."""
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(VERSIONS.parent))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _stored_signals(store: Store) -> list[tuple[Any, ...]]:
    """(client, event_id, value, recorded_at) of every signal row, read behind the store."""
    table = schema.signals
    statement = select(table.c.client, table.c.event_id, table.c.value, table.c.recorded_at)
    with store._engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(statement))


def test_keying_signals_by_client_keeps_every_stored_row(store_url: str) -> None:
    _migrate_to(store_url, "0008")
    rows = [
        {"event_id": f"e{i}", "client": client, "kind": "response_time", "ts": 1.0e9 + i,
         "end_ts": None, "value": float(i), "attrs": "{}", "source": "manual",
         "ingested_at": 1.1e9, "recorded_at": 1.0e9 + i}
        for i, client in enumerate(["acme", "acme", "globex"])
    ]  # fmt: skip
    insert = text(
        f"INSERT INTO signals ({', '.join(rows[0])}) VALUES ({', '.join(f':{c}' for c in rows[0])})"
    )
    engine = create_engine(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert, rows)
    finally:
        engine.dispose()
    with Store.open(store_url) as store:  # upgrades to the newest revision
        assert _stored_signals(store) == sorted(
            (r["client"], r["event_id"], r["value"], r["recorded_at"]) for r in rows
        )
        key = inspect(store._engine).get_pk_constraint("signals")["constrained_columns"]
        assert key == ["client", "event_id"]
        # acme's e0 is still found by its key, and globex may now have an e0 of its own
        own = {"event_id": "e0", "client": "globex", "kind": "response_time",
               "ts": datetime.fromtimestamp(2.0e9, UTC), "value": 9.0}  # fmt: skip
        same = {**own, "client": "acme", "ts": datetime.fromtimestamp(1.0e9, UTC), "value": 0.0}
        result = store.upsert_signals(
            [TypeAdapter(StoredSignal).validate_python(d) for d in (own, same)]
        )
        assert result.statuses == ("inserted", "unchanged")
        assert [r[:3] for r in _stored_signals(store)] == [
            ("acme", "e0", 0.0), ("acme", "e1", 1.0), ("globex", "e0", 9.0), ("globex", "e2", 2.0),
        ]  # fmt: skip
