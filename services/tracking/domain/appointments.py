"""Delivery appointments (预约送货): the window agreed with the consignee, whether it can be
booked, and what became of it.

- A window is two aware instants, the end after the start, between `MIN_WINDOW` and
  `MAX_WINDOW` long, ending after now and starting at most `MAX_AHEAD` ahead
  (`check_window`, 422 with the rule's code).
- A delivered shipment takes no appointment (409 `already_delivered`, as a scan or a second
  signing would be refused); a newer appointment supersedes the current one.
- A signing is `outside_window` when an appointment was current and the signing time is not
  inside its window (`signed_outside`).
- The outcome (`outcome`): `superseded` once replaced; delivered inside the window `kept`,
  outside it `outside_window`; not delivered: `missed` once the window has ended, else
  `pending`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.tracking.domain.scans import ShipmentStatus
from services.tracking.domain.times import utc
from shared.errors import Conflict, Invalid

MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)
MAX_AHEAD = timedelta(days=60)


class AppointmentChannel(StrEnum):
    """How the window was agreed (与客户预约送货: by phone, e-mail or the portal)."""

    PHONE = "phone"
    EMAIL = "email"
    PORTAL = "portal"


class AppointmentOutcome(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    OUTSIDE_WINDOW = "outside_window"
    MISSED = "missed"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Window:
    """A delivery window, both ends in UTC, inclusive."""

    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= utc(at, "at") <= self.end


def _refuse(code: str, message: str, field: str) -> Invalid:
    return Invalid(code, message, {"field": field})


def check_window(start: datetime, end: datetime, now: datetime) -> Window:
    """The window, if it is one a consignee can be promised; else 422 with one of
    `window_end_before_start`, `window_too_short`, `window_too_long`, `window_in_past`,
    `window_too_far_ahead` (a time without an offset: `naive_datetime`)."""
    start, end, now = utc(start, "window_start"), utc(end, "window_end"), utc(now, "now")
    if end <= start:
        raise _refuse("window_end_before_start", "window_end must be after window_start", "window_end")
    if end - start < MIN_WINDOW:
        raise _refuse("window_too_short", f"a window lasts at least {int(MIN_WINDOW.total_seconds() // 60)} minutes",
                      "window_end")
    if end - start > MAX_WINDOW:
        raise _refuse("window_too_long", f"a window lasts at most {int(MAX_WINDOW.total_seconds() // 3600)} hours",
                      "window_end")
    if end <= now:
        raise _refuse("window_in_past", "the window has already ended", "window_end")
    if start - now > MAX_AHEAD:
        raise _refuse("window_too_far_ahead", f"a window starts at most {MAX_AHEAD.days} days ahead",
                      "window_start")
    return Window(start, end)


def check_bookable(status: ShipmentStatus, waybill_no: str) -> None:
    """409 `already_delivered` for a delivered shipment; any other may be booked (goods still
    on the road are booked for their expected arrival)."""
    if status is ShipmentStatus.DELIVERED:
        raise Conflict("already_delivered", f"shipment {waybill_no} has already been delivered")


def signed_outside(window: Window | None, signed_at: datetime) -> bool:
    """Whether a signing missed the agreed window (False when none was agreed)."""
    return window is not None and not window.contains(signed_at)


def outcome(window: Window, *, delivered_at: datetime | None, superseded: bool,
            now: datetime) -> AppointmentOutcome:
    """What became of an appointment, as of `now`."""
    if superseded:
        return AppointmentOutcome.SUPERSEDED
    if delivered_at is not None:
        return AppointmentOutcome.KEPT if window.contains(delivered_at) else AppointmentOutcome.OUTSIDE_WINDOW
    return AppointmentOutcome.MISSED if utc(now, "now") > window.end else AppointmentOutcome.PENDING
