"""The missed rule at its exact boundary, hand-computed, in both engines.

A milestone is missed as of T iff it was not delivered by its due instant: delivered after
``due``, or still open at T > due. A bare due date is the end of that day in the client's zone,
the next midnight there: due 2026-06-30 in Asia/Shanghai (UTC+8) is 2026-07-01T00:00+08:00 =
2026-06-30T16:00:00Z (epoch 1782835200). Not missed at that instant, missed one µs after.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scorer_builders import Score, card

from rapport.engine.frame import ClientSet, KindFrame, SignalSet

DUE = datetime(2026, 6, 30, 16, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def one_open_milestone(due: datetime) -> SignalSet:
    frame = KindFrame(
        client=np.array([0], dtype=np.int32),
        ts=np.array([due.timestamp()]),
        end=np.array([np.nan]),
        value=np.array([np.nan]),
    )
    return SignalSet({"milestone": frame}, {})


@pytest.mark.parametrize(
    ("as_of", "missed"),
    [
        pytest.param(DUE, 0.0, id="an open milestone is not missed at its due instant"),
        pytest.param(DUE + MICROSECOND, 1.0, id="it is missed one microsecond after"),
    ],
)
def test_the_missed_boundary_is_the_due_instant(
    score: Score, as_of: datetime, missed: float
) -> None:
    scorecard = card(
        {
            "missed": {
                "signal": "milestone",
                "aggregate": "count",
                "where": {"missed": True},
                "window": "365d",
            }
        }
    )
    clients = ClientSet.of(["yunfan"], [None])
    assert DUE.timestamp() == 1782835200.0
    result = score(scorecard, one_open_milestone(DUE), clients, as_of=as_of)
    assert float(result.raw[0, 0]) == missed
