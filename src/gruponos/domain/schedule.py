"""Cron schedules (5 fields, UTC): when a pipeline runs next, for ``GET /api/v1/pipelines``.

Supports ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, and lists of those;
weekdays are 0-6 from Sunday (7 is Sunday too). As in cron, when both the day of the month and
the weekday are restricted, a day matching either one matches.

>>> from datetime import UTC, datetime
>>> next_run("*/15 * * * *", datetime(2026, 1, 1, 10, 7, tzinfo=UTC)).isoformat()
'2026-01-01T10:15:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
#: Give up after this many days without a match (``0 0 31 2 *`` never runs).
_HORIZON_DAYS = 366 * 5


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if span == "*":
                start, end = low, high
            elif "-" in span:
                start, end = (int(v) for v in span.split("-", 1))
            else:
                start = end = int(span)
        except ValueError:
            raise ValueError(f"{part!r} is not a number, a range or a step") from None
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(f"{part!r} is out of {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> tuple[frozenset[int], ...]:
    """The allowed values of each field; ``ValueError`` on a malformed expression."""
    fields = expression.split()
    if len(fields) != len(_BOUNDS):
        raise ValueError("a cron expression has 5 fields: minute hour day month weekday")
    parsed = [_field(text, low, high) for text, (low, high) in zip(fields, _BOUNDS, strict=True)]
    weekdays = parsed[4]
    if 7 in weekdays:
        parsed[4] = (weekdays - {7}) | {0}
    return tuple(parsed)


def next_run(expression: str, after: datetime) -> datetime | None:
    """The first minute strictly after ``after`` that ``expression`` matches (``None`` when
    none within five years)."""
    minutes, hours, days, months, weekdays = parse_cron(expression)
    any_day = expression.split()[2] == "*"
    any_weekday = expression.split()[4] == "*"

    def day_matches(moment: datetime) -> bool:
        by_day = moment.day in days
        by_weekday = (moment.isoweekday() % 7) in weekdays
        if any_day or any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = moment.replace(hour=0, minute=0)
    for _ in range(_HORIZON_DAYS):
        if day.month in months and day_matches(day):
            start = moment if day.date() == moment.date() else day
            for hour in sorted(h for h in hours if h >= start.hour):
                for minute in sorted(minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    return None


@dataclass(frozen=True, slots=True)
class ScheduleFields:
    """A schedule of ``gruponos scheduler``, checked: cron's five fields (or six, seconds
    first: for tests and demos), with the weekdays as numbers 0-6 from Sunday (``None``: any)."""

    second: str
    minute: str
    hour: str
    day: str
    month: str
    weekdays: frozenset[int] | None


def schedule_fields(expression: str) -> ScheduleFields:
    """Check a scheduler's cron expression; ``ValueError`` saying what is wrong.

    Five fields as in cron (``0 */2 * * *``) or six with the seconds first (``*/5 * * * * *``).
    Restricting both the day of the month and the weekday is refused: cron runs when either
    matches, a scheduler that needs both would silently run less often.

    >>> schedule_fields("0 2 * * 0").weekdays
    frozenset({0})
    """
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            "a schedule has 5 fields (minute hour day month weekday), or 6 with the seconds first"
        )
    second = fields.pop(0) if len(fields) == 6 else "0"
    _field(second, 0, 59)
    minutes, hours, days, months, weekdays = parse_cron(" ".join(fields))
    del minutes, hours, days, months  # checked; the scheduler reads the text
    if fields[2] != "*" and fields[4] != "*":
        raise ValueError(
            "restrict the day of the month or the weekday, not both (cron would run on either)"
        )
    return ScheduleFields(
        second, fields[0], fields[1], fields[2], fields[3], None if fields[4] == "*" else weekdays
    )
