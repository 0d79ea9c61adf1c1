"""HTTP routes of shipments: register (one, or a CSV file), read, list and search, scan."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from python_multipart.exceptions import MultipartParseError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.tracking.context import DeskOrBranch, RuntimeDep, ShipmentReader
from services.tracking.shipments import service
from services.tracking.shipments.models import (
    ImportResultOut,
    ScanIn,
    ScanResult,
    ShipmentCreate,
    ShipmentRead,
    ShipmentRegistered,
    ShipmentSummary,
)
from shared.errors import ErrorResponse, Invalid, TooLarge, UnsupportedMedia
from shared.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor
from shared.types import STATION_CODE_PATTERN, WAYBILL_NO_PATTERN

router = APIRouter(tags=["tracking"])
# The CSV import: the desk's tool for key accounts' spreadsheets, documented under the desk's tag.
import_router = APIRouter(tags=["tracking-desk"])

WaybillPath = Annotated[str, Path(pattern=WAYBILL_NO_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]

E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}
E409: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse}}


@router.post("/v1/shipments", status_code=201, response_model=ShipmentRegistered, responses=E409)
async def create_shipment(body: ShipmentCreate, rt: RuntimeDep, principal: DeskOrBranch) -> ShipmentRegistered:
    """Register a waybill (a branch token only from its own station). 409 `duplicate_waybill`."""
    registered_at = await service.create_shipment(rt, principal=principal, data=body)
    return ShipmentRegistered(waybill_no=body.waybill_no, status="registered", registered_at=registered_at)


@router.get("/v1/shipments", response_model=Page[ShipmentSummary])
async def list_shipments(
    rt: RuntimeDep,
    principal: ShipmentReader,
    status: Literal["registered", "in_transit", "arrived", "out_for_delivery", "delivered", "exception"]
    | None = None,
    station: Annotated[str | None, Query(pattern=STATION_CODE_PATTERN)] = None,
    delayed: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    q: Annotated[str | None, Query(min_length=1, max_length=100,
                                   description="a waybill number or its start, a customer id, or the start of "
                                               "the customer's (shipper's) name")] = None,
    phone: Annotated[str | None, Query(min_length=4, max_length=32,
                                       description="a whole phone number or its last 4 digits, of the shipper "
                                                   "or the consignee (desk roles only)")] = None,
) -> Page[ShipmentSummary]:
    """Shipments by waybill number (keyset); a branch token sees only those touching its station, a
    customer token only its own (the shipper's customer id).
    `q` and `phone` search; each result carries the shipper's name and the consignee's, masked."""
    key = decode_cursor(cursor, 1)
    items, more = await service.list_shipments(rt, principal=principal, status=status, station=station,
                                               delayed=delayed, q=q, phone=phone,
                                               after=None if key is None else str(key[0]), limit=limit)
    return Page(items=items, next_cursor=encode_cursor(items[-1].waybill_no) if more and items else None)


@router.get("/v1/shipments/{waybill_no}", response_model=ShipmentRead, responses=E404)
async def get_shipment(waybill_no: WaybillPath, rt: RuntimeDep, principal: ShipmentReader) -> ShipmentRead:
    """The waybill and its timeline. A customer token: its own waybills only (any other is 404),
    without the vehicle, its position, the desk's notes or staff names."""
    return await service.get_shipment(rt, principal=principal, waybill_no=waybill_no)


@router.post("/v1/shipments/{waybill_no}/scans", status_code=201, response_model=ScanResult,
             responses={**E404, **E409})
async def post_scan(waybill_no: WaybillPath, body: ScanIn, rt: RuntimeDep, principal: DeskOrBranch) -> ScanResult:
    """Record a scan. Impossible scans → 409 with the rule's code (`scan_before_departure`,
    `pieces_exceed_waybill`, `already_arrived`, `time_before_previous_scan`, ...)."""
    return await service.record_scan(rt, principal=principal, waybill_no=waybill_no, body=body)


# --- the CSV import ---------------------------------------------------------------------


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


_CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")


@import_router.post("/v1/shipments/import", status_code=201, response_model=ImportResultOut,
             responses={200: {"model": ImportResultOut, "description": "this exact file was imported before"},
                        409: {"model": ErrorResponse, "description": "rows whose waybill_no already exists"},
                        413: {"model": ErrorResponse, "description": "larger than LCS_IMPORT_MAX_BYTES"},
                        415: {"model": ErrorResponse, "description": "neither text/csv nor multipart"},
                        422: {"model": ErrorResponse, "description": "details: [{row, column, problem}]"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}},
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                     "file": {"type": "string", "format": "binary"}}}}}}})
async def import_shipments(request: Request, rt: RuntimeDep, principal: DeskOrBranch) -> Any:
    """All rows or none. Raw `text/csv` body (optional `charset`) or multipart field `file`."""
    limit = rt.settings.import_max_bytes
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
        if not isinstance(upload, UploadFile):
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
    outcome = await service.import_shipments(rt, principal=principal, data=data, charset=charset)
    if outcome.already_imported:
        return JSONResponse(ImportResultOut(registered=0, already_imported=True).model_dump(mode="json"),
                            status_code=200)
    return ImportResultOut(registered=len(outcome.registered), waybills=outcome.registered)
