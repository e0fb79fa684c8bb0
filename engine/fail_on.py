"""``--fail-on`` conditions of ``rapport rules diff``: ``METRIC OP NUMBER``, e.g.
``grade-changes>10`` or ``new-alerts >= 1`` (spaces optional). ``METRIC`` is one of ``METRICS``
(the figures of ``RulesDiff.counts``), ``OP`` one of ``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``.
A bad condition is a ``BadConditionError`` naming what is wrong and what is allowed. Pure.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches

from rapport.engine.errors import RapportError

#: Every metric a condition may name, and what it counts.
METRICS: Mapping[str, str] = {
    "clients-changed": "clients whose outcome differs in any way",
    "grade-changes": "clients graded differently now",
    "score-changes": "clients scored differently now",
    "max-score-diff": "largest score difference over the window, in points",
    "new-transitions": "grade transitions only under head",
    "gone-transitions": "grade transitions only under base",
    "new-alerts": "alerts firing only under head",
    "fewer-alerts": "alerts firing only under base",
}

OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}

_SHAPE = re.compile(r"^\s*([a-z][a-z-]*)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


class BadConditionError(RapportError):
    """A ``--fail-on`` condition that does not parse."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"--fail-on {text!r}: {reason}")


@dataclass(frozen=True)
class Condition:
    """``metric op threshold``, as written in ``text``."""

    text: str
    metric: str
    op: str
    threshold: float

    def holds(self, counts: Mapping[str, float]) -> bool:
        return OPERATORS[self.op](counts[self.metric], self.threshold)


def parse_condition(text: str) -> Condition:
    """The condition ``text`` states; ``BadConditionError`` when it states none."""
    found = _SHAPE.match(text)
    if found is None:
        ops = " ".join(OPERATORS)
        raise BadConditionError(
            text, f"expected METRIC OP NUMBER, e.g. grade-changes>10 (OP one of {ops})"
        )
    metric, op, number = found.groups()
    if metric not in METRICS:
        close = get_close_matches(metric, list(METRICS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise BadConditionError(
            text, f"unknown metric {metric!r} ({hint}known: {', '.join(METRICS)})"
        )
    return Condition(text.strip(), metric, op, float(number))
