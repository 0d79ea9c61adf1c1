"""Use cases of the day's reports (reads only)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.tracking.context import TrackingRuntime
from services.tracking.daily import repository
from services.tracking.daily.models import NotesReport, NotesRow
from services.tracking.domain.volume import SCAN_STAGES, Movement, Stage, daily_volume
from shared.auth import DESK, Principal
from shared.clock import day_bounds


async def notes_report(rt: TrackingRuntime, *, day: date) -> NotesReport:
    """Tracking notes written on a business day (by when they were recorded), per actor."""
    start, end = day_bounds(day)
    async with rt.pool.acquire() as conn:
        rows = await repository.notes_by_actor(conn, start, end)
    return NotesReport(date=day, rows=[NotesRow(actor=r["actor"], notes=r["notes"], waybills=r["waybills"])
                                       for r in rows])


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


async def volume_rows(rt: TrackingRuntime, *, principal: Principal, day: date,
                      station: str | None) -> list[dict[str, Any]]:
    """每天的货量 on a business day, per station (`domain.volume`); a branch sees its own station's
    row only (another station: no rows)."""
    if principal.role not in DESK:
        if station is not None and station != principal.branch:
            return []
        station = principal.branch
    start, end = day_bounds(day)
    async with rt.pool.acquire() as conn:
        rows = await repository.movements(conn, start, end, station, sorted(SCAN_STAGES))
    return daily_volume(
        Movement(stage=Stage.REGISTERED if r["stage"] == "registered" else Stage.DELIVERED
                 if r["stage"] == "delivered" else SCAN_STAGES[r["stage"]],
                 station=r["station"], waybill_no=r["waybill_no"], pieces=r["moved"], pieces_total=r["total"],
                 weight_kg=_number(r["weight_kg"]), volume_m3=_number(r["volume_m3"]))
        for r in rows)
