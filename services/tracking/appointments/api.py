"""Routes of delivery appointments (预约送货). Roles: the desk, a branch (waybills touching its
stations; its own station's day), a customer (its own waybills: the portal books them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from services.tracking.appointments import service
from services.tracking.appointments.models import AppointmentCreate, AppointmentDay, AppointmentRead
from services.tracking.context import RuntimeDep
from shared.auth import DESK, Principal, require_roles
from shared.clock import BUSINESS_TZ, utcnow
from shared.errors import ErrorResponse
from shared.types import STATION_CODE_PATTERN, WAYBILL_NO_PATTERN, Day, Instant

router = APIRouter(tags=["tracking-appointments"])

DeskBranchOrCustomer = Annotated[Principal, Depends(require_roles(*DESK, "branch", "customer"))]
WaybillPath = Annotated[str, Path(pattern=WAYBILL_NO_PATTERN)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "unknown or not visible"},
    409: {"model": ErrorResponse, "description": "already_delivered"},
}


@router.post("/v1/shipments/{waybill_no}/appointments", status_code=201, response_model=AppointmentRead,
             responses=_ERRORS)
async def book_appointment(waybill_no: WaybillPath, body: AppointmentCreate, rt: RuntimeDep,
                           principal: DeskBranchOrCustomer) -> AppointmentRead:
    """Book a delivery window agreed with the consignee; it supersedes the waybill's current one and
    publishes `tracking.delivery.appointed.v1`. 422: `window_end_before_start`, `window_too_short`
    (< 15 min), `window_too_long` (> 24 h), `window_in_past`, `window_too_far_ahead` (> 60 days);
    409 `already_delivered`."""
    return await service.book(rt, principal=principal, waybill_no=waybill_no, body=body)


@router.get("/v1/appointments", response_model=AppointmentDay)
async def station_day(
    rt: RuntimeDep, principal: DeskBranchOrCustomer,
    station: Annotated[str | None, Query(pattern=STATION_CODE_PATTERN,
                                         description="the delivering station (a branch: its own)")] = None,
    day: Annotated[Day | None, Query(alias="date", description="business day (Asia/Shanghai); default today")]
    = None,
    as_of: Annotated[Instant | None, Query(description="judge the outcomes at this time (default: now)")] = None,
) -> AppointmentDay:
    """The current appointments whose window starts on that day, each with its outcome: pending,
    kept, outside_window (signed outside the window) or missed (window over, not delivered)."""
    now = as_of or utcnow()
    return await service.station_day(rt, principal=principal, station=station,
                                     day=day or now.astimezone(BUSINESS_TZ).date(), as_of=now)
