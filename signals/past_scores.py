"""Each client's score as of a moving cutoff, kept up to date instead of read again: a part of the
store (``Store.scores_at``).

Every evaluation asks for every client's stored score 7 and 30 days before it (the changes), and
the alert rules once per drop window. Read from scratch that is one index probe per client — 0.4 s
on SQLite, 0.9 s on PostgreSQL at 100k clients — per cutoff, every evaluation. Between two
evaluations a cutoff moves a few minutes; the answer changes only by the rows whose ``as_of`` it
passed. So the answer per cutoff is kept with the newest row id seen, and brought forward by the
rows ``history.moved_past`` names: the ``as_of`` range passed, and every row written since (a
past instant stored by ``rapport score --as-of`` too), of registered clients (the read from
scratch names them all). Row ids grow in commit order: writers take the store's write lock before
they insert.

Exact, not approximate. A kept answer is dropped, and the next one read from scratch, when:
- the cutoff moved backwards;
- the registry changed (the answer covers registered clients only);
- rows were deleted from the history (a prune, a replay; ``history_epoch`` counts them, in any
  process): SQLite may give a new row a deleted row's id, so ids no longer tell what is new;
- it is more than ``MAX_STEP`` behind (reading again costs less than the rows it passed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: How many cutoffs are kept: the two changes and a few drop windows.
KEPT = 8
#: The furthest a kept answer is brought forward; further, reading it again costs less.
MAX_STEP = timedelta(days=1)

#: One row: client id, row id, as_of, score.
Row = tuple[str, int, datetime, float | None]
#: A row of a read from scratch: a registered client without a score by then has None after its id.
FirstRow = tuple[str, int | None, datetime | None, float | None]


@dataclass
class _Answer:
    cutoff: datetime
    newest_id: int  # rows with a larger id were written after this answer was read
    stamp: object
    registered: frozenset[str]  # the clients answered for (the stamp holds while they are)
    rows: dict[str, tuple[datetime, int, float | None]]  # client -> (as_of, id, score)
    values: dict[str, float | None] = field(init=False)  # client -> score, as answered

    def advance(self, cutoff: datetime, newest_id: int, rows: Iterable[Row]) -> None:
        """Take ``rows`` (``history.moved_past`` since this answer): each client keeps its
        newest row by (as_of, id), as a read from scratch orders them."""
        registered = self.registered
        for client, row_id, as_of, score in rows:
            if client not in registered:
                continue
            known = self.rows.get(client)
            if known is None or (as_of, row_id) > known[:2]:
                self.rows[client] = (as_of, row_id, score)
                self.values[client] = score
        self.cutoff, self.newest_id = cutoff, newest_id

    def scores(self) -> dict[str, float | None]:
        return dict(self.values)

    def __post_init__(self) -> None:
        self.values = {client: row[2] for client, row in self.rows.items()}


class PastScores:
    """Kept answers of ``scores_at`` per cutoff (thread-safe). The store passes its reads in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: list[_Answer] = []
        self.reads_from_scratch = 0  # for tests and benchmarks

    def scores_at(
        self,
        cutoff: datetime,
        *,
        stamp: object,
        newest_id: Callable[[], int],
        newest_at: Callable[[datetime], Iterable[FirstRow]],
        moved_past: Callable[[datetime, datetime, int, int], Iterable[Row]],
    ) -> dict[str, float | None]:
        """Each registered client's newest score at or before ``cutoff``: brought forward from
        the kept answer with the latest cutoff not after it, or read with ``newest_at``.
        ``moved_past(since, until, after_id, through_id)``: as ``history.moved_past``."""
        with self._lock:
            latest = newest_id()  # first: a row written meanwhile is read again next time
            answer = self._closest(cutoff, stamp)
            if answer is not None:
                rows = moved_past(answer.cutoff, cutoff, answer.newest_id, latest)
                answer.advance(cutoff, latest, rows)
                return answer.scores()
            self.reads_from_scratch += 1
            first = list(newest_at(cutoff))
            registered = frozenset(row[0] for row in first)
            fresh = _Answer(cutoff, latest, stamp, registered, _rows(first))
            self._answers = [fresh, *self._answers][:KEPT]
            return fresh.scores()

    def _closest(self, cutoff: datetime, stamp: object) -> _Answer | None:
        """The kept answer with the latest cutoff at most ``MAX_STEP`` before ``cutoff``, moved
        to the front (the others stay for their own series: 7 days ago, 30 days ago, …)."""
        self._answers = [a for a in self._answers if a.stamp == stamp]
        candidates = [a for a in self._answers if cutoff - MAX_STEP <= a.cutoff <= cutoff]
        if not candidates:
            return None
        best = max(candidates, key=lambda a: a.cutoff)
        self._answers.remove(best)
        self._answers.insert(0, best)
        return best


def _rows(rows: Iterable[FirstRow]) -> dict[str, tuple[datetime, int, float | None]]:
    return {
        client: (as_of, row_id, score)
        for client, row_id, as_of, score in rows
        if row_id is not None and as_of is not None
    }
