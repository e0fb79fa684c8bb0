"""``NotificationService``: alert notices into the outbox, and the outbox out to its channels.

``enqueue(notices)`` writes one outbox entry per notice x recipient x channel (each owner's
email on the email channel — ``smtp`` when configured, else ``eml`` — and every configured
webhook), deduplicated by key, so enqueueing a transition again is harmless. ``deliver_due(now)``
sends what is due: quiet hours defer, digest entries of one recipient go out as one email, a
transient failure is retried with exponential backoff until ``max_attempts``, a permanent one
fails at once. An entry is marked sent only after its channel accepted it (at-least-once: a
crash in between resends that one entry, nothing else).

``start()`` runs ``deliver_due`` on a daemon thread every ``interval`` seconds, but only while
this process holds the notification leader lock (a PostgreSQL advisory lock of its own; SQLite
stores are single-process and need none); ``stop()`` ends it and closes the notifiers.
"""

# The heavy libraries (jinja2, css-inline, babel, email-validator, httpx, prometheus_client)
# load when first used, not with the module: `rapport --help` must stay light.
# ruff: noqa: PLC0415

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rapport.api.notify.base import DeliveryError, Envelope, Notifier
from rapport.api.notify.notice import AlertNotice, Recipient
from rapport.api.notify.policy import DeliveryPolicy, next_digest
from rapport.api.notify.render import zone_of
from rapport.signals import outbox

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from rapport.signals.locks import PgAdvisoryLock
    from rapport.signals.store import Store

log = logging.getLogger(__name__)

