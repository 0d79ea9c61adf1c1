"""The business day in tests that talk to running services.

The services read "today" as the Beijing calendar day (`shared.clock`) at the moment they
answer; a test computes it in its own process, a little earlier or later. Whatever a test
expects of a day must therefore come from `shared.clock` (never the UTC date: from 16:00 to
24:00 UTC the two differ) and must not assume that no Beijing midnight falls between making
the data and reading it back:

- `earlier_today(minutes)`: an instant a few minutes ago that is still on today's business
  day (data made "just now" is never on yesterday's);
- `days_during(action)` / `days_awaiting(call)`: the business days the services may have read
  while `action` ran or `call` was awaited (one, or both days when it straddled midnight), so the
  expectation is the service's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

from shared.clock import business_day, day_start, utcnow

T = TypeVar("T")


def today() -> date:
    """The business day now, as the services compute it."""
    return business_day(utcnow())


def earlier_today(minutes: float) -> datetime:
    """`minutes` ago, but never before the start of today's business day."""
    now = utcnow()
    return max(now - timedelta(minutes=minutes), day_start(business_day(now)))


def days_during(action: Callable[[], T]) -> tuple[T, set[date]]:
    """`action()`'s result and the business days it ran on: the day a service answering it read."""
    first = today()
    result = action()
    return result, {first, today()}


async def days_awaiting(call: Awaitable[T]) -> tuple[T, set[date]]:
    """`days_during` for an awaitable (a request of an async client): its result and the business
    days around it."""
    first = today()
    result = await call
    return result, {first, today()}


def days_since(start: date, days: set[date]) -> set[int]:
    """Calendar days from `start` to each of `days` (what a days-in-storage count may say)."""
    return {(d - start).days for d in days}
