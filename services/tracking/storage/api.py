"""`GET /v1/reports/storage`: the temporary-storage report (货物暂存报表), as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from services.tracking.context import RuntimeDep
from services.tracking.domain.reports import csv_bytes, render_csv
from services.tracking.domain.storage import STORAGE_CSV_COLUMNS
from services.tracking.storage import service
from services.tracking.storage.models import StorageReport
from shared.auth import DESK, Principal, require_roles
from shared.clock import BUSINESS_TZ, utcnow
from shared.csvout import wants_csv
from shared.errors import ErrorResponse
from shared.types import IDENTIFIER_PATTERN, STATION_CODE_PATTERN, Instant

router = APIRouter(tags=["tracking-desk"])

DeskBranchOrCustomer = Annotated[Principal, Depends(require_roles(*DESK, "branch", "customer"))]


@router.get("/v1/reports/storage", response_model=StorageReport,
            responses={200: {"content": {"text/csv": {}}},
                       403: {"model": ErrorResponse, "description": "another branch's station or customer's goods"}})
async def storage_report(
    request: Request, rt: RuntimeDep, principal: DeskBranchOrCustomer,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    station: Annotated[str | None, Query(pattern=STATION_CODE_PATTERN,
                                         description="the destination station where the goods wait")] = None,
    as_of: Annotated[Instant | None, Query(description="age the goods at this time (default: now)")] = None,
) -> Any:
    """Goods that reached their destination station and are not delivered (split shipments: the
    pieces that arrived), with days in storage (Beijing calendar days) and the current
    appointment. A branch reads its own station, a customer its own goods.
    `Accept: text/csv` for the sheet (UTF-8 with BOM)."""
    now = as_of or utcnow()
    rows, station, customer_id = await service.storage_rows(rt, principal=principal, station=station,
                                                            customer_id=customer_id, as_of=now)
    if wants_csv(request):
        body = csv_bytes(render_csv([r.record() for r in rows], STORAGE_CSV_COLUMNS), excel_bom=True)
        filename = f"storage-{now.astimezone(BUSINESS_TZ):%Y%m%d-%H%M}.csv"
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return service.report_out(rows, as_of=now, station=station, customer_id=customer_id)
