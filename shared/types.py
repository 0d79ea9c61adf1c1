"""Input types every API uses, so limits are the same everywhere: bounded strings,
station codes, plausible phone numbers, e-mail addresses, strict aware times."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
)

from shared.clock import day_start

# Free text typed by people: trimmed, bounded.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]

# Identifiers: letters, digits and a few separators; never free text.
STATION_CODE_PATTERN = r"^[A-Z0-9]{2,16}$"
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
WAYBILL_NO_PATTERN = r"^[A-Za-z0-9-]{4,32}$"
StationCode = Annotated[str, StringConstraints(pattern=STATION_CODE_PATTERN)]
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
WaybillNo = Annotated[str, StringConstraints(pattern=WAYBILL_NO_PATTERN)]
# A courier's tracking number, as written on an envelope of receipts.
CourierNo = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{3,40}$")]
# A notification template's name (`delayed`, `daily_arrivals`...).
TemplateName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]

# Mainland mobile (11 digits starting 1[3-9]) or a landline / international number.
PHONE_PATTERN = r"^(\+?\d{1,3}[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{7,15})$"
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=PHONE_PATTERN)]
EMAIL_PATTERN = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$"
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)]
# What an SMS gateway is asked to dial: looser than `Phone` (spaces and dashes between digits),
# because numbers reach the notifier from events and stored preferences, not only from `Phone` input.
DIALABLE_PATTERN = r"^\+?[0-9][0-9 \-]{5,19}$"

# Times and days the business can mean: anything outside is a typo or a probe, and years
# at the edges of what Python or PostgreSQL hold overflow when moved between zones.
MIN_YEAR = 1970
MAX_YEAR = 2999


def in_business_range(value: datetime | date) -> datetime | date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


# RFC 3339 with an offset: a time without one is refused, never guessed.
Instant = Annotated[AwareDatetime, AfterValidator(in_business_range)]
Day = Annotated[date, AfterValidator(in_business_range)]
# One end of a report's period: a calendar day (YYYY-MM-DD, a day in the business time zone) or
# an instant with an offset. `period_start` / `period_end` turn it into the instant it means: a
# day starts the period at its first instant, and ends it after its last (`to` is inclusive as a
# day, exclusive as an instant: from=2026-12-01&to=2026-12-07 is the week of seven days).
_DAY_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INSTANT = TypeAdapter(AwareDatetime)


def _day_or_instant(value: Any) -> date | datetime:
    if isinstance(value, str):
        text = value.strip()
        value = date.fromisoformat(text) if _DAY_TEXT.fullmatch(text) else _INSTANT.validate_python(text)
    elif isinstance(value, datetime):
        value = _INSTANT.validate_python(value)
    elif not isinstance(value, date):
        raise ValueError("expected a day (YYYY-MM-DD) or a time with an offset")
    return in_business_range(value)


DayOrInstant = Annotated[
    date | datetime,
    PlainValidator(_day_or_instant),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
                    "description": "a calendar day (YYYY-MM-DD, Asia/Shanghai) or an RFC 3339 time with an offset"}),
]


def period_start(value: date | datetime) -> datetime:
    """The instant a period starting at `value` starts: a day's first instant, or the instant."""
    return value if isinstance(value, datetime) else day_start(value)


def period_end(value: date | datetime) -> datetime:
    """The instant a period ending at `value` ends (exclusive): the next day's first instant, or the instant."""
    return value if isinstance(value, datetime) else day_start(value + timedelta(days=1))


# A calendar month, YYYY-MM.
MonthText = Annotated[str, StringConstraints(pattern=r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$")]

# A database row id (PostgreSQL bigint, positive).
DbId = Annotated[int, Field(ge=1, le=2**63 - 1)]

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Pieces = Annotated[int, Field(ge=1, le=100_000)]

_EMAIL = re.compile(EMAIL_PATTERN)
_DIALABLE = re.compile(DIALABLE_PATTERN)
# For the plain-Python checks below that use `fullmatch`: like pydantic's pattern, it refuses a
# final "\n" that `$` alone would let through.
_STATION_CODE = re.compile(STATION_CODE_PATTERN)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_WAYBILL_NO = re.compile(WAYBILL_NO_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)


def is_email(value: str) -> bool:
    """Whether `value` is an e-mail address by the same rule as `Email` (for plain-Python checks)."""
    return _EMAIL.match(value) is not None


def is_dialable(value: str) -> bool:
    """Whether `value` looks like a number an SMS gateway can dial."""
    return _DIALABLE.match(value) is not None


def is_station_code(value: str) -> bool:
    """Whether `value` is a station code by the same rule as `StationCode`."""
    return _STATION_CODE.fullmatch(value) is not None


def is_identifier(value: str) -> bool:
    """Whether `value` is an identifier by the same rule as `Identifier`."""
    return _IDENTIFIER.fullmatch(value) is not None


def is_waybill_no(value: str) -> bool:
    """Whether `value` is a waybill number by the same rule as `WaybillNo`."""
    return _WAYBILL_NO.fullmatch(value) is not None


def is_phone(value: str) -> bool:
    """Whether `value` (trimmed) is a phone number by the same rule as `Phone`."""
    return _PHONE.fullmatch(value.strip()) is not None
