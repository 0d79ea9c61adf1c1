"""HTTP routes of the day's reports: `GET /v1/reports/notes`, `GET /v1/reports/daily-volume`
(JSON, or CSV with `Accept: text/csv`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from services.tracking.context import DeskOnly, DeskOrBranch, RuntimeDep
from services.tracking.daily import service
from services.tracking.daily.models import DailyVolume, NotesReport
from services.tracking.domain.reports import csv_bytes, render_csv
from services.tracking.domain.volume import CSV_COLUMNS, csv_records
from shared.clock import business_day, utcnow
from shared.csvout import wants_csv
from shared.types import STATION_CODE_PATTERN, Day

router = APIRouter(tags=["tracking-desk"])

# A calendar day within the business years (shared.types.Day: 1970-2999), so its bounds never overflow.
DayParam = Annotated[Day | None, Query(description="a calendar day in Asia/Shanghai (default: today)")]


@router.get("/v1/reports/notes", response_model=NotesReport)
async def notes_report(rt: RuntimeDep, _: DeskOnly, date: DayParam = None) -> NotesReport:
    """Tracking notes (追踪记录) written that day, per person: how many, about how many waybills."""
    return await service.notes_report(rt, day=date or business_day(utcnow()))


@router.get("/v1/reports/daily-volume", response_model=DailyVolume,
            responses={200: {"content": {"text/csv": {}}}})
async def daily_volume(request: Request, rt: RuntimeDep, principal: DeskOrBranch, date: DayParam = None,
                       station: Annotated[str | None, Query(pattern=STATION_CODE_PATTERN)] = None) -> Any:
    """每天的货量: per station, the shipments, pieces, weight and volume registered, departed,
    arrived and delivered that day. A branch: its own station. `Accept: text/csv` for the sheet."""
    day = date or business_day(utcnow())
    rows = await service.volume_rows(rt, principal=principal, day=day, station=station)
    if wants_csv(request):
        return Response(csv_bytes(render_csv(csv_records(rows), CSV_COLUMNS), excel_bom=True),
                        media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="daily-volume-{day:%Y%m%d}.csv"'})
    return DailyVolume.model_validate({"date": day, "rows": rows})
