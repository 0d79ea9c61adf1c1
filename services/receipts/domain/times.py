"""Times stated by stations and events: aware only, and not (much) in the future.

A naive datetime has no single meaning across stations and UTC servers; it is refused
rather than guessed, so a deadline never silently shifts by eight hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.clock import NaiveTime, require_aware
from shared.errors import Invalid


def aware(name: str, value: datetime) -> datetime:
    """`value` if it carries an offset; 422 `naive_datetime` naming the field otherwise."""
    try:
        return require_aware(value, name)
    except NaiveTime as exc:
        raise Invalid("naive_datetime", str(exc), {"field": name}) from None


def not_in_future(name: str, value: datetime, *, now: datetime, max_skew: timedelta) -> None:
    """A time a station states may be at most `max_skew` ahead of the server's clock; further
    is a typo or a wrong clock (422 `time_in_future`)."""
    if value > now + max_skew:
        raise Invalid("time_in_future", f"{name} is in the future", {"field": name, "value": value.isoformat()})


def zone(name: str) -> ZoneInfo:
    """The configured business zone by name (`ValueError` for an unknown one: a settings error)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
