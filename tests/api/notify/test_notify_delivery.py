"""Delivery through a real SMTP server on loopback: one email per notice with the expected parts,
retries with backoff, failure after the limit, quiet hours, the digest, and the outbox's dedupe."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import LIN, Clock, ServiceFactory, notice
from smtp_server import Recorder

from rapport.signals import outbox
from rapport.signals.store import Store


def test_a_notice_sends_exactly_one_email_to_the_owner(
    make_service: ServiceFactory, smtp: Recorder, clock: Clock
) -> None:
    service = make_service()
    assert service.enqueue([notice()]) == 1
    report = service.deliver_due(clock.now)
    assert report.sent == 1
    [message] = smtp.parsed()
    assert message["To"] == "mei@example.org"
    assert message["Subject"] == "[Rapport] Northwind Logistics: 82 → 61 (at risk)"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "went from 82 (healthy) to 61 (at risk)" in text
    assert "milestones: 22.5 → 9 points (-13.5)" in text
    assert "2 milestones missed: Beta release due 3 Nov, 9 days late" in text
    assert "http://rapport.example/clients/northwind/explain" in text
    assert "Rules version: 3f2c1ab" in text
    assert "Jan 11, 2027, 10:00:00\u202fAM (Europe/Berlin)" in text  # CLDR: a narrow space
    assert 'style="' in html and "<style>" not in html  # CSS inlined
    assert service.deliver_due(clock.now + timedelta(hours=1)).sent == 0


def test_enqueueing_a_transition_twice_sends_one_email(
    make_service: ServiceFactory, smtp: Recorder, clock: Clock
) -> None:
    service = make_service()
    assert service.enqueue([notice(), notice()]) == 1
    assert service.enqueue([notice()]) == 0
    service.deliver_due(clock.now)
    assert len(smtp.messages) == 1


def test_a_zh_cn_owner_gets_the_chinese_email_in_their_zone(
    make_service: ServiceFactory, smtp: Recorder, clock: Clock
) -> None:
    service = make_service()
    service.enqueue([notice(to=LIN, name="北风物流")])
    service.deliver_due(clock.now)
    [message] = smtp.parsed()
    assert message["Subject"] == "[Rapport] 客户健康度预警：北风物流 82 → 61（有风险）"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("林晓，你好：")
    assert "北风物流的客户健康度从 82 分降到了 61 分" in text
    assert "2027年1月11日 17:00:00 (Asia/Shanghai)" in text


def test_smtp_refusing_the_first_attempts_delivers_once_later(
    make_service: ServiceFactory, smtp: Recorder, clock: Clock, sqlite_store: Store
) -> None:
    smtp.refuse = 2
    service = make_service()
    service.enqueue([notice()])
    assert service.deliver_due(clock.now).retried == 1
    [entry] = outbox.entries(sqlite_store)
    assert (entry.state, entry.attempts) == ("pending", 1)
    assert "451" in (entry.last_error or "")
    assert entry.next_attempt == clock.now.timestamp() + 10  # backoff 10 s
    assert service.deliver_due(clock.now + timedelta(seconds=5)).sent == 0  # not due yet
    assert service.deliver_due(clock.now + timedelta(seconds=10)).retried == 1
    assert outbox.entries(sqlite_store)[0].next_attempt == clock.now.timestamp() + 10 + 20
    assert service.deliver_due(clock.now + timedelta(seconds=30)).sent == 1
    assert len(smtp.messages) == 1
    assert outbox.entries(sqlite_store)[0].state == "sent"


def test_smtp_down_fails_after_the_limit_and_retry_queues_it_again(
    make_service: ServiceFactory, smtp: Recorder, clock: Clock, sqlite_store: Store
) -> None:
    smtp.refuse = 3
    service = make_service(outbox_max_attempts=3)
    service.enqueue([notice()])
    moment = clock.now
    for _ in range(3):
        service.deliver_due(moment)
        moment += timedelta(hours=1)
    assert outbox.counts(sqlite_store) == {"pending": 0, "sent": 0, "failed": 1}
    assert outbox.retry_failed(sqlite_store, now=moment.timestamp()) == 1
    assert service.deliver_due(moment).sent == 1
    assert len(smtp.messages) == 1


@pytest.mark.parametrize(
    ("quiet", "delivered_at_hours"),
    [("09:00-18:00", 8.0), ("08:00-10:30", 0.5), ("22:00-07:00", 0.0)],
    ids=[
        "a notice inside quiet hours waits for their end in the recipient's zone",
        "a notice near the end of quiet hours goes out when they end",
        "a notice outside quiet hours goes out at once",
    ],
)
def test_quiet_hours_defer_and_never_drop(
    make_service: ServiceFactory, smtp: Recorder, clock: Clock, quiet: str,
    delivered_at_hours: float, sqlite_store: Store,
) -> None:  # fmt: skip
    service = make_service(quiet_hours=quiet)  # Mei is in Berlin: T0 is 10:00 there
    service.enqueue([notice()])
    report = service.deliver_due(clock.now)
    if delivered_at_hours == 0:
        assert report.sent == 1
        return
    assert report.deferred == 1 and smtp.messages == []
    [entry] = outbox.entries(sqlite_store)
    assert entry.next_attempt == (clock.now + timedelta(hours=delivered_at_hours)).timestamp()
    assert entry.attempts == 0
    assert service.deliver_due(clock.now + timedelta(hours=delivered_at_hours)).sent == 1
    assert len(smtp.messages) == 1


def test_the_digest_groups_a_pms_notices_into_one_email_at_the_local_hour(
    make_service: ServiceFactory, smtp: Recorder, clock: Clock
) -> None:
    service = make_service(digest_hour=18)  # 18:00 Berlin = 17:00 UTC
    service.enqueue([notice("a"), notice("b", name="Contoso"), notice("c", to=LIN)])
    assert service.deliver_due(clock.now).sent == 0
    # Lin is in Shanghai: 18:00 there is 10:00 UTC
    assert service.deliver_due(clock.now + timedelta(hours=1)).sent == 1
    assert service.deliver_due(clock.now + timedelta(hours=8)).sent == 2
    lin, mei = smtp.parsed()
    assert mei["To"] == "mei@example.org" and lin["To"] == "lin@example.org"
    assert mei["Subject"] == "[Rapport] Daily digest: 2 alert notices"
    text = mei.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Northwind Logistics: 82 → 61" in text and "Contoso: 82 → 61" in text
    # a digest of one notice is that notice's full email
    assert lin["Subject"] == "[Rapport] 客户健康度预警：Northwind Logistics 82 → 61（有风险）"
