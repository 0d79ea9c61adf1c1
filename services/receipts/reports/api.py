"""The month-end report route: JSON, or CSV for the desk's printer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.receipts.context import DeskPrincipal, RuntimeDep
from services.receipts.domain.reports import REPORT_COLUMNS, csv_cells
from services.receipts.reports import service
from services.receipts.reports.models import MonthlyReport
from shared.csvout import csv_response, wants_csv
from shared.types import Instant, MonthText

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/reports/receipts/monthly", response_model=MonthlyReport,
            responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `Accept: text/csv`"}})
async def monthly_report(
    request: Request,
    month: Annotated[MonthText, Query(description="YYYY-MM (business time zone)")],
    rt: RuntimeDep,
    principal: DeskPrincipal,
    as_of: Annotated[Instant | None, Query(description="RFC 3339 with offset; default now")] = None,
) -> Any:
    """Per region: required, returned on time / late, outstanding, abnormal, lost and penalties (CNY)."""
    report = await service.monthly(rt, month=month, as_of=as_of)
    if wants_csv(request):
        return csv_response([csv_cells(r) for r in report["regions"]], REPORT_COLUMNS, f"receipts-{month}.csv")
    return report
