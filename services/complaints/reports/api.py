"""HTTP routes of the reports (JSON, or CSV / XLSX for the desk's spreadsheet, `shared.tabular`):
the month's complaints, the day's work per desk member."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.complaints.context import DeskPrincipal, RuntimeDep
from services.complaints.domain.daily_work import WORK_COLUMNS
from services.complaints.domain.reports import report_table
from services.complaints.reports import service
from services.complaints.reports.models import ComplaintsReportRead, DailyWorkRead
from shared.errors import ErrorResponse
from shared.tabular import REPORT_RESPONSES, Table, negotiate, respond
from shared.types import Day, Instant, MonthText

reports = APIRouter(prefix="/v1/reports", tags=["reports"])


@reports.get("/complaints", response_model=ComplaintsReportRead,
             responses={**REPORT_RESPONSES, 422: {"model": ErrorResponse}})
async def complaints_report(request: Request, rt: RuntimeDep, _: DeskPrincipal,
                            month: Annotated[MonthText, Query(description="YYYY-MM (desk timezone)")],
                            as_of: Annotated[Instant | None,
                                             Query(description="judge running SLAs at this time")] = None
                            ) -> Any:
    """Tickets opened in the month: counts by category and channel, SLA met shares, median first
    response and resolution (minutes), CSAT average and distribution. As a sheet (`Accept:
    text/csv` or XLSX): one figure a line (metric, key, value)."""
    fmt = negotiate(request)
    report = await service.complaints_report(rt, month=month, as_of=as_of)
    return respond(fmt, json=JSONResponse(report.to_dict()), table=lambda: report_table(report))


@reports.get("/complaints/daily-work", response_model=DailyWorkRead, response_model_by_alias=True,
             responses={**REPORT_RESPONSES, 422: {"model": ErrorResponse}})
async def daily_work_report(request: Request, rt: RuntimeDep, _: DeskPrincipal,
                            date: Annotated[Day, Query(description="YYYY-MM-DD, a calendar day in the desk timezone")]
                            ) -> Any:
    """当日工作报表 as the complaints desk records it: per desk member, calls logged, receipts
    chased (calls about a receipt), callbacks returned, tickets opened, claimed, answered (first
    answers, and those within the first-response SLA) and resolved (and within the resolution
    SLA). As a sheet (`Accept: text/csv` or XLSX): one line per person."""
    fmt = negotiate(request)
    report = await service.daily_work_report(rt, day=date)
    return respond(fmt, json=JSONResponse(DailyWorkRead.model_validate(report).model_dump(mode="json", by_alias=True)),
                   table=lambda: Table(f"daily-work-{date.isoformat()}", WORK_COLUMNS, report["people"]))
