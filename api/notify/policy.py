"""When an outbox entry may be sent: quiet hours, the daily digest and retry backoff.

All of it is read in the recipient's IANA time zone and is pure (times in, times out). Quiet
hours defer — the next attempt becomes the end of the quiet period — and never drop. A digest
entry waits for the recipient's next local digest hour, where every digest entry due for that
recipient goes out in one email.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from rapport.engine.errors import RapportError

_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class QuietHoursError(RapportError):
    """A quiet-hours setting that is not ``HH:MM-HH:MM``."""

    def __init__(self, text: str) -> None:
        super().__init__(f"Invalid quiet hours {text!r}: expected HH:MM-HH:MM, e.g. 22:00-07:00")


@dataclass(frozen=True)
class QuietHours:
    """A daily local period (``start`` inclusive, ``end`` exclusive; it may cross midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _RANGE.match(text.strip())
        if match is None or match.group(1, 2) == match.group(3, 4):
            raise QuietHoursError(text)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return cls(time(h1, m1), time(h2, m2))

    def end_after(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """The end of the quiet period ``moment`` falls in (aware, in ``zone``), or None when
        ``moment`` is outside quiet hours."""
        local = moment.astimezone(zone)
        now = local.time().replace(tzinfo=None)
        crosses = self.start > self.end
        inside = (self.start <= now or now < self.end) if crosses else self.start <= now < self.end
        if not inside:
            return None
        day = local.date() + timedelta(days=1) if crosses and now >= self.start else local.date()
        return datetime.combine(day, self.end, zone)


def next_digest(moment: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The first local ``hour:00`` in ``zone`` at or after ``moment``."""
    local = moment.astimezone(zone)
    candidate = datetime.combine(local.date(), time(hour), zone)
    if candidate < local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hour), zone)
    return candidate


@dataclass(frozen=True)
class DeliveryPolicy:
    """How the outbox is worked: quiet hours and digest hour (None: none), the most attempts
    before an entry fails, and the exponential backoff (``backoff * 2**(attempt-1)``, at most
    ``max_backoff`` seconds) between attempts."""

    quiet_hours: QuietHours | None = None
    digest_hour: int | None = None
    max_attempts: int = 8
    backoff: float = 30.0
    max_backoff: float = 3600.0

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return float(min(self.backoff * 2 ** max(attempts - 1, 0), self.max_backoff))
