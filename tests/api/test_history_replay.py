"""``rapport history --replay``: the stored history of a window rebuilt by the current rules, one
evaluation per step, each row marked with the version of the rules that produced it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from live_api import DATA, world_clients, world_signals
from typer.testing import CliRunner

from rapport.api.bundle import load_bundle
from rapport.api.cli import app
from rapport.signals.store import Store

END = datetime(2026, 6, 30, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/rapport.db"
    # Signals known two weeks before they are dated: every replayed instant sees them.
    with Store.open(url, clock=lambda: END - 14 * DAY) as store:
        store.upsert_clients(world_clients())
        store.upsert_signals(world_signals())
    return url


def rapport(url: str, *args: str):  # type: ignore[no-untyped-def]
    rules = str(DATA / "rules")
    return CliRunner().invoke(app, ["--database-url", url, "--rules-dir", rules, *args])


def test_replay_replaces_the_window_and_keeps_what_is_outside_it(store_url: str) -> None:
    for moment in (END - 10 * DAY, END - DAY):  # one score before the window, one inside it
        assert rapport(store_url, "score", "--as-of", moment.isoformat()).exit_code == 0
    result = rapport(store_url, "history", "--replay", "--days", "2", "--as-of", END.isoformat())
    assert result.exit_code == 0, result.output
    version = load_bundle(DATA / "rules").version
    assert result.output == (
        f"replayed 3 instants × 4 clients with rules {version}: 12 scores written, 4 replaced\n"
    )
    with Store.open(store_url) as store:
        history = store.history("acme")
    assert [r.as_of for r in history] == [END - 10 * DAY, END - 2 * DAY, END - DAY, END]
    assert all(r.rules_version == version for r in history)


def test_a_replayed_score_is_the_score_of_its_instant(store_url: str) -> None:
    replay = rapport(store_url, "history", "--replay", "--days", "1", "--as-of", END.isoformat())
    assert replay.exit_code == 0, replay.output
    with Store.open(store_url) as store:
        replayed = {r.as_of: r for r in store.history("acme")}
    scored = rapport(store_url, "score", "--as-of", END.isoformat(), "--format", "json")
    acme = next(r for r in json.loads(scored.output) if r["client"] == "acme")
    assert replayed[END].score == acme["score"]
    assert replayed[END].components.keys() == acme["components"].keys()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history"], "give a CLIENT to show its history, or --replay"),
        (["history", "acme", "--replay"], "--replay rebuilds every client's history"),
        (["history", "--replay", "--days", "-1"], "--days must be 0 or more"),
    ],
    ids=["neither a client nor --replay", "a client with --replay", "a negative window"],
)
def test_history_usage_errors_exit_2(store_url: str, args: list[str], message: str) -> None:
    result = rapport(store_url, *args)
    assert result.exit_code == 2
    assert message in result.output
