"""HTTP routes of the call log: record calls, list them, and work the callbacks owed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from services.complaints import paging
from services.complaints.calls import service
from services.complaints.calls.models import CallbackDoneIn, CallbackDue, CallCreate, CallRead
from services.complaints.context import DeskPrincipal, RuntimeDep
from shared.errors import ErrorResponse
from shared.pagination import Page
from shared.pii import mask_phone
from shared.types import Identifier, Instant, WaybillNo

calls = APIRouter(prefix="/v1/calls", tags=["calls"])


@calls.post("", status_code=201, response_model=CallRead, responses={422: {"model": ErrorResponse}})
async def log_call(body: CallCreate, rt: RuntimeDep, principal: DeskPrincipal) -> dict[str, Any]:
    """Every call is recorded; `outcome: callback` needs `callback_due`. A call that returns a callback
    names it in `callback_of` (422 `unknown_call` / `not_a_callback`, 409 `callback_settled`)."""
    return await service.log_call(rt, principal=principal, call=body.model_dump())


@calls.get("/callbacks", response_model=Page[CallbackDue], responses={422: {"model": ErrorResponse}})
async def list_callbacks(
    rt: RuntimeDep, _: DeskPrincipal,
    due_before: Annotated[Instant | None, Query(
        description="only callbacks due by then (RFC 3339 with offset)")] = None,
    customer_id: Identifier | None = None, cursor: paging.Cursor = None, limit: paging.Limit = 50,
) -> dict[str, Any]:
    """The callbacks the desk still owes — promised (`outcome: callback`), not yet returned by a
    call naming them in `callback_of` with an outcome other than `no_answer`, and not marked done —
    soonest due first; phone numbers masked."""
    rows = await service.callbacks_due(rt, due_before=due_before, customer_id=customer_id,
                                       after=paging.after(cursor), limit=limit + 1)
    rows, next_cursor = paging.page(rows, limit, "callback_due")
    return {"items": [{**r, "phone": mask_phone(r["phone"])} for r in rows], "next_cursor": next_cursor}


@calls.post("/{call_id}/callback-done", response_model=CallRead,
             responses={404: {"model": ErrorResponse, "description": "no such call"},
                        409: {"model": ErrorResponse, "description": "callback_settled: already returned or done"},
                        422: {"model": ErrorResponse, "description": "not_a_callback"}})
async def callback_done(call_id: Annotated[uuid.UUID, Path(description="the call that promised the callback")],
                        rt: RuntimeDep, principal: DeskPrincipal,
                        body: CallbackDoneIn | None = Body(None)) -> dict[str, Any]:
    """Mark a promised callback done without a returning call (the matter was settled another way,
    e.g. the customer called in again): it leaves `GET /v1/calls/callbacks`. Phone number masked."""
    row = await service.mark_callback_done(rt, principal=principal, call_id=call_id,
                                           note=body.note if body else None)
    return {**row, "phone": mask_phone(row["phone"])}


@calls.get("", response_model=Page[CallRead], responses={422: {"model": ErrorResponse}})
async def list_calls(
    rt: RuntimeDep, _: DeskPrincipal,
    customer_id: Identifier | None = None, waybill_no: WaybillNo | None = None,
    outcome: paging.Code = None, cursor: paging.Cursor = None, limit: paging.Limit = 50,
) -> dict[str, Any]:
    """Newest first; phone numbers masked."""
    rows = await service.list_calls(rt, customer_id=customer_id, waybill_no=waybill_no, outcome=outcome,
                                    after=paging.after(cursor), limit=limit + 1)
    rows, next_cursor = paging.page(rows, limit, "called_at")
    return {"items": [{**r, "phone": mask_phone(r["phone"])} for r in rows], "next_cursor": next_cursor}
