"""A scorecard may add attributes to a built-in kind (``signals: {milestone: {attrs: [phase]}}``)
and filter on them: validation accepts them, and both engines filter on them alike.

Hand-computed as of AS_OF, missed beta milestones in the last 365 days:

====== ===================================================== =====
client milestones                                            count
====== ===================================================== =====
c0     beta open 10d past due, ga open 5d past due           1
c1     beta open 3d past due, beta delivered 2d late,        2
       beta delivered on time
====== ===================================================== =====
"""

from __future__ import annotations

from pathlib import Path

from scorer_builders import Score, ev, signal_set

from rapport.engine.loader import load_scorecard

SCORECARD = """\
version: 1
grades:
  - {name: healthy, min: 75, color: green}
  - {name: at_risk, min: 0, color: red}
signals:
  milestone: {attrs: [phase]}
components:
  beta_missed:
    signal: milestone
    where: {phase: beta, missed: true}
    aggregate: count
    window: 365d
    weight: 1
    curve: {points: [[0, 0], [100, 100]]}
"""


def test_a_where_on_an_added_attribute_of_a_built_in_kind_counts_only_those_events(
    score: Score, tmp_path: Path
) -> None:
    path = tmp_path / "scorecard.yaml"
    path.write_text(SCORECARD, encoding="utf-8")
    scorecard = load_scorecard(path)  # refused as "shadows the built-in kind" before
    assert "phase" in scorecard.kind_spec("milestone").attrs  # type: ignore[union-attr]
    signals = signal_set(
        2,
        milestone=[
            ev(0, 10, phase="beta"),
            ev(0, 5, phase="ga"),
            ev(1, 3, phase="beta"),
            ev(1, 20, end=18, phase="beta"),
            ev(1, 30, end=31, phase="beta"),
        ],
    )
    result = score(scorecard, signals, 2)
    assert [float(v) for v in result.raw[:, 0]] == [1.0, 2.0]
