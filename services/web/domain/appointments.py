"""Delivery appointments on the desk (预约送货), pure:

- the booking form gives a Beijing date and two clock times; the window is those instants in
  Asia/Shanghai (`shared.clock.BUSINESS_TZ`), an end at or before the start meaning the same
  day still (tracking refuses it with its own rule) — the form never guesses a next day;
- a row of the station's day is flagged when its outcome is `missed` (window over, goods not
  delivered) or `outside_window` (signed outside it): those are the ones to follow up.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from shared.clock import BUSINESS_TZ
from shared.errors import Invalid

FLAGGED = frozenset({"missed", "outside_window"})


def window_from_form(day: str, start: str, end: str) -> tuple[datetime, datetime]:
    """The window typed on the form, as aware instants; 422 `invalid_window` when a part is
    missing or not a date / clock time."""
    try:
        d = date.fromisoformat(day.strip())
        t0, t1 = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError as exc:
        raise Invalid("invalid_window", "give the date and both times of the window") from exc
    return (datetime.combine(d, t0.replace(tzinfo=None), tzinfo=BUSINESS_TZ),
            datetime.combine(d, t1.replace(tzinfo=None), tzinfo=BUSINESS_TZ))


def flagged(item: dict[str, Any]) -> bool:
    return item.get("outcome") in FLAGGED


def storage_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The storage report's rows flattened for the desk's table and sheets (the appointment's
    window and outcome as columns of their own)."""
    rows = []
    for r in report.get("rows", []):
        a = r.get("appointment") or {}
        rows.append({**{k: v for k, v in r.items() if k != "appointment"},
                     "appointment_start": a.get("window_start"), "appointment_end": a.get("window_end"),
                     "appointment_outcome": a.get("outcome")})
    return rows
