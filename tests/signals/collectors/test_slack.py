"""The slack collector against a loopback server serving Slack's documented Web API shapes
(``conversations.history`` / ``conversations.replies``, cursor pagination, ``ok: false``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fakeapi import NOW, FakeAPI, Reply, Seen, drain, fetch_context

from rapport.signals.collectors.base import CollectorError
from rapport.signals.collectors.http import make_http_client
from rapport.signals.collectors.slack import HISTORY, REPLIES, SlackCollector, SlackConfig
from rapport.signals.model import StoredSignal

CHANNELS = [("C1ACME", "acme"), ("C2GLOBEX", "globex")]
OURS, THEIRS = "T0OURS", "T0ACME"


def ts(hours_before_now: float) -> str:
    """A Slack ``ts`` for a moment ``hours_before_now`` before NOW."""
    return f"{(NOW - timedelta(hours=hours_before_now)).timestamp():.6f}"


def message(at: str, user: str | None, team: str | None, **extra: object) -> dict[str, object]:
    """A message as conversations.history documents it."""
    item: dict[str, object] = {"type": "message", "ts": at, "text": "…", "blocks": []}
    if user is not None:
        item["user"] = user
    if team is not None:
        item["team"] = team
    return {**item, **extra}


M1, R1, R2 = ts(48), ts(46), ts(45)
ACME_PAGES: dict[str | None, dict[str, object]] = {
    None: {"messages": [
        message(ts(3), "UCLIENT", OURS, user_team=THEIRS, source_team=THEIRS),
        message(ts(10), "UCLIENT", None),  # no workspace at all: skipped
        message(ts(20), "UOURS", OURS, subtype="channel_join"),
        message(ts(26), "UOURS", OURS),
        message(ts(29), "UCLIENT", OURS, user_team=THEIRS),
    ], "next": "bmV4dDox"},
    "bmV4dDox": {"messages": [
        message(ts(30), "UCLIENT", OURS, user_team=THEIRS),
        message(ts(40), None, None, bot_id="B0DEPLOY", subtype="bot_message"),
        message(M1, "UCLIENT", OURS, user_team=THEIRS, thread_ts=M1, reply_count=2,
                latest_reply=R2),
    ], "next": "bmV4dDoy"},
    "bmV4dDoy": {"messages": [], "next": ""},  # Slack may end on an empty page
}  # fmt: skip
THREAD = [
    message(M1, "UCLIENT", OURS, user_team=THEIRS, thread_ts=M1, reply_count=2, latest_reply=R2),
    message(R1, "UOURS", OURS, thread_ts=M1, parent_user_id="UCLIENT"),
    message(R2, "UCLIENT", OURS, user_team=THEIRS, thread_ts=M1, parent_user_id="UCLIENT"),
]
GLOBEX = [message(ts(9.5), "UOURS", OURS), message(ts(10), "UGUEST", OURS)]


def history(request: Seen) -> Reply:
    channel = request.arg("channel")
    if channel == "C2GLOBEX":
        return slack_page(GLOBEX, "")
    page = ACME_PAGES[request.arg("cursor")]
    return slack_page(page["messages"], page["next"])


def replies(request: Seen) -> Reply:
    assert request.arg("channel") == "C1ACME" and request.arg("ts") == M1
    oldest = float(request.arg("oldest") or 0)
    return slack_page([THREAD[0], *(m for m in THREAD[1:] if float(m["ts"]) > oldest)], "")


def slack_page(messages: object, next_cursor: object) -> Reply:
    return Reply(
        json={
            "ok": True,
            "messages": messages,
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }
    )


def expected(channel: str, client: str, first: str, hours: float, thread: str, **attrs: str):
    return StoredSignal(
        event_id=f"slack:{channel}:{first}", client=client, kind="response_time",
        ts=datetime.fromtimestamp(float(first), UTC), value=hours,
        attrs={"channel": "chat", "thread": thread, **attrs}, source="slack",
    )  # fmt: skip


EXPECTED = [
    expected("C1ACME", "acme", M1, 2.0, "C1ACME"),  # answered in its thread
    expected("C1ACME", "acme", ts(30), 4.0, "C1ACME"),  # two client messages, one wait
    expected("C1ACME", "acme", R2, 45.0, f"C1ACME:{M1}", open="true"),  # unanswered
    expected("C2GLOBEX", "globex", ts(10), 0.5, "C2GLOBEX"),  # a listed client user
]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add(HISTORY, history)
        server.add(REPLIES, replies)
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as http:
        yield http


def collector(api: FakeAPI, **overrides: object) -> SlackCollector:
    settings = {
        "base_url": api.url,
        "token_env": "SLACK_TOKEN",
        "team_id": OURS,
        "channels": ["C1ACME", "C2GLOBEX", "C9OTHER"],
        "client_users": ["UGUEST"],
        "page_size": 5,
    }
    return SlackCollector(SlackConfig.model_validate({**settings, **overrides}))


def harness(client: httpx.Client, now: datetime = NOW):
    return fetch_context(client, CHANNELS, "slack_channel", {"SLACK_TOKEN": "xoxb-1"}, now=now)


def test_pages_and_threads_become_exact_reply_times_with_the_silence_shown_open(api, client):
    run = harness(client)
    signals, cursor = drain(collector(api), None, run.context)
    assert signals == EXPECTED
    assert set(cursor["channels"]) == {"C1ACME", "C2GLOBEX"}
    first = api.seen(HISTORY)[0]
    assert first.arg("oldest") == f"{(NOW - timedelta(days=30)).timestamp():.6f}"
    assert (first.arg("inclusive"), first.arg("limit")) == ("true", "5")
    assert first.headers["authorization"] == "Bearer xoxb-1"
    assert [r.arg("cursor") for r in api.seen(HISTORY)[:3]] == [None, "bmV4dDox", "bmV4dDoy"]


def test_a_message_missing_its_workspace_is_skipped_and_an_unmapped_channel_counted(api, client):
    run = harness(client)
    drain(collector(api), None, run.context)
    assert run.context.skipped == [f"slack:C1ACME:{ts(10)}: missing field 'team'"]
    assert run.unmapped == {"c9other": 1}
    assert {r.arg("channel") for r in api.seen(HISTORY)} == {"C1ACME", "C2GLOBEX"}


def two_runs(api: FakeAPI, client: httpx.Client) -> tuple[list[StoredSignal], list[StoredSignal]]:
    """A first run, then one an hour later after we answered the thread's open client reply."""
    first, cursor = drain(collector(api), None, harness(client).context)
    answer = message(ts(-0.5), "UOURS", OURS, thread_ts=M1)
    THREAD.append(answer)
    parent = ACME_PAGES["bmV4dDox"]["messages"][-1]  # type: ignore[index]
    parent["latest_reply"] = answer["ts"]  # the same pages; the parent's latest reply moved on
    try:
        later = harness(client, NOW + timedelta(hours=1)).context
        second, _ = drain(collector(api), cursor, later)
    finally:
        THREAD.pop()
        parent["latest_reply"] = R2
    return first, second


