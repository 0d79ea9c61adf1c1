"""HTTP routes of the receipts service: parse, authorise by role, call service.py, map errors.

Branch scoping and "which station may act" depend on the receipt, so the service layer
checks them on the locked row; here only the roles are checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AwareDatetime

from services.receipts import service
from services.receipts.domain import REPORT_CSV_COLUMNS, DomainError, ReceiptStatus
from services.receipts.models import (
    CancelCreate,
    ChaseResult,
    EnvelopeArrivalCreate,
    EnvelopeCreate,
    EnvelopeRead,
    HandoverCreate,
    InspectionCreate,
    MonthlyReport,
    ReceiptRead,
    ReceiptSummary,
    ReceiveCreate,
    ReSignCreate,
    WriteOffCreate,
)
from shared.auth import Principal, require_roles
from shared.context import Runtime, runtime
from shared.csvout import csv_response, wants_csv
from shared.errors import ErrorResponse, Invalid, of_status
from shared.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor

T = TypeVar("T")

router = APIRouter(prefix="/v1")

READERS = require_roles("admin", "supervisor", "staff", "branch")
STATIONS_OR_DESK = require_roles("admin", "supervisor", "staff", "branch")
DESK_ONLY = require_roles("admin", "supervisor", "staff")
ADMIN_ONLY = require_roles("admin")

# State conflicts are 409; everything else a rule refuses is invalid content (422).
_CONFLICTS = frozenset({"invalid_transition", "cancel_requires_cod", "envelope_already_received"})
_STATUS = {"not_found": 404, "forbidden": 403}

Responses = dict[int | str, dict[str, Any]]
R404: Responses = {404: {
    "model": ErrorResponse, "description": "unknown, or not visible to this branch"}}
R409: Responses = {409: {
    "model": ErrorResponse, "description": "the state machine refuses this (`invalid_transition`)"}}

WaybillPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{4,32}$", description="waybill number")]
AsOf = Annotated[AwareDatetime | None, Query(description="RFC 3339 with offset; default now")]


def api_error(exc: DomainError) -> Exception:
    status = 409 if exc.code in _CONFLICTS else _STATUS.get(exc.code, 422)
    return of_status(status, exc.code, exc.message, exc.details)


async def call(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except DomainError as exc:
        raise api_error(exc) from exc


def _now() -> datetime:
    return datetime.now(UTC)


async def _read(rt: Runtime, principal: Principal, waybill_no: str) -> dict[str, Any]:
    return await call(service.get_receipt(rt.pool, principal, waybill_no, _now()))


# --------------------------------------------------------------------------- receipts


@router.get("/receipts/{waybill_no}", response_model=ReceiptRead, responses=R404, tags=["receipts"])
async def get_receipt(waybill_no: WaybillPath, as_of: AsOf = None, rt: Runtime = Depends(runtime),
                      principal: Principal = Depends(READERS)) -> dict[str, Any]:
    """The receipt, its deadlines, `overdue` at `as_of` (default now) and its custody chain."""
    return await call(service.get_receipt(rt.pool, principal, waybill_no, as_of or _now()))


@router.get("/receipts", response_model=Page[ReceiptSummary], tags=["receipts"])
async def list_receipts(
    status: Annotated[ReceiptStatus | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
    station: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{2,16}$", description="origin or destination")] = None,
    region: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    as_of: AsOf = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    rt: Runtime = Depends(runtime),
    principal: Principal = Depends(READERS),
) -> dict[str, Any]:
    """Receipts by waybill number, filtered; a branch sees those from or to its station only."""
    key = decode_cursor(cursor, 1)
    after = None
    if key is not None:
        if not isinstance(key[0], str):
            raise Invalid("invalid_cursor", "cursor is not valid")
        after = key[0]
    items, last = await service.list_receipts(rt.pool, principal, status=status, overdue=overdue, station=station,
                                              region=region, as_of=as_of or _now(), after=after, limit=limit)
    return {"items": items, "next_cursor": encode_cursor(last) if last else None}


@router.post("/receipts/{waybill_no}/inspection", response_model=ReceiptRead, responses={**R404, **R409},
             tags=["receipt actions"])
async def inspect(waybill_no: WaybillPath, body: InspectionCreate, rt: Runtime = Depends(runtime),
                  principal: Principal = Depends(STATIONS_OR_DESK)) -> dict[str, Any]:
    """Inspect a signed receipt: `qualified`, or `abnormal` with anomalies (emits receipts.receipt.abnormal.v1)."""
    await call(service.inspect(rt.pool, service.rules_of(rt), principal, waybill_no, result=body.result,
                               anomalies=body.anomalies, by=body.by, at=body.at, now=_now()))
    return await _read(rt, principal, waybill_no)


@router.post("/receipts/{waybill_no}/re-sign", response_model=ReceiptRead, responses={**R404, **R409},
             tags=["receipt actions"])
async def re_sign(waybill_no: WaybillPath, body: ReSignCreate, rt: Runtime = Depends(runtime),
                  principal: Principal = Depends(STATIONS_OR_DESK)) -> dict[str, Any]:
    """An abnormal receipt signed again at the destination (`abnormal` → `signed`)."""
    await call(service.re_sign(rt.pool, service.rules_of(rt), principal, waybill_no, at=body.at, by=body.by,
                               now=_now()))
    return await _read(rt, principal, waybill_no)


@router.post("/receipts/{waybill_no}/handover", response_model=ReceiptRead, responses={**R404, **R409},
             tags=["receipt actions"])
async def hand_over(waybill_no: WaybillPath, body: HandoverCreate, rt: Runtime = Depends(runtime),
                    principal: Principal = Depends(STATIONS_OR_DESK)) -> dict[str, Any]:
    """A received receipt handed to the customer or the account's salesperson."""
    await call(service.hand_over(rt.pool, service.rules_of(rt), principal, waybill_no, to=body.to,
                                 recipient=body.recipient, at=body.at, now=_now()))
    return await _read(rt, principal, waybill_no)


