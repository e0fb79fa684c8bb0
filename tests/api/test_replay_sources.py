"""What a replay knows of the sources at each instant (``api.rules_diff.sources_of``): read from
the collector runs finished by then — a collector is fresh after a success, stale once its
``max_staleness`` has passed, and says nothing before its first run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from rapport.api.bundle import load_bundle
from rapport.api.rules_diff import clients_of, sources_of
from rapport.signals.collector_state import RunRecord, record_run
from rapport.signals.model import Client
from rapport.signals.store import Store

RULES = Path(__file__).resolve().parents[2] / "rules"
RAN = datetime(2026, 6, 1, 6, tzinfo=UTC)
DAY = timedelta(days=1)


def test_sources_follow_the_runs_finished_by_each_instant(tmp_path: Path) -> None:
    bundle = load_bundle(RULES)  # helpdesk_exports: response_time, stale after 2 days
    registry = [Client(id="acme", name="Acme"), Client(id="bolt", name="Bolt")]
    with Store.open(f"sqlite:///{tmp_path}/r.db") as store:
        store.upsert_clients(registry)
        record_run(
            store,
            RunRecord("helpdesk_exports", RAN - timedelta(minutes=1), RAN, ok=True, items=2),
        )
        # Rows in another order, and carol, whom no collector serves (not in the registry).
        clients = clients_of(registry, bundle, ["bolt", "carol", "acme"])
        at = sources_of(store, bundle, store.clients(), clients)
        assert at is not None
        before, fresh, stale = at(RAN - DAY), at(RAN + DAY), at(RAN + 3 * DAY)
    assert "response_time" not in before.covered and "response_time" not in before.stale
    np.testing.assert_array_equal(fresh.covered["response_time"], [True, False, True])
    assert not fresh.stale.get("response_time", np.zeros(3, bool)).any()
    np.testing.assert_array_equal(fresh.source_age["response_time"], [86400.0, np.nan, 86400.0])
    np.testing.assert_array_equal(stale.stale["response_time"], [True, False, True])
    np.testing.assert_array_equal(
        stale.source_age["response_time"], [3 * 86400.0, np.nan, 3 * 86400.0]
    )


def test_a_bundle_without_collectors_says_nothing_of_sources(tmp_path: Path) -> None:
    bundle = load_bundle(Path(__file__).parent / "data" / "rules")
    with Store.open(f"sqlite:///{tmp_path}/r.db") as store:
        assert sources_of(store, bundle, [], clients_of([], bundle, [])) is None