#: Advisory lock key of the notification sender: "RAPN" (collectors: "RAPC", writes: "RAPP").
NOTIFY_LOCK_KEY = 0x5241504E
#: Entries read per delivery round.
_BATCH = 1000


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` did, in entries."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


class NotificationService:
    """Enqueues notices and delivers the outbox. ``notifiers`` maps a channel (``smtp``, ``eml``,
    ``webhook:<name>``) to its notifier; ``email_channel`` is the one owners' emails use."""

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        *,
        email_channel: str,
        policy: DeliveryPolicy,
        clock: Callable[[], datetime],
        lock: PgAdvisoryLock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if email_channel not in notifiers:
            raise ValueError(f"no notifier for the email channel {email_channel!r}")
        self._store = store
        self._notifiers = dict(notifiers)
        self.email_channel = email_channel
        self.policy = policy
        self._clock = clock
        self._lock = lock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent = _metrics(store, registry)

    # --- enqueue --------------------------------------------------------------------------------

    def enqueue(self, notices: Iterable[AlertNotice], *, now: datetime | None = None) -> int:
        """Write the outbox entries of ``notices``; returns how many were new."""
        moment = now or self._clock()
        entries = [entry for notice in notices for entry in self._entries(notice, moment)]
        return outbox.enqueue(self._store, entries, now=moment.timestamp())

    def _entries(self, notice: AlertNotice, now: datetime) -> list[outbox.NewEntry]:
        targets = [(self.email_channel, r) for r in notice.recipients]
        targets += [
            (channel, Recipient(name=channel.partition(":")[2], email=""))
            for channel in self._notifiers
            if channel.startswith("webhook:")
        ]
        made = []
        for channel, recipient in targets:
            digest = self.policy.digest_hour is not None and channel == self.email_channel
            due = now
            if digest:
                assert self.policy.digest_hour is not None
                due = next_digest(now, zone_of(recipient.timezone), self.policy.digest_hour)
            address = recipient.email or recipient.name
            payload = {
                "notice": notice.model_dump(mode="json"),
                "recipient": recipient.model_dump(),
            }
            made.append(
                outbox.NewEntry(
                    key=f"{notice.dedupe_key}|{address}|{channel}",
                    channel=channel,
                    recipient=address,
                    payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
                    digest=digest,
                    next_attempt=due.timestamp(),
                )
            )
        return made

    # --- delivery -------------------------------------------------------------------------------

    def deliver_due(self, now: datetime) -> DeliveryReport:
        """Send every entry due at ``now`` (see the module docstring); returns what happened."""
        report = DeliveryReport()
        groups = _envelopes(outbox.due(self._store, now.timestamp(), limit=_BATCH))
        try:
            for channel, envelope, keys, attempts in groups:
                self._deliver(channel, envelope, keys, attempts, now=now, report=report)
        finally:
            for notifier in self._notifiers.values():
                notifier.close()
        return report

    def _deliver(
        self,
        channel: str,
        envelope: Envelope,
        keys: list[str],
        attempts: int,
        *,
        now: datetime,
        report: DeliveryReport,
    ) -> None:
        quiet = self.policy.quiet_hours
        if channel == self.email_channel and quiet is not None:
            ends = quiet.end_after(now, zone_of(envelope.recipient.timezone))
            if ends is not None:
                outbox.defer(self._store, keys, next_attempt=ends.timestamp())
                report.deferred += len(keys)
                return
        notifier = self._notifiers.get(channel)
        try:
            if notifier is None:
                raise DeliveryError(channel, "this channel is not configured", transient=False)
            notifier.send(envelope)
        except DeliveryError as error:
            report.errors.append(str(error))
            if error.transient and attempts + 1 < self.policy.max_attempts:
                wait = self.policy.retry_delay(attempts + 1)
                outbox.mark_retry(
                    self._store, keys, str(error), next_attempt=now.timestamp() + wait
                )
                report.retried += len(keys)
                self._sent.labels(result="retry", channel=channel).inc(len(keys))
            else:
                outbox.mark_failed(self._store, keys, str(error))
                report.failed += len(keys)
                self._sent.labels(result="failed", channel=channel).inc(len(keys))
            log.warning("%s", error)
            return
        outbox.mark_sent(self._store, keys, now=self._clock().timestamp())
        report.sent += len(keys)
        self._sent.labels(result="sent", channel=channel).inc(len(keys))

    def send_now(self, notice: AlertNotice, recipient: Recipient) -> None:
        """Send ``notice`` to ``recipient`` on the email channel at once, bypassing the outbox
        (``rapport alerts test-email``); raises ``DeliveryError``."""
        notifier = self._notifiers[self.email_channel]
        try:
            notifier.send(Envelope(f"test|{notice.dedupe_key}", recipient, [notice]))
        finally:
            notifier.close()

    # --- the sender thread ----------------------------------------------------------------------

    def start(self, interval: float = 10.0) -> None:
        """Deliver due entries every ``interval`` seconds on a daemon thread, while leader."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="rapport-notify", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        """Start the sender's next round now rather than after ``interval`` (new entries)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the sender thread (after its current round), release the lock."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lock is not None:
            self._lock.close()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            if self._lock is None or self._lock.try_acquire():
                try:
                    self.deliver_due(self._clock())
                except Exception:  # a broken round must not end the sender; it is logged
                    log.exception("notification delivery round failed")
            # Woken early by new entries (``wake``) or by ``stop``.
            self._wake.wait(interval)
            self._wake.clear()


def _envelopes(
    entries: Sequence[outbox.OutboxEntry],
) -> list[tuple[str, Envelope, list[str], int]]:
    """``(channel, envelope, keys, attempts)`` per send: a digest entry joins the other digest
    entries of its channel and recipient; every other entry is sent alone."""
    grouped: dict[tuple[str, str], list[outbox.OutboxEntry]] = {}
    sends: list[list[outbox.OutboxEntry]] = []
    for entry in entries:
        if entry.digest:
            group = grouped.setdefault((entry.channel, entry.recipient), [])
            if not group:
                sends.append(group)
            group.append(entry)
        else:
            sends.append([entry])
    made = []
    for group in sends:
        payloads = [json.loads(e.payload) for e in group]
        recipient = Recipient.model_validate(payloads[0]["recipient"])
        notices = [AlertNotice.model_validate(p["notice"]) for p in payloads]
        envelope = Envelope(group[0].key, recipient, notices)
        made.append(
            (group[0].channel, envelope, [e.key for e in group], max(e.attempts for e in group))
        )
    return made


def _metrics(store: Store, registry: CollectorRegistry | None) -> Any:
    """``rapport_notifications_sent_total{result,channel}`` and the outbox gauges
    ``rapport_outbox_pending`` / ``rapport_outbox_failed`` (read from the store at scrape)."""
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client.core import GaugeMetricFamily

    target = registry if registry is not None else CollectorRegistry()

    class OutboxGauges:
        def collect(self) -> Iterable[GaugeMetricFamily]:
            counted = outbox.counts(store)
            yield GaugeMetricFamily(
                "rapport_outbox_pending", "Outbox entries waiting to be sent", counted["pending"]
            )
            yield GaugeMetricFamily(
                "rapport_outbox_failed", "Outbox entries that gave up", counted["failed"]
            )

    target.register(OutboxGauges())
    return Counter(
        "rapport_notifications_sent_total",
        "Notification delivery attempts by result (sent, retry, failed) and channel",
        ["result", "channel"],
        registry=target,
    )