def test_the_next_run_reads_only_what_is_new_and_closes_the_open_wait(api, client):
    _, signals = two_runs(api, client)
    # the thread's client reply is now answered (45.5 h); nothing else is new or open
    assert signals == [expected("C1ACME", "acme", R2, 45.5, f"C1ACME:{M1}")]
    second = api.seen(HISTORY)[-1]
    later = NOW + timedelta(hours=1)
    assert second.arg("oldest") == f"{(later - timedelta(days=14)).timestamp():.6f}"
    assert api.seen(REPLIES)[-1].arg("oldest") == R2


def test_the_answer_replaces_the_open_row_in_the_store(api, client, sqlite_store):
    first, second = two_runs(api, client)
    sqlite_store.upsert_signals(first)
    sqlite_store.upsert_signals(second)
    stored = sqlite_store.client_signals(
        "acme", ["response_time"], datetime(2100, 1, 1, tzinfo=UTC)
    )
    waits = {s.event_id: (s.value, s.attrs.get("open")) for s in stored}
    assert waits == {
        f"slack:C1ACME:{M1}": (2.0, None),
        f"slack:C1ACME:{ts(30)}": (4.0, None),
        f"slack:C1ACME:{R2}": (45.5, None),  # was 45.0, open
    }


def test_a_first_run_reads_the_history_the_scorecard_needs(api, client):
    run = harness(client)
    run.context.history_needed = 44 * 86400.0
    drain(collector(api), None, run.context)
    assert api.seen(HISTORY)[0].arg("oldest") == f"{(NOW - timedelta(days=44)).timestamp():.6f}"


def test_429_with_retry_after_waits_as_asked_then_continues(api, client):
    api.fail_next(
        HISTORY, Reply(status=429, json={"ok": False, "error": "ratelimited"},
                       headers={"Retry-After": "30"}),
    )  # fmt: skip
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and run.sleeps == [30.0]


def test_a_500_is_retried_and_the_run_completes(api, client):
    api.fail_next(REPLIES, Reply(status=500, body=b"<html>upstream error</html>"))
    run = harness(client)
    signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_a_timeout_is_retried_and_the_run_completes(api):
    api.fail_next(HISTORY, Reply(hang=True))
    with make_http_client(timeout=0.3) as quick:
        run = harness(quick)
        signals, _ = drain(collector(api), None, run.context)
    assert signals == EXPECTED and len(run.sleeps) == 1


def test_malformed_json_fails_the_fetch_with_the_reason(api, client):
    api.fail_next(HISTORY, Reply(body=b'{"ok": true, "messages": [{"ts": '))
    with pytest.raises(CollectorError, match=r"Collector 'slack' failed: GET .* malformed JSON"):
        collector(api).fetch(None, harness(client).context)


def test_a_page_without_messages_fails_the_fetch(api, client):
    api.fail_next(HISTORY, Reply(json={"ok": True, "has_more": False}))
    with pytest.raises(CollectorError, match="'messages' is not a list"):
        collector(api).fetch(None, harness(client).context)


def test_an_answer_without_ok_fails_the_fetch(api, client):
    api.fail_next(HISTORY, Reply(json={"messages": []}))
    with pytest.raises(CollectorError, match="'ok' is missing"):
        collector(api).fetch(None, harness(client).context)


def test_a_refused_token_is_one_clear_line_without_retrying(api, client):
    api.fail_next(HISTORY, Reply(json={"ok": False, "error": "invalid_auth"}))
    run = harness(client)
    with pytest.raises(CollectorError) as failure:
        collector(api).fetch(None, run.context)
    assert str(failure.value) == (
        "Collector 'slack' failed: Slack refused the token (invalid_auth): check the secret "
        "token_env/token_file"
    )
    assert run.sleeps == [] and "xoxb-1" not in str(failure.value)


def test_another_slack_error_names_the_method_and_channel(api, client):
    api.fail_next(HISTORY, Reply(json={"ok": False, "error": "not_in_channel"}))
    expected = r"conversations\.history for channel C1ACME: Slack says not_in_channel"
    with pytest.raises(CollectorError, match=expected):
        collector(api).fetch(None, harness(client).context)


def test_a_cursor_from_elsewhere_is_refused(api, client):
    with pytest.raises(CollectorError, match="was not written by this collector"):
        collector(api).fetch({"after_cursor": "abc"}, harness(client).context)
