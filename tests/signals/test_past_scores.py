"""``Store.scores_at`` brought forward (``signals.past_scores``) answers exactly what a read from
scratch answers, whatever happens to the history in between.

Hypothesis runs random programs on one database through two stores — the serving one, whose
answers are kept, and "another process": evaluations written as time passes (for some clients or
all), a past instant scored and stored, history replayed over a past window (by either store),
pruned, clients registered and removed, the clock moving on. After every step the serving store
answers for the changes' cutoffs (7 and 30 days back), a shorter one and a much older one, and
each answer is compared with ``scores_at_from_scratch``, a read on a connection of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Select, literal, select
from test_store import evaluation

from rapport.signals import schema
from rapport.signals.model import Client
from rapport.signals.store import Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CLIENTS = ("a", "b", "c", "d")
_counter = itertools.count()
#: The cutoffs asked for after every step, as how far back from now.
BACK = (timedelta(days=7), timedelta(days=30), timedelta(hours=10), timedelta(days=62))

scores = st.one_of(st.none(), st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1)))
steps = st.one_of(
    st.tuples(st.just("evaluate"), st.sets(st.sampled_from(CLIENTS), min_size=1), scores),
    st.tuples(st.just("score_past"), st.integers(1, 12), scores),
    st.tuples(st.just("wait"), st.sampled_from([timedelta(minutes=15), timedelta(hours=7)])),
    st.tuples(st.just("replay"), st.booleans(), st.integers(1, 12), st.integers(1, 5), scores),
    st.tuples(st.just("prune"), st.integers(31, 60)),
    st.tuples(st.just("register"), st.sampled_from(CLIENTS), st.booleans()),
)


def scores_at_from_scratch(cutoff: datetime) -> Select[Any]:
    """Each registered client's newest score with ``as_of <= cutoff``, written out on its own:
    its newest row's score, for clients that have a row by then."""
    s, c = schema.scores, schema.clients
    newest = (
        select(s.c.score)
        .where(s.c.client == c.c.id, s.c.as_of <= cutoff)
        .order_by(s.c.as_of.desc(), s.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    has_row = select(literal(1)).where(s.c.client == c.c.id, s.c.as_of <= cutoff).exists()
    return select(c.c.id, newest).where(has_row)


def from_scratch(url: str, cutoff: datetime) -> dict[str, float | None]:
    with Store.open(url) as fresh, fresh._reading() as connection:
        return {cid: score for cid, score in connection.execute(scores_at_from_scratch(cutoff))}


def clock_of(now: list[datetime]) -> Callable[[], datetime]:
    return lambda: now[0]


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=st.lists(steps, min_size=1, max_size=14))
def test_kept_answers_equal_reads_from_scratch(tmp_path: Path, program: list[Any]) -> None:
    url = f"sqlite:///{tmp_path}/p{next(_counter)}.db"
    now = [T0]
    with (
        Store.open(url, clock=clock_of(now)) as serving,
        Store.open(url, clock=clock_of(now)) as other,
    ):
        serving.upsert_clients([Client(id=c, name=c) for c in CLIENTS[:3]])
        for step in program:
            run(step, serving, other, now)
            for back in (
                timedelta(days=7),
                timedelta(days=30),
                timedelta(hours=10),
                timedelta(days=62),
            ):
                cutoff = now[0] - back
                assert serving.scores_at(cutoff) == from_scratch(url, cutoff), (step, back)


def run(step: tuple[Any, ...], serving: Store, other: Store, now: list[datetime]) -> None:
    if step[0] == "evaluate":
        serving.save_evaluation(evaluation(now[0], dict.fromkeys(sorted(step[1]), step[2])))
    elif step[0] == "score_past":  # `rapport score --as-of`, in another process
        _, days_back, score = step
        other.save_evaluation(evaluation(now[0] - timedelta(days=days_back), {"b": score}))
    elif step[0] == "wait":
        now[0] += step[1] * 20  # the cutoffs pass the rows written earlier
    elif step[0] == "replay":
        _, elsewhere, days_back, days, score = step
        since = now[0] - timedelta(days=days_back)
        until = since + timedelta(days=days)
        # At the window's start: every kept row later in the window is gone, and older than it.
        replayed = [evaluation(since, dict.fromkeys(CLIENTS, score))]
        (other if elsewhere else serving).replace_history(replayed, since=since, until=until)
    elif step[0] == "prune":
        serving.prune_history(now[0] - timedelta(days=step[1]))
    elif step[0] == "register":
        _, client, add = step
        if add:
            other.upsert_clients([Client(id=client, name=client)])
        else:
            other.remove_clients_except([c for c in CLIENTS if c != client])


def test_a_steady_book_is_brought_forward_not_read_again(store_url: str) -> None:
    """Evaluations every 6 hours for 40 days, each asking for 7 and 30 days back (twice, as the
    changes and a drop window do): two reads from scratch in all, every answer exact."""
    now = [T0]
    with Store.open(store_url, clock=clock_of(now)) as store:
        store.upsert_clients([Client(id=c, name=c) for c in CLIENTS])
        for step in range(160):
            values = {c: float((step * (i + 3)) % 97) for i, c in enumerate(CLIENTS)}
            store.save_evaluation(evaluation(now[0], values))
            for back in (timedelta(days=7), timedelta(days=30), timedelta(days=7)):
                cutoff = now[0] - back
                assert store.scores_at(cutoff) == from_scratch(store_url, cutoff)
            now[0] += timedelta(hours=6)
        assert store._past.reads_from_scratch == 2
