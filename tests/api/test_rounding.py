"""Scores, deltas and history points are answered to 2 decimals; the store keeps full precision."""

from __future__ import annotations

from datetime import timedelta

import pytest
from live_api import LiveServer, T, reply


def test_scores_deltas_and_history_are_answered_to_two_decimals(world: LiveServer) -> None:
    # globex had one 6h reply (40 points). Eight days later its 7d window holds replies of 1h,
    # 1h and 2h (the 6h one is outside it): mean 4/3 h → 100 − 10·4/3 = 86.666… points.
    world.clock.now = T + timedelta(days=8)
    world.store.upsert_signals(
        [
            reply("globex-r2", "globex", -(8 * 24 - 1), 1.0),
            reply("globex-r3", "globex", -(8 * 24 - 2), 1.0),
            reply("globex-r4", "globex", -(8 * 24 - 3), 2.0),
        ]
    )
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    rows = {i["id"]: i for i in world.call("GET", "/api/v1/clients").json()["items"]}
    assert rows["globex"]["score"] == 86.67
    assert rows["globex"]["delta_7d"] == 46.67  # 86.666… − 40
    detail = world.call("GET", "/api/v1/clients/globex").json()
    assert detail["score"] == 86.67
    history = world.call("GET", "/api/v1/clients/globex/history").json()["points"]
    assert [p["score"] for p in history] == [40.0, 86.67]
    assert history[-1]["components"]["responsiveness"] == 86.67
    stored = world.store.history("globex")[-1].score
    assert stored == pytest.approx(260 / 3) and stored != 86.67
