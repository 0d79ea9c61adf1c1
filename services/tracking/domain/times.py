"""Aware times, as every rule reads them: refused without an offset, computed in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.clock import NaiveTime, require_aware
from shared.errors import Invalid


def utc(value: datetime, name: str) -> datetime:
    """`value` in UTC; 422 `naive_datetime` when it carries no offset (a naive time is
    ambiguous: the server's zone? Shanghai? Refusing it keeps every comparison meaningful)."""
    if value.tzinfo is UTC:  # the usual case (asyncpg, fromisoformat's "Z"): already what is asked
        return value
    try:
        return require_aware(value, name).astimezone(UTC)
    except NaiveTime as exc:
        raise Invalid("naive_datetime", f"{name} must carry a timezone offset", {"field": name}) from exc


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)
