"""Delivery appointments (预约送货): which windows can be promised, supersession is the
caller's, a signing outside the window, what became of an appointment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.tracking.domain.appointments import (
    MAX_AHEAD,
    AppointmentOutcome,
    Window,
    check_bookable,
    check_window,
    outcome,
    signed_outside,
)
from services.tracking.domain.scans import ShipmentStatus
from shared.errors import Conflict, Invalid

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
H = timedelta(hours=1)


def refused(start: datetime, end: datetime) -> str:
    with pytest.raises(Invalid) as exc:
        check_window(start, end, NOW)
    return exc.value.code


def test_a_sane_window_is_accepted_in_utc() -> None:
    window = check_window((NOW + 25 * H).astimezone(timezone(timedelta(hours=8))), NOW + 27 * H, NOW)
    assert window.start.tzinfo is UTC and window.end - window.start == 2 * H
    # Today's afternoon, booked in the afternoon: the window has started but not ended.
    assert check_window(NOW - H, NOW + 3 * H, NOW).start == NOW - H


def test_bad_windows_are_refused_by_rule() -> None:
    assert refused(NOW + 3 * H, NOW + 2 * H) == "window_end_before_start"
    assert refused(NOW + 2 * H, NOW + 2 * H) == "window_end_before_start"
    assert refused(NOW + 2 * H, NOW + 2 * H + timedelta(minutes=10)) == "window_too_short"
    assert refused(NOW + H, NOW + 26 * H) == "window_too_long"
    assert refused(NOW - 3 * H, NOW - H) == "window_in_past"
    assert refused(NOW + MAX_AHEAD + H, NOW + MAX_AHEAD + 3 * H) == "window_too_far_ahead"
    assert refused(datetime(2026, 12, 7, 9), datetime(2026, 12, 7, 11)) == "naive_datetime"


def test_only_undelivered_shipments_are_booked() -> None:
    for status in (ShipmentStatus.REGISTERED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.ARRIVED,
                   ShipmentStatus.OUT_FOR_DELIVERY):
        check_bookable(status, "WB1")
    with pytest.raises(Conflict) as exc:
        check_bookable(ShipmentStatus.DELIVERED, "WB1")
    assert exc.value.code == "already_delivered"


def test_signing_outside_the_window() -> None:
    window = Window(NOW, NOW + 2 * H)
    assert not signed_outside(None, NOW)
    assert not signed_outside(window, NOW) and not signed_outside(window, NOW + 2 * H)
    assert signed_outside(window, NOW - timedelta(minutes=1))
    assert signed_outside(window, NOW + 2 * H + timedelta(seconds=1))


def test_outcomes() -> None:
    window = Window(NOW, NOW + 2 * H)
    assert outcome(window, delivered_at=None, superseded=False, now=NOW + H) is AppointmentOutcome.PENDING
    assert outcome(window, delivered_at=None, superseded=False, now=NOW + 3 * H) is AppointmentOutcome.MISSED
    assert outcome(window, delivered_at=NOW + H, superseded=False, now=NOW + 9 * H) is AppointmentOutcome.KEPT
    assert outcome(window, delivered_at=NOW + 5 * H, superseded=False,
                   now=NOW + 9 * H) is AppointmentOutcome.OUTSIDE_WINDOW
    assert outcome(window, delivered_at=None, superseded=True, now=NOW + 3 * H) is AppointmentOutcome.SUPERSEDED
