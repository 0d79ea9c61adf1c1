"""`GET /v1/reports/storage`: the temporary-storage report (货物暂存报表), as JSON, CSV or XLSX."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.tracking.context import RuntimeDep
from services.tracking.domain.storage import STORAGE_COLUMNS
from services.tracking.storage import service
from services.tracking.storage.models import StorageReport
from shared.auth import DESK, Principal, require_roles
from shared.clock import BUSINESS_TZ, utcnow
from shared.errors import ErrorResponse
from shared.tabular import REPORT_RESPONSES, Table, negotiate, respond
from shared.types import IDENTIFIER_PATTERN, STATION_CODE_PATTERN, Instant

router = APIRouter(tags=["tracking-desk"])

DeskBranchOrCustomer = Annotated[Principal, Depends(require_roles(*DESK, "branch", "customer"))]


@router.get("/v1/reports/storage", response_model=StorageReport,
            responses={**REPORT_RESPONSES,
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
    As a sheet (`Accept: text/csv` or XLSX): one line per shipment, the appointment in columns."""
    fmt = negotiate(request)
    now = as_of or utcnow()
    rows, station, customer_id = await service.storage_rows(rt, principal=principal, station=station,
                                                            customer_id=customer_id, as_of=now)
    return respond(fmt, json=service.report_out(rows, as_of=now, station=station, customer_id=customer_id),
                   table=lambda: Table(f"storage-{now.astimezone(BUSINESS_TZ):%Y%m%d-%H%M}", STORAGE_COLUMNS,
                                       [r.record() for r in rows]))
