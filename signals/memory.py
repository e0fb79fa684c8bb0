"""The service's signal arrays, kept in memory and brought up to date from the store's change feed.

``SignalMemory.signal_set`` answers what ``Store.signal_set`` answers for an evaluation — the same
scores — without reading the whole table again. It holds what evaluations as of its *build*
instant or later can read (``Store.memory_build``: each kind the scorecard reads from its reach
on, whenever dated or recorded, so events that become visible later are already there; the
engine hides them until then). Before each answer it asks the change feed (``signals.seq``) which
clients had a signal of which kind written since it last looked — by this process's ingest and
collectors or by any other (``rapport import``, replicas) — and reloads those kinds of those
clients only, merged into the arrays in their (client, ts) place.

It rebuilds from the store when the clients, their segments or the reach (a rules change) differ
from what it was built for, when asked for an instant before its build (a replay), and once the
build is ``max_age`` old, so rows older than every window age out of memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from rapport.engine.frame import ABSENT, Categorical, ClientSet, IntArray, KindFrame, SignalSet
from rapport.engine.lookback import KindReach
from rapport.signals.frames import build_stale_masks
from rapport.signals.store import Store


@dataclass(frozen=True)
class _Built:
    clients: ClientSet
    reach: Mapping[str, KindReach]
    at: datetime
    frames: dict[str, KindFrame]
    position: int  # the change-feed number the arrays are up to date with
    last: dict[tuple[str, str], datetime]  # Store.last_signal_times, kept up to date too


class SignalMemory:
    """In-memory signal arrays for one store (thread-safe; see the module docstring)."""

    def __init__(self, store: Store, *, max_age: timedelta = timedelta(days=1)) -> None:
        self._store = store
        self._max_age = max_age
        self._lock = threading.Lock()
        self._built: _Built | None = None
        self.rebuilds = 0  # how many full loads, for tests and benchmarks

    def invalidate(self) -> None:
        """Drop the arrays: the next answer loads everything again."""
        with self._lock:
            self._built = None

    def signal_set(
        self,
        clients: ClientSet,
        reach: Mapping[str, KindReach],
        as_of: datetime,
        *,
        stale: Mapping[str, Iterable[str]] | None = None,
        covered: Mapping[str, Iterable[str]] | None = None,
    ) -> SignalSet:
        """The signals an evaluation of ``clients`` as of ``as_of`` by ``reach`` reads, up to
        date with every committed write."""
        with self._lock:
            built = self._built
            if (
                built is None
                or built.clients != clients
                or built.reach != reach
                or as_of < built.at
                or as_of - built.at > self._max_age
            ):
                built = self._build(clients, reach, as_of)
            else:
                built = self._sync(built)
            self._built = built
        masks, reach_masks = build_stale_masks(clients, stale), build_stale_masks(clients, covered)
        return SignalSet(built.frames, masks, reach_masks)

    def _build(self, clients: ClientSet, reach: Mapping[str, KindReach], at: datetime) -> _Built:
        # The position first: a write landing during the load is read again by the next sync.
        position = self._store.signal_feed_position()
        loaded, last = self._store.memory_build(clients, reach, at)
        self.rebuilds += 1
        return _Built(clients, reach, at, dict(loaded.kinds), position, last)

    def _sync(self, built: _Built) -> _Built:
        written, position = self._store.signal_changes(built.position)
        if not written:
            return built
        last = self._last_after(built.last, written)
        row_of = built.clients.rows
        changed: dict[str, list[str]] = {}  # kind -> its written clients that are scored
        for client, kind in written:
            if kind in built.reach and client in row_of:
                changed.setdefault(kind, []).append(client)
        if not changed:
            return _Built(built.clients, built.reach, built.at, built.frames, position, last)
        fresh = self._store.memory_signals(built.clients, built.reach, built.at, only=changed)
        frames = dict(built.frames)
        for kind, ids in changed.items():
            rows = np.asarray(sorted(row_of[c] for c in ids), dtype=np.int32)
            merged = replace_clients(frames.get(kind), fresh.kinds.get(kind), rows)
            if merged is not None and len(merged):
                frames[kind] = merged
            else:
                frames.pop(kind, None)
        return _Built(
            built.clients, built.reach, built.at, dict(sorted(frames.items())), position, last
        )

    def _last_after(
        self,
        last: Mapping[tuple[str, str], datetime],
        written: Mapping[tuple[str, str], float],
    ) -> dict[tuple[str, str], datetime]:
        """``last`` (``Store.last_signal_times``) after the rows ``written``: a (client, kind)
        whose newest written ``ts`` is at least its last is now at that ``ts`` (every other row
        is older); one written earlier may have been its newest row moved back, so its client
        is read again."""
        after = dict(last)
        unsure: set[str] = set()
        for key, ts in written.items():
            moment = datetime.fromtimestamp(ts, UTC)
            before = last.get(key)
            if before is None or moment >= before:
                after[key] = moment
            else:
                unsure.add(key[0])
        if unsure:
            after.update(self._store.last_signal_times(only=unsure))
        return after

    def last_signal_times(self) -> Mapping[tuple[str, str], datetime]:
        """``Store.last_signal_times()`` as of the latest ``signal_set`` answer (the store's
        own answer before the first). Not copied (400k entries at 100k clients): a sync makes
        a new mapping and never changes one it handed out."""
        built = self._built
        return built.last if built is not None else self._store.last_signal_times()


def replace_clients(
    old: KindFrame | None, new: KindFrame | None, rows: IntArray
) -> KindFrame | None:
    """``old`` with the rows of clients ``rows`` replaced by ``new`` (which holds only those
    clients). Both are ordered by client row; the result is too, ``new``'s rows in their order
    at each of its clients' place."""
    if old is None:
        return new
    keep = old.take(~np.isin(old.client, rows))
    if new is None or not len(new):
        return keep
    at = np.searchsorted(keep.client, new.client, side="left")
    names = sorted({*keep.attrs, *new.attrs})
    attrs = {name: _merge_attr(keep, new, name, at) for name in names}
    assert keep.recorded is not None and new.recorded is not None  # the store always has them
    return KindFrame(
        np.insert(keep.client, at, new.client),
        np.insert(keep.ts, at, new.ts),
        np.insert(keep.end, at, new.end),
        np.insert(keep.value, at, new.value),
        attrs,
        np.insert(keep.recorded, at, new.recorded),
    )


def _merge_attr(
    keep: KindFrame, new: KindFrame, name: str, at: npt.NDArray[np.intp]
) -> Categorical:
    """Attribute ``name`` of ``keep`` with ``new``'s rows inserted at ``at``; categories new to
    ``keep`` are appended (their order changes no score: rules match categories by text)."""
    absent_old = Categorical(np.full(len(keep), ABSENT, dtype=np.int32), ())
    absent_new = Categorical(np.full(len(new), ABSENT, dtype=np.int32), ())
    before, after = keep.attrs.get(name, absent_old), new.attrs.get(name, absent_new)
    index = {c: i for i, c in enumerate(before.categories)}
    for category in after.categories:
        index.setdefault(category, len(index))
    lut = np.array([index[c] for c in after.categories] + [ABSENT], dtype=np.int32)
    codes = np.insert(before.codes, at, lut[after.codes])
    return Categorical(codes, tuple(index))
