"""Retry policy: which failures are retried, and how long to wait before the next attempt."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: 409 is "record changed, try again"; 429 comes from gateways; 5xx are transient server faults.
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})

#: Jitter source; ``secrets`` because a linter cannot tell jitter from crypto, and it is cheap.
system_random = secrets.SystemRandom().random


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded attempts, ``Retry-After`` honoured up to a cap.

    ``delay(attempt)`` after the ``attempt``-th failed attempt (1-based) is uniform in
    ``[0, min(cap, base * 2 ** (attempt - 1))]``; a ``Retry-After`` replaces it, capped.
    """

    max_attempts: int
    backoff_base: float
    backoff_cap: float
    retry_after_cap: float
    random: Callable[[], float] = system_random

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** min(attempt - 1, 62))
        return ceiling * self.random()

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return self.backoff(attempt)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent
    or unreadable. A date in the past means no wait."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
