"""Per-client reductions of per-event numbers, without a loop over clients.

Every function takes ``groups`` (the client row of each event, events in frame order), the values
aligned with it and ``count`` (events per client, ``np.bincount(groups)``), and returns one float
per client; a client without events gets NaN (the caller decides what missing means). Sums use
``np.bincount``, extremes ``ufunc.at``; order statistics sort once per call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from rapport.engine.frame import BoolArray, FloatArray

#: The client row of each event.
Groups = npt.NDArray[np.integer[Any]]
#: Events per client.
CountArray = npt.NDArray[np.intp]


def sums(groups: Groups, values: FloatArray, count: CountArray) -> FloatArray:
    """Σ values per client (0 for a client without events)."""
    return np.asarray(np.bincount(groups, weights=values, minlength=len(count)), dtype=np.float64)


def per_event(total: FloatArray, count: CountArray) -> FloatArray:
    """``total / count``, NaN where ``count`` is 0."""
    out: FloatArray = np.divide(total, count, out=np.full(len(count), np.nan), where=count > 0)
    return out


def minima(groups: Groups, values: FloatArray, count: CountArray) -> FloatArray:
    """The smallest value per client."""
    low = np.full(len(count), np.inf)
    np.minimum.at(low, groups, values)
    return np.where(count > 0, low, np.nan)


def maxima(groups: Groups, values: FloatArray, count: CountArray) -> FloatArray:
    """The largest value per client."""
    high = np.full(len(count), -np.inf)
    np.maximum.at(high, groups, values)
    return np.where(count > 0, high, np.nan)


def percentiles(groups: Groups, values: FloatArray, count: CountArray, q: float) -> FloatArray:
    """The ``q``-th percentile per client, interpolated as ``numpy.percentile``'s default."""
    out = np.full(len(count), np.nan)
    has = count > 0
    if not has.any():
        return out
    flat, starts = _sorted_by_group(groups, values, count)
    n, start = count[has], starts[has]
    virtual = (n - 1) * (q / 100)
    below = np.floor(virtual)
    gamma = virtual - below
    low = below.astype(np.int64)
    a = flat[start + low]
    b = flat[start + np.minimum(low + 1, n - 1)]
    diff = b - a
    # numpy lerps from the nearer end, which keeps the result monotone in q
    out[has] = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    return out


def latest(
    groups: Groups, ts: FloatArray, values: FloatArray, count: CountArray, *, ordered: bool = False
) -> FloatArray:
    """The value of each client's event with the greatest ``ts``; a tie goes to the later row.
    ``ordered`` promises the events sorted by (client, ts): then that event ends its client's
    run, found in one pass instead of two scatters."""
    if ordered:
        ends = np.flatnonzero(groups[1:] != groups[:-1])
        last = np.append(ends, len(groups) - 1) if len(groups) else ends
        out = np.full(len(count), np.nan)
        out[groups[last]] = values[last]
        return out
    newest = np.full(len(count), -np.inf)
    np.maximum.at(newest, groups, ts)
    candidates = np.flatnonzero(ts == newest[groups])
    last = np.full(len(count), -1, dtype=np.intp)
    np.maximum.at(last, groups[candidates], candidates)
    out = np.full(len(count), np.nan)
    has = last >= 0
    out[has] = values[last[has]]
    return out


def trend(
    groups: Groups, x: FloatArray, y: FloatArray, count: CountArray
) -> tuple[FloatArray, BoolArray]:
    """Least-squares slope of ``y`` over ``x`` per client, and whether the client's ``x`` vary.

    Two passes (means first, then centred sums) so that a slope over timestamps far from zero does
    not drown in cancellation. A client whose events share one ``x`` has no slope (NaN).
    """
    size = len(count)
    anchor = np.full(size, np.nan)
    anchor[groups] = x  # whichever event lands here, any member of the group will do
    spread = np.bincount(groups, weights=x != anchor[groups], minlength=size) > 0
    dx = x - per_event(sums(groups, x, count), count)[groups]
    dy = y - per_event(sums(groups, y, count), count)[groups]
    sxx = sums(groups, dx * dx, count)
    slope = np.divide(sums(groups, dx * dy, count), sxx, out=np.full(size, np.nan), where=spread)
    return slope, spread


def _sorted_by_group(
    groups: Groups, values: FloatArray, count: CountArray
) -> tuple[FloatArray, CountArray]:
    """``values`` ordered by client, then value, and where each client's run starts.

    Each client's values go into a row padded with +inf, and rows of one width are sorted
    together (``sort(axis=1)``): far cheaper than one global two-key sort. A row's width is the
    smallest of 1, 2, 3, 4, 6, 8, 12, 16, 24… that holds the client's events, so padding stays
    under half the events however skewed the clients are, and a row is not padded to the widest
    client (sorting inf padding costs as much as sorting events).
    """
    if len(groups) > 1 and not bool(np.all(groups[1:] >= groups[:-1])):
        order = np.argsort(groups, kind="stable")
        groups, values = groups[order], values[order]
    widths = _row_widths(int(count.max(initial=0)))
    size = np.searchsorted(widths, np.arange(int(widths[-1]) + 1)).astype(np.uint8)
    bucket = size.take(count)  # per client, the index of its width
    width = widths.take(bucket)
    rows = np.argsort(bucket, kind="stable")  # rows of one width together, clients in order
    ends = np.cumsum(width[rows])
    row_start = np.empty(len(count), dtype=np.int64)
    row_start[rows] = ends - width[rows]
    table = np.full(int(ends[-1]) if len(ends) else 0, np.inf)
    # Sorted groups: event i is the (i - start of its group)-th of its group.
    starts = np.cumsum(count) - count
    table[np.arange(len(groups)) + (row_start - starts)[groups]] = values
    at = 0
    per_width = np.bincount(bucket, minlength=len(widths)).tolist()
    for w, n in zip(widths.tolist(), per_width, strict=True):
        if n and w > 1:
            table[at : at + n * w].reshape(n, w).sort(axis=1)
        at += n * w
    return table, row_start


def _row_widths(widest: int) -> npt.NDArray[np.int64]:
    """0, 1, 2, 3, 4, 6, 8, 12, 16, 24… up to the first at or above ``widest`` (< 256 of them)."""
    widths, step = [0, 1, 2, 3], 4
    while widths[-1] < widest:
        widths += [step, step * 3 // 2]
        step *= 2
    return np.array(widths, dtype=np.int64)
