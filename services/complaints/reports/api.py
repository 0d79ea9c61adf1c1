"""HTTP routes of the reports (JSON, or CSV for the desk's spreadsheet): the month's
complaints, the day's work per desk member."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from services.complaints.context import DeskPrincipal, RuntimeDep
from services.complaints.domain.daily_work import COUNTS
from services.complaints.domain.reports import REPORT_COLUMNS, report_csv_rows
from services.complaints.reports import service
from services.complaints.reports.models import ComplaintsReportRead, DailyWorkRead
from shared.csvout import csv_response, wants_csv
from shared.errors import ErrorResponse
from shared.types import Day, Instant, MonthText

reports = APIRouter(prefix="/v1/reports", tags=["reports"])


@reports.get("/complaints", response_model=ComplaintsReportRead,
            responses={200: {"content": {"text/csv": {}}, "description": "the report (JSON, or CSV on request)"},
                       422: {"model": ErrorResponse}})
async def complaints_report(request: Request, rt: RuntimeDep, _: DeskPrincipal,
                            month: Annotated[MonthText, Query(description="YYYY-MM (desk timezone)")],
                            as_of: Annotated[Instant | None,
                                             Query(description="judge running SLAs at this time")] = None
                            ) -> Response:
    """Tickets opened in the month: counts by category and channel, SLA met shares, median first
    response and resolution (minutes), CSAT average and distribution. `Accept: text/csv` for CSV."""
    report = await service.complaints_report(rt, month=month, as_of=as_of)
    if wants_csv(request):
        return csv_response(report_csv_rows(report), REPORT_COLUMNS, f"complaints-{report.month}.csv")
    return JSONResponse(report.to_dict())


@reports.get("/complaints/daily-work", response_model=DailyWorkRead, response_model_by_alias=True,
             responses={200: {"content": {"text/csv": {}}, "description": "the report (JSON, or CSV on request)"},
                        422: {"model": ErrorResponse}})
async def daily_work_report(request: Request, rt: RuntimeDep, _: DeskPrincipal,
                            date: Annotated[Day, Query(description="YYYY-MM-DD, a calendar day in the desk timezone")]
                            ) -> Response:
    """当日工作报表 as the complaints desk records it: per desk member, calls logged, receipts
    chased (calls about a receipt), callbacks returned, tickets opened, claimed, answered (first
    answers, and those within the first-response SLA) and resolved (and within the resolution
    SLA). `Accept: text/csv` for CSV."""
    report = await service.daily_work_report(rt, day=date)
    if wants_csv(request):
        return csv_response(report["people"], ("person", *COUNTS), f"daily-work-{date.isoformat()}.csv")
    return JSONResponse(DailyWorkRead.model_validate(report).model_dump(mode="json", by_alias=True))
