"""An alert's measured value and threshold in the words of what its condition measures.

An alert transition carries bare numbers: points for ``score``, ``drop`` and ``component``, a share
for ``coverage``, seconds since the source's last success for ``stale`` (infinite: never), and a
grade's rank for ``grade``. Shown bare they read "inf (threshold 172800)" or "1 (threshold 1)";
the alert email and the client page both show them through ``measured_texts``, each with its own
language's formatters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class MeasureFormats:
    """One language's formatters: ``number`` (points), ``percent`` (a 0-1 share), ``duration``
    (a ``timedelta``), ``grade`` (a grade name), and the word for a source that never succeeded."""

    number: Callable[[float], str]
    percent: Callable[[float], str]
    duration: Callable[[timedelta], str]
    grade: Callable[[str], str]
    never: str


def measured_texts(
    measure: str | None,
    value: float | None,
    threshold: float | None,
    *,
    formats: MeasureFormats,
    grades: tuple[str | None, str | None] = (None, None),
) -> tuple[str | None, str | None]:
    """``(value, threshold)`` as text for a condition measuring ``measure`` (a condition key;
    None: the rule is no longer known, so plain numbers). A ``grade`` condition's numbers are
    ranks: ``grades`` names them (the client's grade then, the rule's grade)."""
    if measure == "grade":
        then, rule = grades
        return _named(then, formats), _named(rule, formats)
    if measure == "stale":
        return _age(value, formats), _age(threshold, formats)
    show = formats.percent if measure == "coverage" else formats.number
    return _maybe(show, value), _maybe(show, threshold)


def _named(grade: str | None, formats: MeasureFormats) -> str | None:
    return None if grade is None else formats.grade(grade)


def _maybe(show: Callable[[float], str], value: float | None) -> str | None:
    return None if value is None or math.isnan(value) else show(value)


def _age(seconds: float | None, formats: MeasureFormats) -> str | None:
    if seconds is None or math.isnan(seconds):
        return None
    if math.isinf(seconds):
        return formats.never
    return formats.duration(timedelta(seconds=seconds))
