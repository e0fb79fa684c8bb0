"""Curves: how a component's raw value becomes points, for every client at once.

A NaN value (missing data) gives NaN points; every other value gives points clipped to the scale.
"""

from __future__ import annotations

import numpy as np

from rapport.engine.frame import BoolArray, FloatArray
from rapport.engine.model import Band, Curve, Interval, Linear, Scale


def apply_curve(curve: Curve, scale: Scale, values: FloatArray) -> FloatArray:
    """Points for ``values`` under ``curve``, within ``[scale.min, scale.max]``; NaN stays NaN."""
    if curve.bands is not None:
        points = _bands(curve.bands, values)
    elif curve.points is not None:
        xs, ys = zip(*sorted(curve.points, key=lambda pair: pair[0]), strict=True)
        points = np.interp(values, xs, ys)
    else:
        assert curve.linear is not None  # a validated Curve has exactly one kind
        points = _linear(curve.linear, scale, values)
    return np.where(np.isnan(values), np.nan, np.clip(points, scale.min, scale.max))


def band_intervals(bands: tuple[Band, ...]) -> list[tuple[Interval, float]]:
    """``(interval, points)`` per band, ordered by the lower end (stable for equal ends)."""
    return sorted(((b.interval(), b.points) for b in bands), key=lambda band: band[0].low)


def _inside(interval: Interval, values: FloatArray) -> BoolArray:
    above_low = values >= interval.low if interval.low_closed else values > interval.low
    below_high = values <= interval.high if interval.high_closed else values < interval.high
    return np.asarray(above_low & below_high, dtype=bool)


def _bands(bands: tuple[Band, ...], values: FloatArray) -> FloatArray:
    """A value a band holds scores that band (the first one, were bands to overlap); a value in
    no band scores the nearest band (below the first → the first, above the last → the last)."""
    bounds = band_intervals(bands)
    out = np.full(len(values), np.nan)
    for interval, points in bounds:
        out[_inside(interval, values) & np.isnan(out)] = points
    outside = np.flatnonzero(np.isnan(out) & ~np.isnan(values))
    if outside.size:
        lows = np.array([interval.low for interval, _ in bounds])
        highs = np.array([interval.high for interval, _ in bounds])
        points_of = np.array([points for _, points in bounds])
        v = values[outside, None]
        distance = np.where(v < lows, lows - v, v - highs)
        out[outside] = points_of[np.argmin(distance, axis=1)]  # argmin: the first of equals
    return out


def _linear(linear: Linear, scale: Scale, values: FloatArray) -> FloatArray:
    """``best`` or better → ``scale.max``, ``worst`` or worse → ``scale.min``, either direction."""
    share = np.clip((values - linear.worst) / (linear.best - linear.worst), 0.0, 1.0)
    return scale.min + share * (scale.max - scale.min)
