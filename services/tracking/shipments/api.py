"""HTTP routes of the tracking core: parse, authorise, call the use case, answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from starlette.types import Receive, Scope, Send

from services.tracking import feeds, service
from services.tracking import repository as repo
from services.tracking.models import (
    IngestResult,
    PositionBatch,
    ScanIn,
    ScanResult,
    ShipmentCreate,
    ShipmentRead,
    ShipmentRegistered,
    ShipmentSummary,
    StaleScanResult,
    StationPut,
    StationRead,
    VehiclePut,
    VehicleRead,
)
from shared.auth import DESK, Principal, Role, bearer_token, check_role, decode_token, require_roles
from shared.context import Runtime, runtime
from shared.errors import BadRequest, ErrorResponse, Invalid, not_found
from shared.fastpath.routes import (
    clean_query_string,
    json_body_openapi,
    parse_json_body,
    query_params,
    read_body,
    send_json,
)
from shared.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor

router = APIRouter(tags=["tracking"])
feeds_router = APIRouter(tags=["tracking-feeds"])

ANY_ROLE = require_roles("admin", "supervisor", "staff", "branch", "carrier")
DESK_OR_BRANCH = require_roles(*DESK, "branch")
DESK_OR_CARRIER = require_roles(*DESK, "carrier")
ADMIN = require_roles("admin")
FEED_ROLES: frozenset[Role] = frozenset(("admin", "carrier"))  # who may push positions
ADMIN_OR_CARRIER = require_roles(*FEED_ROLES)

StationCodePath = Annotated[str, Path(pattern=r"^[A-Z0-9]{2,16}$")]
VehicleIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
WaybillPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{4,32}$")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]

E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}
E409: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse}}
E400: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResponse}}


# --- stations ---------------------------------------------------------------------------


@router.put("/v1/stations/{code}", response_model=StationRead, responses={201: {"model": StationRead}})
async def put_station(code: StationCodePath, body: StationPut, response: Response,
                      rt: Runtime = Depends(runtime), _: Principal = Depends(ADMIN)) -> StationRead:
    """Create (201) or replace (200) a station."""
    station, created = await service.put_station(rt, code, body)
    response.status_code = 201 if created else 200
    return station


@router.get("/v1/stations/{code}", response_model=StationRead, responses=E404)
async def get_station(code: StationCodePath, rt: Runtime = Depends(runtime),
                      _: Principal = Depends(ANY_ROLE)) -> StationRead:
    async with rt.pool.acquire() as conn:
        row = await repo.get_station(conn, code)
    if row is None:
        raise not_found("station", code)
    return StationRead(**dict(row))


@router.get("/v1/stations", response_model=Page[StationRead])
async def list_stations(cursor: Annotated[str | None, Query(max_length=200)] = None, limit: Limit = 100,
                        rt: Runtime = Depends(runtime), _: Principal = Depends(ANY_ROLE)) -> Page[StationRead]:
    key = decode_cursor(cursor, 1)
    async with rt.pool.acquire() as conn:
        rows = await repo.list_stations(conn, after=None if key is None else str(key[0]), limit=limit + 1)
    items = service.station_views(rows[:limit])
    return Page(items=items, next_cursor=encode_cursor(items[-1].code) if len(rows) > limit else None)


# --- vehicles ---------------------------------------------------------------------------


@router.put("/v1/vehicles/{vehicle_id}", response_model=VehicleRead,
            responses={201: {"model": VehicleRead}, **E409})
async def put_vehicle(vehicle_id: VehicleIdPath, body: VehiclePut, response: Response,
                      rt: Runtime = Depends(runtime),
                      principal: Principal = Depends(require_roles("admin", "carrier"))) -> VehicleRead:
    """Create (201) or replace (200) a vehicle; a carrier token only for its own carrier.
    `device_id` must not be registered on another vehicle (409 `device_in_use`)."""
    vehicle, created = await service.put_vehicle(rt, vehicle_id, body, principal)
    response.status_code = 201 if created else 200
    return vehicle


@router.get("/v1/vehicles/{vehicle_id}", response_model=VehicleRead, responses=E404)
async def get_vehicle(vehicle_id: VehicleIdPath, rt: Runtime = Depends(runtime),
                      principal: Principal = Depends(DESK_OR_CARRIER)) -> VehicleRead:
    return await service.get_vehicle(rt, vehicle_id, principal)


# --- shipments --------------------------------------------------------------------------


@router.post("/v1/shipments", status_code=201, response_model=ShipmentRegistered, responses=E409)
async def create_shipment(body: ShipmentCreate, rt: Runtime = Depends(runtime),
                          principal: Principal = Depends(DESK_OR_BRANCH)) -> ShipmentRegistered:
    """Register a waybill (a branch token only from its own station). 409 `duplicate_waybill`."""
    registered_at = await service.create_shipment(rt, body, principal)
    return ShipmentRegistered(waybill_no=body.waybill_no, status="registered", registered_at=registered_at)


@router.get("/v1/shipments", response_model=Page[ShipmentSummary])
async def list_shipments(
    status: Literal["registered", "in_transit", "arrived", "out_for_delivery", "delivered", "exception"]
    | None = None,
    station: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{2,16}$")] = None,
    delayed: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    rt: Runtime = Depends(runtime),
    principal: Principal = Depends(DESK_OR_BRANCH),
) -> Page[ShipmentSummary]:
    """Shipments by waybill number (keyset); a branch token sees only those touching its station."""
    key = decode_cursor(cursor, 1)
    items, more = await service.list_shipments(rt, principal, status=status, station=station, delayed=delayed,
                                               after=None if key is None else str(key[0]), limit=limit)
    return Page(items=items, next_cursor=encode_cursor(items[-1].waybill_no) if more and items else None)


@router.get("/v1/shipments/{waybill_no}", response_model=ShipmentRead, responses=E404)
async def get_shipment(waybill_no: WaybillPath, rt: Runtime = Depends(runtime),
                       principal: Principal = Depends(DESK_OR_BRANCH)) -> ShipmentRead:
    return await service.get_shipment(rt, waybill_no, principal)


@router.post("/v1/shipments/{waybill_no}/scans", status_code=201, response_model=ScanResult,
             responses={**E404, **E409})
async def post_scan(waybill_no: WaybillPath, body: ScanIn, rt: Runtime = Depends(runtime),
                    principal: Principal = Depends(DESK_OR_BRANCH)) -> ScanResult:
    """Record a scan. Impossible scans → 409 with the rule's code (`scan_before_departure`,
    `pieces_exceed_waybill`, `already_arrived`, `time_before_previous_scan`, ...)."""
    return await service.record_scan(rt, waybill_no, body, principal)


# --- positions --------------------------------------------------------------------------


@router.post("/v1/positions", response_model=IngestResult, responses={413: {"model": ErrorResponse}},
             openapi_extra=json_body_openapi(PositionBatch))
async def post_positions(request: Request, rt: Runtime = Depends(runtime),
                         principal: Principal = Depends(ADMIN_OR_CARRIER)) -> IngestResult:
    """Up to 5,000 fixes, all or nothing (422 naming the bad item's index)."""
    # Usually answered by `positions_fast` below; this route documents it and takes what that declines.
    return await _ingest_positions(rt, await request.body(), principal)


async def _ingest_positions(rt: Runtime, raw: bytes, principal: Principal) -> IngestResult:
    # The feed's hot path: the common well-formed body is read straight into fixes; anything else
    # goes through pydantic (shared.fastpath.routes.parse_json_body), which answers the contract's 422 errors.
    items = feeds.parse_position_batch_fast(raw)
    if items is None:
        items = feeds.batch_items(parse_json_body(PositionBatch, raw))
    return await feeds.ingest_batch(rt, items, principal)


async def positions_fast(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> int | None:
    """`POST /v1/positions` answered behind the guard but in front of FastAPI (a guarded
    `shared.fastpath.routes.FastRoutes` route): the guard has bounded and checked the body, counted the
    request and applied the write rate limit; this does the route's own part, the same way.

    Why: a carrier's feed posts batches back to back, and FastAPI's part of each (routing,
    dependency solving, the response model's validation and encoding) was ~6% of the batch path's
    CPU on one worker. Declined (None), so the route above answers: another method, a query
    string, no `Bearer` token (its 401 is the dependency's)."""
    if scope["method"] != "POST" or scope.get("query_string"):
        return None
    token = bearer_token(next((v for k, v in scope["headers"] if k == b"authorization"), None))
    if token is None:
        return None
    principal = check_role(decode_token(token, rt.settings.auth_secret), FEED_ROLES)
    result = await _ingest_positions(rt, await read_body(receive), principal)
    return await send_json(send, 200, orjson.dumps(result.model_dump(mode="json")))


@router.post("/v1/ingest/traccar", response_model=IngestResult, responses=E400)
async def post_traccar(request: Request, rt: Runtime = Depends(runtime),
                       principal: Principal = Depends(ADMIN_OR_CARRIER)) -> IngestResult:
    """Traccar's JSON position forwarding (`forward.type=json`); the vehicle is the one whose
    `device_id` equals `device.uniqueId` (unknown → 400 `unknown_device`)."""
    body = await _json_object(request)
    return await feeds.ingest_traccar(rt, body, principal)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid_json", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("invalid_json", "the body must be a JSON object")
    return body


@feeds_router.api_route("/osmand", methods=["GET", "POST"], responses=E400)
async def osmand(request: Request, rt: Runtime = Depends(runtime)) -> JSONResponse:
    """The OsmAnd / Traccar Client protocol (unauthenticated, as devices speak it): query
    string, form or JSON body. Unknown device → 400; stored → 200 (after commit).

    The usual request (the fix in the query string, no body) is answered by `osmand_fast`
    before it reaches this route; this one takes the body forms and anything unusual."""
    data: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json" or ctype.endswith("+json"):
            data.update(await _json_object(request))
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            data.update({k: v for k, v in form.items() if isinstance(v, str)})
    await _store_osmand(rt, data)
    return JSONResponse({"status": "stored"})


async def _store_osmand(rt: Runtime, data: dict[str, Any]) -> None:
    fix = feeds.parse_osmand_request(rt, data, datetime.now(UTC))
    await feeds.ingest_osmand(rt, fix)


_STORED = orjson.dumps({"status": "stored"})


async def osmand_fast(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> int | None:
    """/osmand as devices send it, answered in front of FastAPI (a `shared.fastpath.routes.FastRoutes` route).

    Why it exists: every phone or tracker of the fleet sends this request every few seconds,
    and its own work (parse one fix, queue it for the group commit, wait) costs less CPU than
    FastAPI's per-request machinery around it. Same parse, same group commit and the same
    answers as the route above, which still documents it and takes what this declines (None):
    a request with a body (JSON or form) and a query string the guard would have to judge."""
    method = scope["method"]
    if method != "GET" and not (method == "POST" and _without_body(scope)):
        return None
    query = clean_query_string(scope)
    if query is None:
        return None
    await _store_osmand(rt, query_params(query))
    return await send_json(send, 200, _STORED)


def _without_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
            return False
    return True


# --- admin ------------------------------------------------------------------------------


@router.post("/v1/admin/stale-scan", response_model=StaleScanResult)
async def stale_scan(now: AwareDatetime | None = None, rt: Runtime = Depends(runtime),
                     _: Principal = Depends(ADMIN)) -> StaleScanResult:
    """Run the stale-vehicle sweep at `now` (default: the server's clock; at most a year away)."""
    clock = datetime.now(UTC)
    if now is not None and abs(now - clock) > timedelta(days=366):
        raise Invalid("validation_error", "now: must be within a year of the server's clock",
                       [{"loc": ["query", "now"], "msg": "out of range", "type": "value_error"}])
    return await service.stale_scan(rt, now or clock)
