"""The admin's dispatch route: one pass over what is due, as of a chosen time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.notifier.context import AdminPrincipal, RuntimeDep
from services.notifier.delivery import service
from services.notifier.delivery.models import DispatchRun
from services.notifier.recipients.api import ERRORS
from shared.clock import utcnow
from shared.types import Instant, WaybillNo

router = APIRouter(prefix="/v1", tags=["notifier"])


@router.post("/admin/dispatch", response_model=DispatchRun, responses=ERRORS,
             summary="Send what is due at `now` (default: the wall clock) once, e.g. to flush deferred messages")
async def run_dispatch(rt: RuntimeDep, _: AdminPrincipal, now: Annotated[Instant | None, Query()] = None,
                       waybill_no: Annotated[WaybillNo | None, Query()] = None) -> DispatchRun:
    at = now or utcnow()
    processed = await service.dispatch_pass(rt, now=at, waybill_no=waybill_no)
    return DispatchRun(now=at, processed=processed)
