"""The chat reply pairing (``chat.py``): what answers what, open waits, and the state kept
between runs — plain messages in, hand-computed waits out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.signals.collectors.chat import (
    ChannelState,
    ChatMessage,
    Wait,
    pair_replies,
    wait_signal,
)

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=3)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def msg(mid: str, hours: float, side: str, thread: str | None = None) -> ChatMessage:
    return ChatMessage(mid, at(hours), side, thread)  # type: ignore[arg-type]


def answered(waits: list[Wait]) -> list[tuple[str, float]]:
    return [(w.first, round(w.hours, 4)) for w in waits if not w.open]


# fmt: off
CASES = [
    ([msg("c1", 0, "client"), msg("o1", 2, "ours")], [("c1", 2.0)]),
    (
        [msg("c1", 0, "client"), msg("c2", 1, "client"), msg("o1", 3, "ours")],
        [("c1", 3.0)],
    ),
    ([msg("c1", 0, "client"), msg("b1", 0.1, "bot"), msg("o1", 5, "ours")], [("c1", 5.0)]),
    ([msg("c1", 0, "client"), msg("o1", 1.5, "ours", thread="c1")], [("c1", 1.5)]),
    (
        [msg("c1", 0, "client"), msg("c2", 1, "client"), msg("o1", 4, "ours", thread="c2")],
        [("c1", 4.0)],
    ),
    (
        [msg("c1", 0, "client"), msg("o1", 0.5, "ours", thread="x9"), msg("o2", 6, "ours")],
        [("c1", 6.0)],
    ),
    (
        [msg("p", 0, "ours"), msg("c1", 1, "client", thread="p"), msg("o1", 2, "ours"),
         msg("o2", 3.25, "ours", thread="p")],
        [("c1", 2.25)],
    ),
    (
        [msg("c1", 0, "client"), msg("c1r", 0.5, "client", thread="c1"),
         msg("o1", 2, "ours", thread="c1")],
        [("c1", 2.0)],
    ),
    ([msg("o1", 0, "ours"), msg("o2", 1, "ours"), msg("c1", 2, "client")], []),
    (
        [msg("c1", 0, "client"), msg("o1", 1, "ours"), msg("c2", 5, "client"),
         msg("o2", 5.5, "ours")],
        [("c1", 1.0), ("c2", 0.5)],
    ),
]
# fmt: on
IDS = [
    "A client message answered by our next message waits until that reply",
    "Consecutive client messages are measured from the first unanswered one",
    "A bot message is not a reply",
    "A reply in the client message's own thread answers it",
    "A reply in the thread of a later message of the same wait answers the wait",
    "Our follow-up in another thread does not answer the channel",
    "A client reply in our thread is answered only in that thread",
    "A client adding detail in the thread of its waiting message does not start a second wait",
    "Our own messages with nothing waiting are follow-ups, not replies",
    "Two separate questions are two waits",
]


@pytest.mark.parametrize(("messages", "expected"), CASES, ids=IDS)
def test_replies_pair_as_the_rules_say(messages, expected):
    assert answered(pair_replies(messages, NOW)) == expected


def test_a_wait_older_than_open_after_is_open_with_the_hours_so_far():
    waits = pair_replies([msg("c1", 0, "client"), msg("c2", 70, "client")], NOW, 86400)
    # c1 has waited 72 h at NOW; c2 (2 h) is younger than a day, not yet shown
    assert [(w.first, w.hours, w.open) for w in waits] == [("c1", 72.0, True)]


def test_the_input_order_does_not_matter():
    messages = [msg("o1", 2, "ours"), msg("c1", 0, "client")]
    assert answered(pair_replies(messages, NOW)) == [("c1", 2.0)]


def test_state_kept_between_runs_pairs_as_one_run_does():
    everything = [msg("c1", 0, "client"), msg("c2", 1, "client", thread="p"),
                  msg("o1", 2, "ours"), msg("o2", 9, "ours", thread="p")]  # fmt: skip
    state = ChannelState()
    first = state.fold(everything[:2])
    later = ChannelState.load(state.dump())
    second = later.fold(m for m in everything[2:] if later.is_new(m))
    assert first == [] and answered(second) == answered(pair_replies(everything, NOW))
    assert later.is_new(msg("c0", 0.5, "client")) is False  # older than the top level read


def test_forget_drops_old_waits_and_thread_marks_but_keeps_the_top_level_mark():
    state = ChannelState()
    state.fold([msg("c1", 0, "client"), msg("c2", 1, "client", thread="p")])
    state.forget(waits_before=at(0.5), reads_before=at(2))
    assert list(state.waits) == ["p"] and list(state.read) == [""]


def test_an_open_wait_becomes_a_chat_signal_marked_open():
    wait = Wait("1717405200.000100", T0, "", ("1717405200.000100",), 30.5, open=True)
    signal = wait_signal(
        wait, client="acme", event_prefix="slack:C1", thread="C1", source="slack", zones={}
    )
    assert (signal.event_id, signal.kind, signal.ts, signal.value) == (
        "slack:C1:1717405200.000100", "response_time", T0, 30.5,
    )  # fmt: skip
    assert signal.attrs == {"channel": "chat", "thread": "C1", "open": "true"}


_SIDES = st.sampled_from(["client", "ours", "bot"])
_THREADS = st.sampled_from([None, "m0", "m1", "m3"])
_MESSAGES = st.lists(st.tuples(_SIDES, _THREADS), min_size=0, max_size=30)


@settings(max_examples=200, deadline=None)
@given(_MESSAGES, st.integers(min_value=0, max_value=30), st.booleans())
def test_folding_in_two_runs_with_the_cursor_equals_one_run(spec, split, reread) -> None:
    messages = [msg(f"m{n}", n, side, thread) for n, (side, thread) in enumerate(spec)]
    state = ChannelState()
    first = state.fold(messages[:split])
    later = ChannelState.load(state.dump())
    # a later run re-reads a window that overlaps what was folded; only the new messages count
    again = messages if reread else messages[split:]
    second = later.fold(m for m in again if later.is_new(m))
    assert first + second == ChannelState().fold(messages)
    assert later.open_waits(NOW, 0) == pair_replies(messages, NOW, 0)[len(first + second) :]
