"""The thinned score history answers every history query as the full one did.

The same series of evaluations is stored twice: the old way (every client, every evaluation) and
through ``HistoryWriter`` (changed rows plus one a day). Every reader of the history — the 7d/30d
deltas and alert drops (``scores_at``), explain's earlier scores (``earlier_scores``), the latest
scores (boards, pages) — must read the same values from both.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport.api.events import Evaluated
from rapport.api.history_writer import HistoryWriter
from rapport.api.pipeline import earlier_scores
from rapport.engine.frame import ClientSet
from rapport.engine.result import ClientScore, Evaluation
from rapport.signals.model import Client
from rapport.signals.store import Store

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
IDS = ("acme", "beta", "gamma")
_counter = itertools.count()

#: One client's state at one evaluation: (score or None, component status, limit applied).
State = tuple[float | None, int, bool]
states = st.tuples(st.sampled_from([None, 40.0, 55.5, 80.0]), st.integers(0, 2), st.booleans())


def evaluation(as_of: datetime, rows: dict[str, State], version: str = "v1") -> Evaluation:
    ids = tuple(rows)
    n = len(ids)
    score = np.array([np.nan if s is None else s for s, _, _ in rows.values()])
    status = np.array([[st_, 0] for _, st_, _ in rows.values()], dtype=np.int8)
    grade = np.where(np.isnan(score), -1, np.where(score >= 60, 0, 1)).astype(np.int16)
    return Evaluation(
        as_of=as_of, rules_version=version, clients=ClientSet.of(ids),
        component_ids=("response", "nps"), grade_names=("green", "red"),
        score=score, grade=grade, raw=np.stack([score / 10, np.full(n, 3.0)], axis=1),
        points=np.stack([score, np.full(n, 50.0)], axis=1), weight=np.full((n, 2), 0.5),
        status=status, provisional=score, coverage=np.where(status[:, 0] == 0, 1.0, 0.5),
        insufficient=np.zeros(n, dtype=np.bool_), notes={},
        limit_ids=("cap",), limit_kinds=("cap",), limit_values=np.array([60.0]),
        limit_reasons=("capped",), limit_applied=np.array([[a] for _, _, a in rows.values()]),
    )  # fmt: skip


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    with (
        Store.open(f"sqlite:///{tmp_path}/full.db") as full,
        Store.open(f"sqlite:///{tmp_path}/thin.db") as thin,
    ):
        for store in (full, thin):
            store.upsert_clients([Client(id=c, name=c) for c in IDS])
        yield full, thin


def without_instant(score: ClientScore | None) -> object:
    """What a reader sees of a stored score besides the instant of its row."""
    return None if score is None else score.model_dump(exclude={"as_of"})


def same_answers(full: Store, thin: Store, instants: list[datetime]) -> None:
    probes = sorted({*instants, *(t + STEP / 2 for t in instants), instants[0] - STEP})
    for moment in probes:
        for span in (timedelta(0), timedelta(days=7), timedelta(days=30)):
            assert full.scores_at(moment - span) == thin.scores_at(moment - span), moment
        for client in IDS:
            before = {
                k: without_instant(v) for k, v in earlier_scores(full, client, moment).items()
            }
            after = {k: without_instant(v) for k, v in earlier_scores(thin, client, moment).items()}
            assert before == after, (client, moment)
            found = [
                full.latest_score(client, before=moment),
                thin.latest_score(client, before=moment),
            ]
            assert without_instant(found[0]) == without_instant(found[1])
    assert [without_instant(s) for s in full.latest_scores()] == [
        without_instant(s) for s in thin.latest_scores()
    ]


def run_series(full: Store, thin: Store, series: list[dict[str, State]], gaps: list[int]) -> int:
    writer = HistoryWriter(thin)
    instants = []
    moment = T0
    for rows, gap in zip(series, gaps, strict=True):
        moment += STEP * gap
        instants.append(moment)
        version = "v2" if len(instants) > len(series) // 2 and gap > 40 else "v1"
        e = evaluation(moment, rows, version)
        full.save_evaluation(e)
        writer(Evaluated(e, (), {}))
    same_answers(full, thin, instants[:: max(1, len(instants) // 40)])
    return writer.rows_written


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(st.fixed_dictionaries({c: states for c in IDS}), st.integers(1, 200)),
        min_size=1,
        max_size=30,
    ),
    repeat=st.integers(1, 6),
)
def test_a_thinned_history_answers_every_query_as_the_full_one(
    tmp_path: Path, data: list[tuple[dict[str, State], int]], repeat: int
) -> None:
    """Random scores, statuses and limits, each held for a few evaluations at random gaps."""
    run = next(_counter)
    with (
        Store.open(f"sqlite:///{tmp_path}/full{run}.db") as full,
        Store.open(f"sqlite:///{tmp_path}/thin{run}.db") as thin,
    ):
        for store in (full, thin):
            store.upsert_clients([Client(id=c, name=c) for c in IDS])
        series = [rows for rows, _ in data for _ in range(repeat)]
        gaps = [gap if i == 0 else 1 for _, gap in data for i in range(repeat)]
        run_series(full, thin, series, gaps)


def test_a_steady_book_writes_one_row_per_client_per_day(stores: tuple[Store, Store]) -> None:
    full, thin = stores
    steady = {c: (55.5, 0, False) for c in IDS}
    written = run_series(full, thin, [steady] * (96 * 3 - 1), [1] * (96 * 3 - 1))
    assert written == 3 * len(IDS)  # one a day for three UTC days, out of 96 a day
    moved = HistoryWriter(thin)
    moved(Evaluated(evaluation(T0 + 3 * timedelta(days=1), steady), (), {}))
    assert moved.rows_written == len(IDS)  # a fresh writer (a restart) remembers nothing


def test_a_move_within_epsilon_writes_nothing_and_beyond_it_a_row(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path}/s.db") as store:
        writer = HistoryWriter(store, epsilon=0.01)
        for moment, score in ((T0, 50.0), (T0 + STEP, 50.005), (T0 + 2 * STEP, 50.02)):
            writer(Evaluated(evaluation(moment, {"acme": (score, 0, False)}), (), {}))
        assert [s.score for s in store.history("acme")] == [50.0, 50.02]


def test_retention_prunes_old_rows_but_keeps_the_newest_before_the_cutoff(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path}/s.db") as store:
        store.upsert_clients([Client(id="acme", name="Acme")])
        day = timedelta(days=1)
        for i, score in enumerate([10.0, 20.0, 30.0, 40.0]):
            store.save_evaluation(evaluation(T0 + i * day, {"acme": (score, 0, False)}))
        writer = HistoryWriter(store, retention=2.5 * 86400)
        writer(Evaluated(evaluation(T0 + 4 * day, {"acme": (50.0, 0, False)}), (), {}))
        # cutoff T0 + 1.5d: the rows of days 0 and 1 are older; day 1's stays, answering as-of
        assert [s.score for s in store.history("acme")] == [20.0, 30.0, 40.0, 50.0]
        assert store.scores_at(T0 + 1.6 * day) == {"acme": 20.0}
