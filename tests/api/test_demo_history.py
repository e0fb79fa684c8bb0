"""``rapport demo`` and ``serve --demo`` seed a score history by as-of replay, so that history,
trends and 7d/30d deltas show on the first run."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from live_api import Clock
from typer.testing import CliRunner

from rapport.api.app import build_service
from rapport.api.cli import app
from rapport.api.commands.serve import seed_demo
from rapport.api.settings import Settings
from rapport.signals.demo import history_instants
from rapport.signals.store import Store

RULES = Path(__file__).resolve().parents[2] / "rules"
END = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def test_history_instants_are_weekly_then_daily_for_the_last_30_days() -> None:
    instants = history_instants(END)
    assert END - timedelta(days=180) <= instants[0] < END - timedelta(days=173)
    assert instants[-30:] == [END - timedelta(days=k) for k in range(30, 0, -1)]
    gaps = {b - a for a, b in pairwise(instants)}
    assert gaps == {timedelta(days=7), timedelta(days=1)}, gaps


def test_demo_stores_a_history_with_deltas_and_a_visible_drop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    result = CliRunner().invoke(
        app, ["--database-url", url, "--rules-dir", str(RULES), "demo", "--as-of",
              END.isoformat(), "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with Store.open(url) as store:
        # One stored score per replayed instant, then the demo's own evaluation at END.
        history = store.history("harbor-health-group")  # slipping_responsiveness
        assert [p.as_of for p in history] == [*history_instants(END), END]
        week_ago = store.latest_score("harbor-health-group", before=END - timedelta(days=7))
        month_ago = store.latest_score("harbor-health-group", before=END - timedelta(days=30))
    assert week_ago is not None and month_ago is not None
    assert history[-1].score is not None and month_ago.score is not None
    assert history[-1].score < month_ago.score - 5, "its slipping replies show as a drop"


def test_serve_demo_seeds_the_same_history(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    url = f"sqlite:///{tmp_path}/serve.db"
    with Store.open(url) as store:
        service = build_service(
            Settings(database_url=url, rules_dir=rules), store=store, clock=Clock(END)
        )
        seed_demo(service)
        assert len(store.history("northwind-logistics")) == len(history_instants(END))
