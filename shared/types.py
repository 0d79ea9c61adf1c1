"""Input types every API uses, so limits are the same everywhere: bounded strings,
station codes, plausible phone numbers, e-mail addresses, strict aware times."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

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

# Mainland mobile (11 digits starting 1[3-9]) or a landline / international number.
PHONE_PATTERN = r"^(\+?\d{1,3}[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{7,15})$"
EMAIL_PATTERN = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$"
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=PHONE_PATTERN)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)]

# The same patterns for plain-Python checks (a CSV cell, a fast path), used with `fullmatch`:
# like pydantic's, it refuses a final "\n" that `$` alone would let through.
STATION_CODE = re.compile(STATION_CODE_PATTERN)
IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
WAYBILL_NO = re.compile(WAYBILL_NO_PATTERN)
PHONE = re.compile(PHONE_PATTERN)
EMAIL = re.compile(EMAIL_PATTERN)

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
# A calendar month, YYYY-MM.
MonthText = Annotated[str, StringConstraints(pattern=r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$")]

# A database row id (PostgreSQL bigint, positive).
DbId = Annotated[int, Field(ge=1, le=2**63 - 1)]

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Pieces = Annotated[int, Field(ge=1, le=100_000)]
