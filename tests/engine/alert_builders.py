"""Alert inputs for tests: a few clients' values at an instant, without running the scorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from rapport.engine.alert_rules import AlertRules
from rapport.engine.alerts import AlertInputs

T0 = datetime(2027, 1, 4, 12, tzinfo=UTC)
GRADES = ("healthy", "watch", "at_risk")
DAY = 86400.0


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def rules_of(rules: Mapping[str, Any], **top: Any) -> AlertRules:
    return AlertRules.model_validate({"version": 1, "rules": rules, **top})


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def inputs(
    when: datetime,
    score: Sequence[float | None],
    *,
    clients: Sequence[str] | None = None,
    grade: Sequence[float | None] | None = None,
    coverage: Sequence[float] | None = None,
    points: Mapping[str, Sequence[float | None]] | None = None,
    before: Mapping[float, Sequence[float | None]] | None = None,
    age: Mapping[str, Sequence[float | None]] | None = None,
    min_coverage: float = 0.5,
) -> AlertInputs:
    n = len(score)
    return AlertInputs(
        as_of=when,
        clients=tuple(clients or [f"c{i}" for i in range(n)]),
        score=_array(score),
        grade_rank=_array(grade if grade is not None else [None] * n),
        grade_names=GRADES,
        coverage=_array(coverage if coverage is not None else [1.0] * n),
        min_coverage=min_coverage,
        points={k: _array(v) for k, v in (points or {}).items()},
        score_before={k: _array(v) for k, v in (before or {}).items()},
        source_age={k: _array(v) for k, v in (age or {}).items()},
    )
