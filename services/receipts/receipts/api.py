"""Routes of the receipt itself: read one or a page, and the actions on it. Roles here; which
station may act is checked by the use case on the locked row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.receipts.context import DeskPrincipal, ReceiptReader, RuntimeDep, StationOrDesk
from services.receipts.domain.lifecycle import ReceiptStatus
from services.receipts.receipts import service
from services.receipts.receipts.models import (
    CancelCreate,
    HandoverCreate,
    InspectionCreate,
    ReceiptRead,
    ReceiptSummary,
    ReceiveCreate,
    ReSignCreate,
    WriteOffCreate,
)
from shared.errors import ErrorResponse
from shared.pagination import MAX_LIMIT, Page, encode_cursor, read_cursor
from shared.types import Instant, StationCode, WaybillNo

router = APIRouter(prefix="/v1")

Responses = dict[int | str, dict[str, Any]]
R404: Responses = {404: {
    "model": ErrorResponse, "description": "unknown, or not visible to this branch"}}
R409: Responses = {409: {
    "model": ErrorResponse, "description": "the state machine refuses this (`invalid_transition`)"}}

WaybillPath = Annotated[WaybillNo, Path(description="waybill number")]
AsOf = Annotated[Instant | None, Query(description="RFC 3339 with offset; default now")]


@router.get("/receipts/{waybill_no}", response_model=ReceiptRead, responses=R404, tags=["receipts"])
async def get_receipt(waybill_no: WaybillPath, rt: RuntimeDep, principal: ReceiptReader,
                      as_of: AsOf = None) -> dict[str, Any]:
    """The receipt, its deadlines, `overdue` at `as_of` (default now) and its custody chain. A
    customer token: its own shipments' receipts only (any other is 404), custody without the
    desk's notes or staff names, no station contact."""
    return await service.get_receipt(rt, principal=principal, waybill_no=waybill_no, as_of=as_of)


@router.get("/receipts", response_model=Page[ReceiptSummary], tags=["receipts"])
async def list_receipts(
    rt: RuntimeDep,
    principal: ReceiptReader,
    status: Annotated[ReceiptStatus | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
    station: Annotated[StationCode | None, Query(description="origin or destination")] = None,
    region: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    as_of: AsOf = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    """Receipts by waybill number, filtered; a branch sees those from or to its station only, a
    customer token its own shipments' receipts only."""
    key = read_cursor(cursor, str)
    after = key[0] if key is not None else None
    items, last = await service.list_receipts(rt, principal=principal, status=status, overdue=overdue,
                                              station=station, region=region, as_of=as_of, after=after, limit=limit)
    return {"items": items, "next_cursor": encode_cursor(last) if last else None}


def _action(step: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A receipt action's route: `POST /receipts/{waybill_no}/{step}`, answered with the receipt after it."""
    return router.post(f"/receipts/{{waybill_no}}/{step}", response_model=ReceiptRead, responses={**R404, **R409},
                       tags=["receipt actions"])


@_action("inspection")
async def inspect(waybill_no: WaybillPath, body: InspectionCreate, rt: RuntimeDep,
                  principal: StationOrDesk) -> dict[str, Any]:
    """Inspect a signed receipt: `qualified`, or `abnormal` with anomalies (emits receipts.receipt.abnormal.v1)."""
    await service.inspect(rt, principal=principal, waybill_no=waybill_no, result=body.result,
                          anomalies=body.anomalies, by=body.by, at=body.at)
    return await service.get_receipt(rt, principal=principal, waybill_no=waybill_no)


@_action("re-sign")
async def re_sign(waybill_no: WaybillPath, body: ReSignCreate, rt: RuntimeDep,
                  principal: StationOrDesk) -> dict[str, Any]:
    """An abnormal receipt signed again at the destination (`abnormal` → `signed`)."""
    await service.re_sign(rt, principal=principal, waybill_no=waybill_no, at=body.at, by=body.by)
    return await service.get_receipt(rt, principal=principal, waybill_no=waybill_no)


@_action("handover")
async def hand_over(waybill_no: WaybillPath, body: HandoverCreate, rt: RuntimeDep,
                    principal: StationOrDesk) -> dict[str, Any]:
    """A received receipt handed to the customer or the account's salesperson."""
    await service.hand_over(rt, principal=principal, waybill_no=waybill_no, to=body.to, recipient=body.recipient,
                            at=body.at)
    return await service.get_receipt(rt, principal=principal, waybill_no=waybill_no)


@_action("write-off")
async def write_off(waybill_no: WaybillPath, body: WriteOffCreate, rt: RuntimeDep,
                    principal: StationOrDesk) -> dict[str, Any]:
    """A received receipt collected by the customer in person (核销)."""
    await service.write_off(rt, principal=principal, waybill_no=waybill_no, at=body.at, collector=body.collector)
    return await service.get_receipt(rt, principal=principal, waybill_no=waybill_no)


@_action("cancel")
async def cancel(waybill_no: WaybillPath, rt: RuntimeDep, principal: DeskPrincipal,
                 body: CancelCreate | None = None) -> dict[str, Any]:
    """Cancel a cash-on-delivery receipt (others: 409 `cancel_requires_cod`)."""
    body = body or CancelCreate()
    await service.cancel(rt, principal=principal, waybill_no=waybill_no, at=body.at, reason=body.reason)
    return await service.get_receipt(rt, principal=principal, waybill_no=waybill_no)


@_action("receive")
async def receive_found(waybill_no: WaybillPath, body: ReceiveCreate, rt: RuntimeDep,
                        principal: StationOrDesk) -> dict[str, Any]:
    """A receipt flagged lost that turned up at the origin (`lost` → `received`)."""
    await service.receive_found(rt, principal=principal, waybill_no=waybill_no, at=body.at, note=body.note)
    return await service.get_receipt(rt, principal=principal, waybill_no=waybill_no)
