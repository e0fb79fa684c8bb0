"""The service's clock: the one place in the shell that asks the system for the time.

Everything else receives a ``Clock`` (``build_service`` injects one), so tests pass a settable
clock in and a score always names the instant it was computed as of.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Returns the current instant, timezone-aware (UTC).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system's current instant in UTC (the default ``Clock``)."""
    return datetime.now(UTC)
