"""Tracking desk routes: delivery, notes, exceptions, photos, reports, bulk import.

Thin: parse, authorise (roles here, branch scoping in the use cases), call
`desk_service`, shape the response. See docs/services/tracking-desk.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from python_multipart.exceptions import MultipartParseError
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.tracking import desk_service as svc
from services.tracking import domain
from services.tracking.desk_models import (
    DeliveryCreate,
    DeliveryRead,
    ExceptionCreate,
    ExceptionRead,
    ExceptionResolve,
    ExceptionSummaryOut,
    ImportResultOut,
    InTransitReport,
    NoteCreate,
    NoteRead,
    PhotoRead,
)
from services.tracking.settings import tracking_settings
from shared.auth import Principal, require_roles
from shared.context import Runtime, runtime
from shared.csvout import wants_csv
from shared.errors import ErrorResponse, Invalid, TooLarge, UnsupportedMedia
from shared.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor

router = APIRouter(tags=["tracking-desk"])

desk_or_branch = require_roles("admin", "supervisor", "staff", "branch")

Waybill = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]

_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "unknown or not visible"}}
_409: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse, "description": "state conflict"}}
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


def _csv(records: list[dict[str, Any]], columns: tuple[str, ...], filename: str) -> Response:
    body = domain.csv_bytes(domain.render_csv(records, columns), excel_bom=True)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- delivery ---------------------------------------------------------------------------------


@router.post("/v1/shipments/{waybill_no}/delivery", status_code=201, response_model=DeliveryRead,
             responses={**_404, **_409})
async def record_delivery(waybill_no: Waybill, body: DeliveryCreate, rt: Runtime = Depends(runtime),
                          principal: Principal = Depends(desk_or_branch)) -> DeliveryRead:
    """Sign for the goods. Identity failures: 422 `identity_mismatch` (details.reason), nothing recorded."""
    return await svc.record_delivery(rt, waybill_no, body, principal)


@router.get("/v1/shipments/{waybill_no}/delivery", response_model=DeliveryRead, responses=_404)
async def get_delivery(waybill_no: Waybill, rt: Runtime = Depends(runtime),
                       principal: Principal = Depends(desk_or_branch)) -> DeliveryRead:
    return await svc.get_delivery(rt, waybill_no, principal)


# --- notes ------------------------------------------------------------------------------------


@router.post("/v1/shipments/{waybill_no}/notes", status_code=201, response_model=NoteRead, responses=_404)
async def add_note(waybill_no: Waybill, body: NoteCreate, rt: Runtime = Depends(runtime),
                   principal: Principal = Depends(desk_or_branch)) -> NoteRead:
    """A tracking record; `delayed: true` with a `reason` overrides the inferred delay reason."""
    return await svc.add_note(rt, waybill_no, body, principal)


@router.get("/v1/shipments/{waybill_no}/notes", response_model=Page[NoteRead], responses=_404)
async def list_notes(waybill_no: Waybill, cursor: str | None = Query(default=None, max_length=200),
                     limit: Limit = 100, rt: Runtime = Depends(runtime),
                     principal: Principal = Depends(desk_or_branch)) -> Page[NoteRead]:
    key = decode_cursor(cursor, 2)
    after = None
    if key is not None:
        try:
            after = (datetime.fromisoformat(str(key[0])), int(key[1]))
        except (TypeError, ValueError) as exc:
            raise Invalid("invalid_cursor", "cursor is not valid") from exc
    items, nxt = await svc.list_notes(rt, waybill_no, principal, after, limit)
    return Page[NoteRead](items=items, next_cursor=encode_cursor(nxt[0].isoformat(), nxt[1]) if nxt else None)


# --- exceptions -------------------------------------------------------------------------------


@router.post("/v1/shipments/{waybill_no}/exceptions", status_code=201, response_model=ExceptionRead,
             responses=_404)
async def report_exception(waybill_no: Waybill, body: ExceptionCreate, rt: Runtime = Depends(runtime),
                           principal: Principal = Depends(desk_or_branch)) -> ExceptionRead:
    return await svc.report_exception(rt, waybill_no, body, principal)


@router.get("/v1/exceptions/{exception_id}", response_model=ExceptionRead, responses=_404)
async def get_exception(exception_id: uuid.UUID, rt: Runtime = Depends(runtime),
                        principal: Principal = Depends(desk_or_branch)) -> ExceptionRead:
    return await svc.get_exception(rt, exception_id, principal)


@router.post("/v1/exceptions/{exception_id}/resolve", response_model=ExceptionRead, responses={**_404, **_409})
async def resolve_exception(exception_id: uuid.UUID, body: ExceptionResolve | None = None,
                            rt: Runtime = Depends(runtime),
                            principal: Principal = Depends(desk_or_branch)) -> ExceptionRead:
    return await svc.resolve_exception(rt, exception_id, body.resolution if body else None, principal)


@router.post("/v1/exceptions/{exception_id}/photos", status_code=201, response_model=PhotoRead,
             responses={**_404, **_409,
                        413: {"model": ErrorResponse, "description": "larger than LCS_PHOTO_MAX_BYTES"},
                        415: {"model": ErrorResponse, "description": "not a JPEG, PNG, WebP or GIF image"}})
async def upload_photo(exception_id: uuid.UUID, response: Response, file: UploadFile = File(...),
                       rt: Runtime = Depends(runtime),
                       principal: Principal = Depends(desk_or_branch)) -> PhotoRead:
    """Multipart field `file`. The same bytes twice on one exception are stored once (200)."""
    limit = tracking_settings(rt.settings).photo_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("payload_too_large", f"a photo may be at most {limit} bytes")
    photo, created = await svc.add_photo(rt, exception_id, data, file.filename, principal)
    if not created:
        response.status_code = 200
    return photo


@router.get("/v1/exceptions/{exception_id}/photos", response_model=Page[PhotoRead], responses=_404)
async def list_photos(exception_id: uuid.UUID, cursor: str | None = Query(default=None, max_length=200),
                      limit: Limit = 100, rt: Runtime = Depends(runtime),
                      principal: Principal = Depends(desk_or_branch)) -> Page[PhotoRead]:
    key = decode_cursor(cursor, 1)
    after = None
    if key is not None:
        if not isinstance(key[0], int):
            raise Invalid("invalid_cursor", "cursor is not valid")
        after = key[0]
    items, nxt = await svc.list_photos(rt, exception_id, principal, after, limit)
    return Page[PhotoRead](items=items, next_cursor=encode_cursor(nxt) if nxt is not None else None)


@router.get("/v1/exceptions/{exception_id}/photos/{photo_id}", response_class=FileResponse,
            responses={**_404, 200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {},
                                                 "image/gif": {}}}})
async def get_photo(exception_id: uuid.UUID, photo_id: int, rt: Runtime = Depends(runtime),
                    principal: Principal = Depends(desk_or_branch)) -> FileResponse:
    photo = await svc.photo_file(rt, exception_id, photo_id, principal)
    return FileResponse(photo.path, media_type=photo.content_type,
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
                                 "ETag": f'"{photo.sha256}"'})


# --- reports ----------------------------------------------------------------------------------


@router.get("/v1/reports/in-transit", response_model=InTransitReport, responses=_CSV)
async def in_transit_report(request: Request, as_of: datetime | None = Query(
                                default=None, description="evaluate at this time (default: now)"),
                            rt: Runtime = Depends(runtime),
                            principal: Principal = Depends(desk_or_branch)) -> Any:
    """The 08:00 check; `Accept: text/csv` for the printable sheet (one line per vehicle and shipment)."""
    if as_of is not None and as_of.tzinfo is None:
        raise Invalid("validation_error", "as_of must carry a timezone offset")
    now = as_of or datetime.now(UTC)
    rows, headings = await svc.in_transit_rows(rt, principal, now)
    if wants_csv(request):
        return _csv(domain.in_transit_csv_records(rows), domain.IN_TRANSIT_CSV_COLUMNS,
                    f"in-transit-{now.astimezone(domain.BUSINESS_TZ):%Y%m%d-%H%M}.csv")
    return svc.in_transit_report(rows, now, headings)


@router.get("/v1/reports/exceptions", response_model=ExceptionSummaryOut, response_model_by_alias=True,
            responses=_CSV)
async def exception_report(request: Request,
                           start: datetime | None = Query(default=None, alias="from"),
                           end: datetime | None = Query(default=None, alias="to"),
                           rt: Runtime = Depends(runtime),
                           principal: Principal = Depends(desk_or_branch)) -> Any:
    """Exceptions reported in [from, to) by station and kind (default: the current business week)."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise Invalid("validation_error", f"{name} must carry a timezone offset")
    start, end = svc.report_period(start, end, datetime.now(UTC))
    summary = await svc.exception_summary(rt, principal, start, end)
    if wants_csv(request):
        return _csv(domain.exception_csv_records(summary), domain.EXCEPTION_CSV_COLUMNS,
                    f"exceptions-{start.astimezone(domain.BUSINESS_TZ):%Y%m%d}.csv")
    return svc.exception_summary_out(summary)


