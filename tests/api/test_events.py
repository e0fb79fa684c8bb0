"""One event after each evaluation: subscribers receive it, a failing one is logged and isolated."""

from __future__ import annotations

import logging

import pytest
from live_api import LiveServer

from rapport.api.events import Evaluated, Topic


def test_every_subscriber_receives_every_event_in_subscription_order() -> None:
    topic: Topic[int] = Topic("numbers")
    seen: list[tuple[str, int]] = []
    topic.subscribe(lambda n: seen.append(("first", n)))
    topic.subscribe(lambda n: seen.append(("second", n)))
    assert topic.publish(1) == 0
    assert topic.publish(2) == 0
    assert seen == [("first", 1), ("second", 1), ("first", 2), ("second", 2)]


def test_a_failing_subscriber_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic: Topic[str] = Topic("words")
    seen: list[str] = []

    def broken(word: str) -> None:
        raise RuntimeError(f"cannot take {word}")

    topic.subscribe(broken)
    topic.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="rapport.events"):
        assert topic.publish("hello") == 1
    assert seen == ["hello"]
    assert "a subscriber of words failed" in caplog.text
    assert "cannot take hello" in caplog.text


def test_the_service_announces_each_evaluation_after_storing_it(world: LiveServer) -> None:
    received: list[Evaluated] = []
    stored: list[bool] = []

    def subscriber(event: Evaluated) -> None:
        received.append(event)
        # the history writer subscribed first: the evaluation is already stored
        stored.append(world.store.latest_score("acme", before=None) is not None)

    world.service.events.subscribe(subscriber)
    world.call("POST", "/api/v1/evaluate").raise_for_status()
    assert len(received) == 1
    event = received[0]
    assert event.as_of == world.clock.now
    assert [c.id for c in event.clients] == list(event.evaluation.clients.ids)
    assert stored == [True]


def test_a_failing_subscriber_does_not_fail_the_evaluation(world: LiveServer) -> None:
    def broken(event: Evaluated) -> None:
        raise RuntimeError("alerting is down")

    world.service.events.subscribe(broken)
    assert world.call("POST", "/api/v1/evaluate").status_code == 200
    metrics = world.call("GET", "/metrics").text
    assert 'rapport_client_health_score{client="acme"' in metrics
