"""Tracking desk routes: delivery, notes, exceptions, photos, reports.

Thin: parse, authorise (roles here, branch scoping in the use cases), call `desk.service`,
shape the response. See docs/services/tracking-desk.md. (The CSV import, also the desk's,
is a shipments route: `shipments.api`.)
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from services.tracking.context import DeskOrBranch, RuntimeDep, ShipmentReader
from services.tracking.desk import service
from services.tracking.desk.models import (
    DeliveryCreate,
    DeliveryRead,
    ExceptionCreate,
    ExceptionRead,
    ExceptionResolve,
    ExceptionSummaryOut,
    InTransitReport,
    NoteCreate,
    NoteRead,
    PhotoRead,
)
from services.tracking.domain.exceptions import EXCEPTION_COLUMNS, exception_csv_records, report_period
from services.tracking.domain.reports import IN_TRANSIT_COLUMNS, in_transit_csv_records
from shared.clock import BUSINESS_TZ, NaiveTime, require_aware, utcnow
from shared.errors import ErrorResponse, Invalid, TooLarge
from shared.pagination import BIGINT_MAX, MAX_LIMIT, Page, decode_cursor, encode_cursor
from shared.tabular import REPORT_RESPONSES, Table, negotiate, respond
from shared.types import DayOrInstant, in_business_range, period_end, period_start

router = APIRouter(tags=["tracking-desk"])

Waybill = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]

_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "unknown or not visible"}}
_409: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse, "description": "state conflict"}}


# --- delivery ---------------------------------------------------------------------------------


@router.post("/v1/shipments/{waybill_no}/delivery", status_code=201, response_model=DeliveryRead,
             responses={**_404, **_409})
async def record_delivery(waybill_no: Waybill, body: DeliveryCreate, rt: RuntimeDep,
                          principal: DeskOrBranch) -> DeliveryRead:
    """Sign for the goods. Identity failures: 422 `identity_mismatch` (details.reason), nothing recorded."""
    return await service.record_delivery(rt, principal=principal, waybill_no=waybill_no, body=body)


@router.get("/v1/shipments/{waybill_no}/delivery", response_model=DeliveryRead, responses=_404)
async def get_delivery(waybill_no: Waybill, rt: RuntimeDep, principal: DeskOrBranch) -> DeliveryRead:
    return await service.get_delivery(rt, principal=principal, waybill_no=waybill_no)


# --- notes ------------------------------------------------------------------------------------


@router.post("/v1/shipments/{waybill_no}/notes", status_code=201, response_model=NoteRead, responses=_404)
async def add_note(waybill_no: Waybill, body: NoteCreate, rt: RuntimeDep, principal: DeskOrBranch) -> NoteRead:
    """A tracking record; `delayed: true` with a `reason` overrides the inferred delay reason."""
    return await service.add_note(rt, principal=principal, waybill_no=waybill_no, body=body)


@router.get("/v1/shipments/{waybill_no}/notes", response_model=Page[NoteRead], responses=_404)
async def list_notes(waybill_no: Waybill, rt: RuntimeDep, principal: DeskOrBranch,
                     cursor: Annotated[str | None, Query(max_length=200)] = None,
                     limit: Limit = 100) -> Page[NoteRead]:
    key = decode_cursor(cursor, 2)
    after = None
    if key is not None:
        try:
            after = (datetime.fromisoformat(str(key[0])), int(key[1]))
        except (TypeError, ValueError) as exc:
            raise Invalid("invalid_cursor", "cursor is not valid") from exc
    items, nxt = await service.list_notes(rt, principal=principal, waybill_no=waybill_no, after=after, limit=limit)
    return Page[NoteRead](items=items, next_cursor=encode_cursor(nxt[0].isoformat(), nxt[1]) if nxt else None)


# --- exceptions -------------------------------------------------------------------------------


@router.post("/v1/shipments/{waybill_no}/exceptions", status_code=201, response_model=ExceptionRead,
             responses=_404)
async def report_exception(waybill_no: Waybill, body: ExceptionCreate, rt: RuntimeDep,
                           principal: DeskOrBranch) -> ExceptionRead:
    return await service.report_exception(rt, principal=principal, waybill_no=waybill_no, body=body)


@router.get("/v1/exceptions/{exception_id}", response_model=ExceptionRead, responses=_404)
async def get_exception(exception_id: uuid.UUID, rt: RuntimeDep, principal: ShipmentReader) -> ExceptionRead:
    """One exception; a customer token: of its own shipments only (404 otherwise), staff shown by role."""
    return await service.get_exception(rt, principal=principal, exception_id=exception_id)


@router.post("/v1/exceptions/{exception_id}/resolve", response_model=ExceptionRead, responses={**_404, **_409})
async def resolve_exception(exception_id: uuid.UUID, rt: RuntimeDep, principal: DeskOrBranch,
                            body: ExceptionResolve | None = None) -> ExceptionRead:
    return await service.resolve_exception(rt, principal=principal, exception_id=exception_id,
                                           resolution=body.resolution if body else None)


@router.post("/v1/exceptions/{exception_id}/photos", status_code=201, response_model=PhotoRead,
             responses={**_404, **_409,
                        413: {"model": ErrorResponse, "description": "larger than LCS_PHOTO_MAX_BYTES"},
                        415: {"model": ErrorResponse, "description": "not a JPEG, PNG, WebP or GIF image"}})
async def upload_photo(exception_id: uuid.UUID, response: Response, rt: RuntimeDep, principal: DeskOrBranch,
                       file: UploadFile = File(...)) -> PhotoRead:
    """Multipart field `file`. The same bytes twice on one exception are stored once (200)."""
    limit = rt.settings.photo_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("payload_too_large", f"a photo may be at most {limit} bytes")
    photo, created = await service.add_photo(rt, principal=principal, exception_id=exception_id, data=data,
                                             filename=file.filename)
    if not created:
        response.status_code = 200
    return photo


@router.get("/v1/exceptions/{exception_id}/photos", response_model=Page[PhotoRead], responses=_404)
async def list_photos(exception_id: uuid.UUID, rt: RuntimeDep, principal: ShipmentReader,
                      cursor: Annotated[str | None, Query(max_length=200)] = None,
                      limit: Limit = 100) -> Page[PhotoRead]:
    key = decode_cursor(cursor, 1)
    after = None
    if key is not None:
        if not isinstance(key[0], int):
            raise Invalid("invalid_cursor", "cursor is not valid")
        after = key[0]
    items, nxt = await service.list_photos(rt, principal=principal, exception_id=exception_id, after=after,
                                           limit=limit)
    return Page[PhotoRead](items=items, next_cursor=encode_cursor(nxt) if nxt is not None else None)


@router.get("/v1/exceptions/{exception_id}/photos/{photo_id}", response_class=StreamingResponse,
            responses={**_404, 200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {},
                                                 "image/gif": {}}}})
async def get_photo(exception_id: uuid.UUID, photo_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)], rt: RuntimeDep,
                    principal: ShipmentReader) -> StreamingResponse:
    """The photo's bytes, as an attachment in a sandbox: a file that is also HTML or script (a
    polyglot) is never rendered or run as a page of this origin."""
    photo = await service.photo_file(rt, principal=principal, exception_id=exception_id, photo_id=photo_id)
    extension = photo.content_type.removeprefix("image/")
    # streamed from the photo store in chunks (desk.photos), never read whole into memory
    return StreamingResponse(photo.chunks, media_type=photo.content_type,
                             headers={"Content-Length": str(photo.size),
                                      "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
                                      "ETag": f'"{photo.sha256}"',
                                      "Content-Disposition": f'attachment; filename="photo-{photo_id}.{extension}"',
                                      "Content-Security-Policy": "sandbox; default-src 'none'"})


# --- reports ----------------------------------------------------------------------------------


def _aware(value: datetime | None, name: str) -> datetime | None:
    try:
        aware = None if value is None else require_aware(value, name)
    except NaiveTime as exc:
        raise Invalid("validation_error", f"{name} must carry a timezone offset") from exc
    if aware is not None:
        try:
            in_business_range(aware)
        except ValueError as exc:
            raise Invalid("validation_error", f"{name}: {exc}") from exc
    return aware


@router.get("/v1/reports/in-transit", response_model=InTransitReport, responses=REPORT_RESPONSES)
async def in_transit_report(request: Request, rt: RuntimeDep, principal: DeskOrBranch,
                            as_of: Annotated[datetime | None, Query(
                                description="evaluate at this time (default: now)")] = None) -> Any:
    """The 08:00 check. As a sheet (`Accept: text/csv` or XLSX): one line per vehicle and shipment."""
    fmt = negotiate(request)
    now = _aware(as_of, "as_of") or utcnow()
    rows, headings = await service.in_transit_rows(rt, principal=principal, now=now)
    return respond(fmt, json=service.in_transit_report(rows, now, headings),
                   table=lambda: Table(f"in-transit-{now.astimezone(BUSINESS_TZ):%Y%m%d-%H%M}", IN_TRANSIT_COLUMNS,
                                       in_transit_csv_records(rows)))


@router.get("/v1/reports/exceptions", response_model=ExceptionSummaryOut, response_model_by_alias=True,
            responses=REPORT_RESPONSES)
async def exception_report(request: Request, rt: RuntimeDep, principal: DeskOrBranch,
                           start: Annotated[DayOrInstant | None, Query(alias="from")] = None,
                           end: Annotated[DayOrInstant | None, Query(alias="to")] = None) -> Any:
    """Exceptions reported in the period by station and kind (default: the current business week).
    `from` and `to` are days (YYYY-MM-DD, Beijing time; `to` is included) or instants with an offset
    (`to` excluded); with one of them, the period is the 7 days from or to it."""
    fmt = negotiate(request)
    start_at, end_at = report_period(None if start is None else period_start(start),
                                     None if end is None else period_end(end), utcnow())
    summary = await service.exception_summary(rt, principal=principal, start=start_at, end=end_at)
    return respond(fmt, json=service.exception_summary_out(summary),
                   table=lambda: Table(f"exceptions-{start_at.astimezone(BUSINESS_TZ):%Y%m%d}", EXCEPTION_COLUMNS,
                                       exception_csv_records(summary)))