# --- bulk import ------------------------------------------------------------------------------


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


_CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")


@router.post("/v1/shipments/import", status_code=201, response_model=ImportResultOut,
             responses={200: {"model": ImportResultOut, "description": "this exact file was imported before"},
                        409: {"model": ErrorResponse, "description": "rows whose waybill_no already exists"},
                        413: {"model": ErrorResponse, "description": "larger than LCS_IMPORT_MAX_BYTES"},
                        415: {"model": ErrorResponse, "description": "neither text/csv nor multipart"},
                        422: {"model": ErrorResponse, "description": "details: [{row, column, problem}]"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}},
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                     "file": {"type": "string", "format": "binary"}}}}}}})
async def import_shipments(request: Request, rt: Runtime = Depends(runtime),
                           principal: Principal = Depends(desk_or_branch)) -> Any:
    """All rows or none. Raw `text/csv` body (optional `charset`) or multipart field `file`."""
    limit = tracking_settings(rt.settings).import_max_bytes
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except (MultipartParseError, StarletteHTTPException) as exc:
            # A broken or over-full multipart body is the caller's mistake, never a 500.
            detail = getattr(exc, "detail", None) or str(exc)
            raise Invalid("invalid_multipart", f"the multipart body cannot be read: {detail}") from None
        upload = form.get("file")
        if not isinstance(upload, StarletteUploadFile):
            raise Invalid("validation_error", "the multipart form needs a file field `file`",
                           [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}])
        data = await upload.read(limit + 1)
        charset = _charset(upload.content_type)
    elif media in _CSV_TYPES:
        data = await request.body()
        charset = _charset(content_type)
    else:
        raise UnsupportedMedia("unsupported_media_type",
                       "send the CSV as text/csv (optional charset) or as multipart/form-data field `file`")
    if len(data) > limit:
        raise TooLarge("payload_too_large", f"an import file may be at most {limit} bytes")
    if not data.strip():
        raise Invalid("invalid_import", "the file is empty", [{"row": 0, "column": None,
                                                                   "problem": "the file is empty"}])
    outcome = await svc.import_shipments(rt, data, charset, principal)
    if outcome.already_imported:
        return JSONResponse(ImportResultOut(registered=0, already_imported=True).model_dump(mode="json"),
                            status_code=200)
    return ImportResultOut(registered=len(outcome.registered), waybills=outcome.registered)
