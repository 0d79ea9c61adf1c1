"""HTTP routes of the registry: stations, vehicles, and the stale sweep on demand."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime

from services.tracking.context import AdminOnly, AdminOrCarrier, AnyRole, DeskOrCarrier, RuntimeDep
from services.tracking.domain.track import DISPLAY_TRACK_MAX_POINTS
from services.tracking.registry import service
from services.tracking.registry.models import (
    StaleScanResult,
    StationPut,
    StationRead,
    VehiclePut,
    VehicleRead,
    VehicleTrack,
)
from shared.clock import utcnow
from shared.errors import ErrorResponse, Invalid
from shared.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor
from shared.types import IDENTIFIER_PATTERN, STATION_CODE_PATTERN, Instant

router = APIRouter(tags=["tracking"])

StationCodePath = Annotated[str, Path(pattern=STATION_CODE_PATTERN)]
VehicleIdPath = Annotated[str, Path(pattern=IDENTIFIER_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]

E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}
E409: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse}}


# --- stations ---------------------------------------------------------------------------


@router.put("/v1/stations/{code}", response_model=StationRead, responses={201: {"model": StationRead}})
async def put_station(code: StationCodePath, body: StationPut, response: Response, rt: RuntimeDep,
                      _: AdminOnly) -> StationRead:
    """Create (201) or replace (200) a station."""
    station, created = await service.put_station(rt, code=code, body=body)
    response.status_code = 201 if created else 200
    return station


@router.get("/v1/stations/{code}", response_model=StationRead, responses=E404)
async def get_station(code: StationCodePath, rt: RuntimeDep, principal: AnyRole) -> StationRead:
    """A station; its contact phone and e-mail are whole for the desk and its own branch only."""
    return await service.get_station(rt, principal=principal, code=code)


@router.get("/v1/stations", response_model=Page[StationRead])
async def list_stations(rt: RuntimeDep, principal: AnyRole, cursor: Annotated[str | None, Query(max_length=200)] = None,
                        limit: Limit = 100) -> Page[StationRead]:
    key = decode_cursor(cursor, 1)
    after = None if key is None else str(key[0])
    items, more = await service.list_stations(rt, principal=principal, after=after, limit=limit)
    return Page(items=items, next_cursor=encode_cursor(items[-1].code) if more else None)


# --- vehicles ---------------------------------------------------------------------------


@router.put("/v1/vehicles/{vehicle_id}", response_model=VehicleRead,
            responses={201: {"model": VehicleRead}, **E409})
async def put_vehicle(vehicle_id: VehicleIdPath, body: VehiclePut, response: Response, rt: RuntimeDep,
                      principal: AdminOrCarrier) -> VehicleRead:
    """Create (201) or replace (200) a vehicle; a carrier token only for its own carrier.
    `device_id` must not be registered on another vehicle (409 `device_in_use`)."""
    vehicle, created = await service.put_vehicle(rt, principal=principal, vehicle_id=vehicle_id, body=body)
    response.status_code = 201 if created else 200
    return vehicle


@router.get("/v1/vehicles/{vehicle_id}", response_model=VehicleRead, responses=E404)
async def get_vehicle(vehicle_id: VehicleIdPath, rt: RuntimeDep, principal: DeskOrCarrier) -> VehicleRead:
    return await service.get_vehicle(rt, principal=principal, vehicle_id=vehicle_id)


@router.get("/v1/vehicles/{vehicle_id}/track", response_model=VehicleTrack, responses=E404)
async def vehicle_track(vehicle_id: VehicleIdPath, rt: RuntimeDep, principal: AnyRole,
                        since: Annotated[Instant | None, Query(
                            description="from this time (default: a day before the newest fix)")] = None,
                        limit: Annotated[int, Query(ge=1, le=DISPLAY_TRACK_MAX_POINTS)] = 500) -> VehicleTrack:
    """The vehicle's recent track, oldest first: one fix a sample interval (`LCS_TRACK_SAMPLE_SECONDS`)
    and its newest fix; of more than `limit`, the newest. Desk roles; a carrier its own vehicles;
    a branch while a shipment on board touches its station; 404 otherwise."""
    return await service.vehicle_track(rt, principal=principal, vehicle_id=vehicle_id, since=since, limit=limit)


# --- admin ------------------------------------------------------------------------------


@router.post("/v1/admin/stale-scan", response_model=StaleScanResult)
async def stale_scan(rt: RuntimeDep, _: AdminOnly, now: AwareDatetime | None = None) -> StaleScanResult:
    """Run the stale-vehicle sweep at `now` (default: the server's clock; at most a year away)."""
    clock = utcnow()
    if now is not None and abs(now - clock) > timedelta(days=366):
        raise Invalid("validation_error", "now: must be within a year of the server's clock",
                      [{"loc": ["query", "now"], "msg": "out of range", "type": "value_error"}])
    return await service.stale_scan(rt, now=now or clock)
