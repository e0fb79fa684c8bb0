"""The client page's score chart, laid out on the server: points and grade bands in SVG user
units, which the template draws as inline ``<svg>`` (no script, no inline CSS, so the page's
Content-Security-Policy holds without exceptions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT = 720.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 40.0, 10.0, 10.0, 24.0


@dataclass(frozen=True)
class Band:
    """One grade's stretch of the scale, as a horizontal strip of the plot."""

    name: str
    minimum: float
    color: str
    y: float
    height: float
    label_y: float


@dataclass(frozen=True)
class Chart:
    """What the template draws: the line (``points``: "x,y x,y …"), the last point, grade bands,
    and the first and last dates under the axis."""

    points: str
    last: tuple[float, float] | None
    bands: list[Band]
    start: datetime | None
    end: datetime | None
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    bottom: float = HEIGHT - BOTTOM


def layout(
    history: Sequence[tuple[datetime, float | None]],
    grades: Sequence[tuple[str, float, str]],
    scale: tuple[float, float],
    window: tuple[datetime, datetime],
) -> Chart:
    """``history`` (instant, score; None scores are gaps left out) placed over ``window``, the
    y axis spanning ``scale``; ``grades`` are (name, min, colour), highest first as in the
    scorecard."""
    low, high = scale
    since, until = window
    span = max((until - since).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        share = (moment - since).total_seconds() / span
        return round(LEFT + share * (WIDTH - LEFT - RIGHT), 1)

    def y(value: float) -> float:
        share = (min(max(value, low), high) - low) / (high - low)
        return round(TOP + (1 - share) * (HEIGHT - TOP - BOTTOM), 1)

    scored = [(at, score) for at, score in history if score is not None]
    coords = [(x(at), y(score)) for at, score in scored]
    bands = []
    ceiling = high
    for name, minimum, color in grades:
        top, floor = y(ceiling), y(max(minimum, low))
        bands.append(Band(name, minimum, color, top, round(floor - top, 1), round(top + 12, 1)))
        ceiling = minimum
    return Chart(
        points=" ".join(f"{cx},{cy}" for cx, cy in coords),
        last=coords[-1] if coords else None,
        bands=bands,
        start=scored[0][0] if scored else None,
        end=scored[-1][0] if scored else None,
    )
