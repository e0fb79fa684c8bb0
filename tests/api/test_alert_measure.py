"""An alert's value and threshold read in what its condition measures, in both languages."""

from __future__ import annotations

import math

import pytest

from rapport.api.alert_measure import measured_texts
from rapport.api.pages.i18n import Texts

EN, ZH = Texts("en").measure_formats(), Texts("zh-CN").measure_formats()


@pytest.mark.parametrize(
    ("measure", "value", "threshold", "grades", "expected"),
    [
        pytest.param("score", 41.04, 50.0, (None, None), ("41", "50"),
                     id="a score is points, rounded to one decimal"),
        pytest.param("drop", 17.25, 15.0, (None, None), ("17.2", "15"),
                     id="a drop is points"),
        pytest.param("coverage", 0.35, 0.5, (None, None), ("35%", "50%"),
                     id="coverage is a share"),
        pytest.param("stale", math.inf, 172800.0, (None, None), ("never", "2 days"),
                     id="a source that never succeeded is never, not inf"),
        pytest.param("stale", 90000.0, 86400.0, (None, None), ("1 day", "1 day"),
                     id="a stale source's age reads as a duration"),
        pytest.param("grade", 1.0, 1.0, ("watch", "watch"), ("watch", "watch"),
                     id="a grade condition's ranks read as grade names"),
        pytest.param("grade", 2.0, 1.0, ("at_risk", None), ("at risk", None),
                     id="an unnamed grade rank is left out"),
        pytest.param(None, 41.0, 50.0, (None, None), ("41", "50"),
                     id="a rule no longer known shows its numbers"),
        pytest.param("score", math.nan, 50.0, (None, None), (None, "50"),
                     id="an unknown value is left out, never shown as nan"),
    ],
)  # fmt: skip
def test_values_read_in_the_unit_of_the_condition(
    measure: str | None,
    value: float,
    threshold: float,
    grades: tuple[str | None, str | None],
    expected: tuple[str | None, str | None],
) -> None:
    assert measured_texts(measure, value, threshold, formats=EN, grades=grades) == expected


def test_chinese_reads_durations_grades_and_never_in_chinese() -> None:
    assert measured_texts("stale", math.inf, 172800.0, formats=ZH) == ("从未成功", "2天")
    assert measured_texts("grade", 1.0, 1.0, formats=ZH, grades=("watch", "watch")) == (
        "需关注",
        "需关注",
    )
