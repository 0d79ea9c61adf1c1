"""When the desk works, and the calendar months reports and visits are counted in.

* ``BusinessHours``: the window in which an SLA clock runs (``None`` instead of an
  instance means round the clock).
* Business-time arithmetic: ``add_business_minutes``, ``business_minutes_between`` and
  their ``timedelta`` forms used by the SLA rules.
* ``Month``: a calendar month read in the desk's time zone, half-open in UTC.

All datetimes must be timezone aware (``shared.clock.require_aware``); arithmetic is
done in UTC and results are returned in UTC, because two aware datetimes sharing one
``tzinfo`` compare by wall time in Python, which is wrong across offset changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.clock import BUSINESS_TZ_NAME, require_aware
from shared.errors import Invalid

MINUTE = timedelta(minutes=1)
ALL_WEEK: frozenset[int] = frozenset(range(7))


def utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC; a naive time is refused (``shared.clock.NaiveTime``, a ``ValueError``)."""
    return require_aware(value, name).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """When the SLA clock runs. Pass ``None`` instead of an instance for 24x7.

    Defaults follow the seed: staff are at the desk at 08:00 (早上8点到公司) and track
    vehicles every day (每天), so the desk works seven days a week; 18:00 is the
    closing time. ``weekdays`` uses ``date.weekday()`` numbering (Monday = 0).
    A window must not span midnight (``start < end``); use ``None`` for round-the-clock.
    """

    tz: str = BUSINESS_TZ_NAME
    start: time = time(8, 0)
    end: time = time(18, 0)
    weekdays: frozenset[int] = ALL_WEEK
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        ZoneInfo(self.tz)  # fail fast on an unknown zone name
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("business hours are local wall times; give naive start/end")
        if not self.start < self.end:
            raise ValueError("business hours must start before they end (no overnight window)")
        if not self.weekdays or not set(self.weekdays) <= set(ALL_WEEK):
            raise ValueError("weekdays must be a non-empty subset of 0..6 (Monday = 0)")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays


DEFAULT_BUSINESS_HOURS = BusinessHours()

# A run of 20 years of non-working days means a configuration that can never meet a
# deadline; stop instead of looping forever.
_MAX_DAYS_SCANNED = 366 * 20


def _windows(after: datetime, hours: BusinessHours) -> Iterator[tuple[datetime, datetime]]:
    """Business windows in UTC, in order, that end after ``after`` (clipped to start at it)."""
    zone = hours.zone
    day = after.astimezone(zone).date()
    for _ in range(_MAX_DAYS_SCANNED):
        if hours.is_working_day(day):
            opens = datetime.combine(day, hours.start, zone).astimezone(UTC)
            closes = datetime.combine(day, hours.end, zone).astimezone(UTC)
            if closes > after:
                yield max(opens, after), closes
        day += timedelta(days=1)
    raise ValueError("no business window found within 20 years; check weekdays and holidays")


def add_business(start: datetime, amount: timedelta, hours: BusinessHours | None) -> datetime:
    """The instant ``amount`` of business time after ``start`` (both UTC)."""
    if amount < timedelta(0):
        raise ValueError("cannot add a negative amount of business time")
    if hours is None or amount == timedelta(0):
        # Zero minutes is "now", even outside business hours: nothing is owed yet.
        return start + amount
    remaining = amount
    for opens, closes in _windows(start, hours):
        available = closes - opens
        if remaining <= available:
            return opens + remaining
        remaining -= available
    raise AssertionError("unreachable: _windows raises when it runs out")  # pragma: no cover


def business_between(a: datetime, b: datetime, hours: BusinessHours | None) -> timedelta:
    """Business time in ``[a, b)`` (both UTC); zero when ``b`` is not after ``a``."""
    if b <= a:
        return timedelta(0)
    if hours is None:
        return b - a
    total = timedelta(0)
    for opens, closes in _windows(a, hours):
        if opens >= b:
            break
        total += min(closes, b) - opens
    return total


def add_business_minutes(
    start: datetime, minutes: int | float, hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS
) -> datetime:
    """The instant ``minutes`` business minutes after ``start`` (UTC).

    Outside business hours the count starts at the next opening, so a call at 23:00
    with a 5-minute target is due 5 minutes after the desk opens. A target that ends
    exactly at closing time is due at closing time, not the next morning.
    """
    return add_business(utc(start, "start"), minutes * MINUTE, hours)


def business_minutes_between(
    a: datetime, b: datetime, hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS
) -> float:
    """Business minutes in ``[a, b)``; 0 when ``b`` is not after ``a`` (never negative)."""
    return business_between(utc(a, "a"), utc(b, "b"), hours) / MINUTE


# ---------------------------------------------------------------------------
# Months
# ---------------------------------------------------------------------------

_MONTH_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month, read in the desk's timezone for reports and visits."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9998 or not 1 <= self.month <= 12:
            raise ValueError(f"not a month: {self.year}-{self.month}")

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def of(cls, at: datetime, tz: str = BUSINESS_TZ_NAME) -> Month:
        """The month an instant falls in, in ``tz``."""
        local = require_aware(at, "at").astimezone(ZoneInfo(tz))
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def starts_at(self, tz: str = BUSINESS_TZ_NAME) -> datetime:
        """First instant of the month (UTC), local midnight of the 1st."""
        return datetime(self.year, self.month, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)

    def ends_at(self, tz: str = BUSINESS_TZ_NAME) -> datetime:
        """First instant after the month (UTC); months are half-open ``[starts_at, ends_at)``."""
        return self.next().starts_at(tz)

    def contains(self, value: datetime, tz: str = BUSINESS_TZ_NAME) -> bool:
        return self.starts_at(tz) <= utc(value, "value") < self.ends_at(tz)


def parse_month(text: str) -> Month:
    """Strict ``YYYY-MM`` (e.g. ``2026-11``); anything else raises ``invalid_month`` (422)."""
    match = _MONTH_RE.fullmatch(text) if isinstance(text, str) else None
    try:
        if match is None:
            raise ValueError(text)
        return Month(int(match.group(1)), int(match.group(2)))
    except ValueError:
        raise Invalid("invalid_month", "month must be YYYY-MM, e.g. 2026-11", {"month": text}) from None