@router.post("/receipts/{waybill_no}/write-off", response_model=ReceiptRead, responses={**R404, **R409},
             tags=["receipt actions"])
async def write_off(waybill_no: WaybillPath, body: WriteOffCreate, rt: Runtime = Depends(runtime),
                    principal: Principal = Depends(STATIONS_OR_DESK)) -> dict[str, Any]:
    """A received receipt collected by the customer in person (核销)."""
    await call(service.write_off(rt.pool, service.rules_of(rt), principal, waybill_no, at=body.at,
                                 collector=body.collector, now=_now()))
    return await _read(rt, principal, waybill_no)


@router.post("/receipts/{waybill_no}/cancel", response_model=ReceiptRead, responses={**R404, **R409},
             tags=["receipt actions"])
async def cancel(waybill_no: WaybillPath, body: CancelCreate | None = None, rt: Runtime = Depends(runtime),
                 principal: Principal = Depends(DESK_ONLY)) -> dict[str, Any]:
    """Cancel a cash-on-delivery receipt (others: 409 `cancel_requires_cod`)."""
    body = body or CancelCreate()
    await call(service.cancel(rt.pool, service.rules_of(rt), principal, waybill_no, at=body.at, reason=body.reason,
                              now=_now()))
    return await _read(rt, principal, waybill_no)


@router.post("/receipts/{waybill_no}/receive", response_model=ReceiptRead, responses={**R404, **R409},
             tags=["receipt actions"])
async def receive_found(waybill_no: WaybillPath, body: ReceiveCreate, rt: Runtime = Depends(runtime),
                        principal: Principal = Depends(STATIONS_OR_DESK)) -> dict[str, Any]:
    """A receipt flagged lost that turned up at the origin (`lost` → `received`)."""
    await call(service.receive_found(rt.pool, service.rules_of(rt), principal, waybill_no, at=body.at,
                                     note=body.note, now=_now()))
    return await _read(rt, principal, waybill_no)


# --------------------------------------------------------------------------- envelopes


@router.post("/envelopes", status_code=201, response_model=EnvelopeRead, responses={**R409}, tags=["envelopes"])
async def mail_envelope(body: EnvelopeCreate, rt: Runtime = Depends(runtime),
                        principal: Principal = Depends(STATIONS_OR_DESK)) -> dict[str, Any]:
    """Mail qualified receipts of one station to their origin station; all of them or none."""
    envelope_id = await call(service.mail_envelope(
        rt.pool, service.rules_of(rt), principal, from_station=body.from_station, to_station=body.to_station,
        waybills=body.waybills, sent_at=body.sent_at, courier_no=body.courier_no, now=_now()))
    return await call(service.get_envelope(rt.pool, principal, envelope_id))


@router.get("/envelopes/{envelope_id}", response_model=EnvelopeRead, responses=R404, tags=["envelopes"])
async def get_envelope(envelope_id: uuid.UUID, rt: Runtime = Depends(runtime),
                       principal: Principal = Depends(READERS)) -> dict[str, Any]:
    return await call(service.get_envelope(rt.pool, principal, envelope_id))


@router.post("/envelopes/{envelope_id}/arrival", response_model=EnvelopeRead, responses={**R404, **R409},
             tags=["envelopes"])
async def envelope_arrival(envelope_id: uuid.UUID, body: EnvelopeArrivalCreate, rt: Runtime = Depends(runtime),
                           principal: Principal = Depends(STATIONS_OR_DESK)) -> dict[str, Any]:
    """Reconcile the envelope's list: present → `received`; missing → `lost` and chased at once."""
    await call(service.receive_envelope(rt.pool, service.rules_of(rt), principal, envelope_id,
                                        received_at=body.received_at, waybills_present=body.waybills_present,
                                        now=_now()))
    return await call(service.get_envelope(rt.pool, principal, envelope_id))


# --------------------------------------------------------------------------- reports and admin


@router.get("/reports/receipts/monthly", response_model=MonthlyReport, tags=["reports"],
            responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `Accept: text/csv`"}})
async def monthly_report(
    request: Request,
    month: Annotated[str, Query(min_length=7, max_length=7, description="YYYY-MM (business time zone)")],
    as_of: AsOf = None,
    rt: Runtime = Depends(runtime),
    principal: Principal = Depends(DESK_ONLY),
) -> Any:
    """Per region: required, returned on time / late, outstanding, abnormal, lost and penalties (CNY)."""
    report = await call(service.monthly(rt.pool, service.rules_of(rt), month=month, as_of=as_of, now=_now()))
    if wants_csv(request):
        rows = [{k: (f"{v:.2f}" if k.endswith("_cny") else v) for k, v in r.items()} for r in report["regions"]]
        return csv_response(rows, REPORT_CSV_COLUMNS, f"receipts-{month}.csv")
    return report


@router.post("/admin/chase", response_model=ChaseResult, tags=["admin"])
async def run_chase(as_of: AsOf = None, rt: Runtime = Depends(runtime),
                    principal: Principal = Depends(ADMIN_ONLY)) -> dict[str, Any]:
    """Run the overdue chase now (or as if at `as_of`); returns what it emitted (each stage once, ever)."""
    return await service.chase(rt.pool, service.rules_of(rt), as_of or _now())

