"""Cron expressions as APScheduler 3 triggers.

APScheduler 3 numbers weekdays from Monday (``CronTrigger.from_crontab("0 2 * * 0")`` fires on
Mondays: its documented "historical mistake"); cron numbers them from Sunday. The weekdays are
handed to APScheduler by name, so ``0 2 * * 0`` fires on Sundays as cron means it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from gruponos.domain.schedule import schedule_fields

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(expression: str, zone: str) -> CronTrigger:
    """The trigger of a checked expression (5 fields, or 6 with seconds first) in ``zone``."""
    fields = schedule_fields(expression)
    weekdays = (
        "*"
        if fields.weekdays is None
        else ",".join(_DAY_NAMES[day] for day in sorted(fields.weekdays))
    )
    return CronTrigger(
        second=fields.second,
        minute=fields.minute,
        hour=fields.hour,
        day=fields.day,
        month=fields.month,
        day_of_week=weekdays,
        timezone=ZoneInfo(zone),
    )


class CronSchedule:
    """A cron expression in a time zone: its fires, as aware datetimes."""

    def __init__(self, expression: str, zone: str) -> None:
        self.expression = expression
        self.trigger = cron_trigger(expression, zone)

    def first_from(self, moment: datetime) -> datetime | None:
        """The first fire at or after ``moment`` (``None``: never)."""
        found: datetime | None = self.trigger.get_next_fire_time(None, moment)
        return found

    def next_fires(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fires strictly after ``after``."""
        fires: list[datetime] = []
        moment = after + timedelta(microseconds=1)
        while len(fires) < count and (found := self.first_from(moment)) is not None:
            fires.append(found)
            moment = found + timedelta(microseconds=1)
        return fires

    def period(self, after: datetime) -> timedelta | None:
        """The time between the next two fires after ``after`` (``None``: fewer than two)."""
        fires = self.next_fires(after, 2)
        return fires[1] - fires[0] if len(fires) == 2 else None
