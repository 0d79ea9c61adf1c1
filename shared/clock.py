"""Time as the business reads it: one time zone, aware instants only.

Everything is stored and computed in UTC; the business zone (Asia/Shanghai: customers,
stations and staff all read Beijing time) is used for calendar days, months and display.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BUSINESS_TZ_NAME = "Asia/Shanghai"
BUSINESS_TZ = ZoneInfo(BUSINESS_TZ_NAME)


class NaiveTime(ValueError):
    """A time without an offset: refused, never guessed."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} must carry a time-zone offset")
        self.name = name


def utcnow() -> datetime:
    return datetime.now(UTC)


def require_aware(value: datetime, name: str = "time") -> datetime:
    """`value` itself, if it carries an offset; `NaiveTime` otherwise."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveTime(name)
    return value


def business_day(at: datetime) -> date:
    """The calendar day (business zone) an instant falls on."""
    return require_aware(at).astimezone(BUSINESS_TZ).date()


def day_start(day: date) -> datetime:
    """The first instant (UTC) of a business day."""
    return datetime.combine(day, time.min, tzinfo=BUSINESS_TZ).astimezone(UTC)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A business day as the half-open UTC interval [start, next day's start)."""
    return day_start(day), day_start(day + timedelta(days=1))
