"""HTTP routes of the day's reports: `GET /v1/reports/notes`, `GET /v1/reports/daily-volume`
(JSON, or CSV / XLSX by `Accept`, through `shared.tabular` like every report)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.tracking.context import DeskOnly, DeskOrBranch, RuntimeDep
from services.tracking.daily import service
from services.tracking.daily.models import DailyVolume, NotesReport
from services.tracking.domain.volume import SHEET_COLUMNS, csv_records
from shared.clock import business_day, utcnow
from shared.tabular import REPORT_RESPONSES, Table, columns, negotiate, respond
from shared.types import STATION_CODE_PATTERN, Day

router = APIRouter(tags=["tracking-desk"])

# A calendar day within the business years (shared.types.Day: 1970-2999), so its bounds never overflow.
DayParam = Annotated[Day | None, Query(description="a calendar day in Asia/Shanghai (default: today)")]


NOTES_COLUMNS = columns("actor", ("notes", "int"), ("waybills", "int"))


@router.get("/v1/reports/notes", response_model=NotesReport, responses=REPORT_RESPONSES)
async def notes_report(request: Request, rt: RuntimeDep, _: DeskOnly, date: DayParam = None) -> Any:
    """Tracking notes (追踪记录) written that day, per person: how many, about how many waybills."""
    fmt = negotiate(request)
    day = date or business_day(utcnow())
    report = await service.notes_report(rt, day=day)
    return respond(fmt, json=report, table=lambda: Table(
        f"notes-{day:%Y%m%d}", NOTES_COLUMNS, [row.model_dump() for row in report.rows]))


@router.get("/v1/reports/daily-volume", response_model=DailyVolume, responses=REPORT_RESPONSES)
async def daily_volume(request: Request, rt: RuntimeDep, principal: DeskOrBranch, date: DayParam = None,
                       station: Annotated[str | None, Query(pattern=STATION_CODE_PATTERN)] = None) -> Any:
    """每天的货量: per station, the shipments, pieces, weight and volume registered, departed,
    arrived and delivered that day. A branch: its own station. As a sheet (`Accept: text/csv` or
    XLSX): one line per station."""
    fmt = negotiate(request)
    day = date or business_day(utcnow())
    rows = await service.volume_rows(rt, principal=principal, day=day, station=station)
    return respond(fmt, json=DailyVolume.model_validate({"date": day, "rows": rows}),
                   table=lambda: Table(f"daily-volume-{day:%Y%m%d}", SHEET_COLUMNS, csv_records(rows)))
