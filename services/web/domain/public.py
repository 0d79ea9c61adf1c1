"""The public tracking page's rules, without I/O.

- Limits: per client address `per_address` look-ups a minute (shared.ratelimit, in PostgreSQL);
  per waybill, `failures` wrong digits within `lock` lock its digit checks for `lock` (`DigitLock`).
  The waybill is the normalised number (shared.links.normalise_waybill), so case, spaces and
  full-width forms count as one, and an unknown number counts like a known one (no existence oracle).
- Audit: what a look-up leaves in the log is masked (`waybill_suffix`, `masked_digits`).
- The ETA is shown as a day and half-day (`eta_text`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from services.web.domain.words import Lang

Outcome = Literal["coarse", "detailed", "not_found", "invalid", "rate_limited", "locked", "unavailable"]


def waybill_hash(waybill: str) -> bytes:
    return hashlib.sha256(b"lcs-public-waybill|" + waybill.encode()).digest()


def waybill_suffix(waybill: str | None) -> str | None:
    """`SH2026112800001` -> `…0001`: enough to find a look-up again, not the number."""
    if not waybill:
        return None
    return "…" + waybill[-4:]


def masked_digits(digits: str | None) -> str | None:
    return "****" if digits else None


def is_digits(text: str) -> bool:
    return len(text) == 4 and text.isascii() and text.isdigit()


@dataclass(frozen=True)
class DigitLock:
    """The wrong digits counted on one waybill: `failures` since `first_at`, locked until `locked_until`."""

    failures: int
    first_at: datetime
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def wait_seconds(self, now: datetime) -> float:
        return max(0.0, (self.locked_until - now).total_seconds()) if self.locked_until else 0.0


def after_failure(state: DigitLock | None, now: datetime, *, limit: int, lock: timedelta) -> DigitLock:
    """One more wrong guess: counted from the first failure within `lock`; the `limit`-th locks
    the waybill for `lock` and starts the count afresh."""
    fresh = state is None or now - state.first_at >= lock or (state.locked_until is not None
                                                              and now >= state.locked_until)
    failures = 1 if fresh or state is None else state.failures + 1
    first_at = now if fresh or state is None else state.first_at
    if failures >= limit:
        return DigitLock(failures=0, first_at=now, locked_until=now + lock)
    return DigitLock(failures=failures, first_at=first_at,
                     locked_until=None if fresh or state is None else state.locked_until)


_HALF = {"am": ("上午", "morning"), "pm": ("下午", "afternoon")}


def eta_text(day: date, half: str, lang: Lang) -> str:
    """`12月1日 下午` / `1 Dec, afternoon`."""
    zh, en = _HALF.get(half, ("", ""))
    if lang == "zh-CN":
        return f"{day.month}月{day.day}日 {zh}"
    return f"{day.day} {day.strftime('%b')}, {en}"
