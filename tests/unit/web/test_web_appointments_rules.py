"""The desk's appointment rules, pure: the booking form's window in Beijing time, which rows are
flagged, the storage report's rows as the desk's table shows them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.web.domain.appointments import flagged, storage_rows, window_from_form
from shared.errors import Invalid


def test_the_form_window_is_beijing_time() -> None:
    start, end = window_from_form("2026-12-07", "09:00", "12:30")
    assert start.astimezone(UTC) == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 12, 7, 4, 30, tzinfo=UTC)
    assert start.isoformat() == "2026-12-07T09:00:00+08:00"


@pytest.mark.parametrize(("day", "start", "end"), [("", "09:00", "12:00"), ("2026-12-07", "9点", "12:00"),
                                                   ("2026-13-01", "09:00", "12:00"), ("2026-12-07", "09:00", "")])
def test_a_form_without_a_date_or_times_is_refused(day: str, start: str, end: str) -> None:
    with pytest.raises(Invalid) as exc:
        window_from_form(day, start, end)
    assert exc.value.code == "invalid_window"


def test_missed_and_outside_window_are_flagged() -> None:
    assert flagged({"outcome": "missed"}) and flagged({"outcome": "outside_window"})
    assert not any(flagged({"outcome": o}) for o in ("pending", "kept", "superseded"))


def test_storage_rows_carry_the_appointment_as_columns() -> None:
    rows = storage_rows({"rows": [
        {"waybill_no": "W1", "pieces": 4, "appointment": {"window_start": "2026-12-07T01:00:00Z",
                                                          "window_end": "2026-12-07T03:00:00Z", "outcome": "missed"},
         "appointment_missed": True},
        {"waybill_no": "W2", "pieces": 10, "appointment": None, "appointment_missed": False}]})
    assert rows[0] == {"waybill_no": "W1", "pieces": 4, "appointment_missed": True,
                       "appointment_start": "2026-12-07T01:00:00Z", "appointment_end": "2026-12-07T03:00:00Z",
                       "appointment_outcome": "missed"}
    assert rows[1]["appointment_start"] is None and rows[1]["appointment_outcome"] is None
