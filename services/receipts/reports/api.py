"""The month-end report route: JSON, or CSV / XLSX for the desk's spreadsheet (`shared.tabular`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.receipts.context import DeskPrincipal, RuntimeDep
from services.receipts.domain.reports import REPORT_TABLE_COLUMNS
from services.receipts.reports import service
from services.receipts.reports.models import MonthlyReport
from shared.tabular import REPORT_RESPONSES, Table, negotiate, respond
from shared.types import Instant, MonthText

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/reports/receipts/monthly", response_model=MonthlyReport, responses=REPORT_RESPONSES)
async def monthly_report(
    request: Request,
    month: Annotated[MonthText, Query(description="YYYY-MM (business time zone)")],
    rt: RuntimeDep,
    principal: DeskPrincipal,
    as_of: Annotated[Instant | None, Query(description="RFC 3339 with offset; default now")] = None,
) -> Any:
    """Per region: required, returned on time / late, outstanding, abnormal, lost and penalties (CNY).
    As a sheet (`Accept: text/csv` or XLSX): one line per region."""
    fmt = negotiate(request)
    report = await service.monthly(rt, month=month, as_of=as_of)
    return respond(fmt, json=report,
                   table=lambda: Table(f"receipts-{month}", REPORT_TABLE_COLUMNS, report["regions"]))
