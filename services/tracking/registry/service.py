"""Use cases of the registry: stations, vehicles, and the stale-vehicle sweep."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Counter

from services.tracking.context import SOURCE, TrackingRuntime
from services.tracking.domain.stale import is_stale, stale_event_due
from services.tracking.domain.stations import sees_station_contacts
from services.tracking.domain.track import display_track, display_track_since
from services.tracking.feeds import repository as feeds_repository
from services.tracking.registry import repository
from services.tracking.registry.models import (
    StaleScanResult,
    StationPut,
    StationRead,
    TrackPoint,
    VehiclePut,
    VehicleRead,
    VehicleTrack,
)
from services.tracking.shipments import evaluation
from services.tracking.shipments.models import PositionRead
from services.tracking.shipments.repository import claim_evaluations
from shared.auth import DESK, Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import Conflict, Forbidden, NotFound
from shared.events import VehicleStale
from shared.outbox import publish
from shared.pii import mask_email, mask_phone

log = logging.getLogger("lcs.tracking")

STALE_EVENTS = Counter("lcs_tracking_vehicle_stale_total", "vehicle stale events emitted")


# --- stations ---------------------------------------------------------------------------


async def put_station(rt: TrackingRuntime, *, code: str, body: StationPut) -> tuple[StationRead, bool]:
    """Create or replace a station; the station and whether it was created."""
    async with uow(rt) as conn:
        created = await repository.upsert_station(conn, code, body.model_dump())
        row = await repository.get_station(conn, code)
    assert row is not None
    return StationRead(**dict(row)), created


def _station(principal: Principal, row: asyncpg.Record) -> StationRead:
    """A station as `principal` may see it: its contacts whole for the desk and the station's own
    branch, masked for everyone else (carriers, other branches, customers)."""
    station = StationRead(**dict(row))
    if sees_station_contacts(principal, station.code):
        return station
    return station.model_copy(update={"contact_phone": mask_phone(station.contact_phone),
                                      "contact_email": mask_email(station.contact_email)})


async def get_station(rt: TrackingRuntime, *, principal: Principal, code: str) -> StationRead:
    async with rt.pool.acquire() as conn:
        row = await repository.get_station(conn, code)
    if row is None:
        raise NotFound.of("station", code)
    return _station(principal, row)


async def list_stations(rt: TrackingRuntime, *, principal: Principal, after: str | None,
                        limit: int) -> tuple[list[StationRead], bool]:
    """A keyset page of stations by code, and whether more follow."""
    async with rt.pool.acquire() as conn:
        rows = await repository.list_stations(conn, after=after, limit=limit + 1)
    return [_station(principal, r) for r in rows[:limit]], len(rows) > limit


# --- vehicles ---------------------------------------------------------------------------


async def put_vehicle(rt: TrackingRuntime, *, principal: Principal, vehicle_id: str,
                      body: VehiclePut) -> tuple[VehicleRead, bool]:
    """Create or replace a vehicle (a carrier token only for its own carrier); 409 `device_in_use`
    when its device is registered on another vehicle."""
    if principal.role == "carrier" and body.carrier != principal.carrier:
        raise Forbidden("forbidden", "a carrier token registers only its own carrier's vehicles")
    try:
        async with uow(rt) as conn:
            existing = await repository.get_vehicle(conn, vehicle_id, for_update=True)
            if principal.role == "carrier" and existing is not None and existing["carrier"] != principal.carrier:
                raise NotFound.of("vehicle", vehicle_id)
            if body.device_id is not None:
                holder = await repository.vehicle_with_device(conn, body.device_id)
                if holder is not None and holder["vehicle_id"] != vehicle_id:
                    raise Conflict("device_in_use", f"device {body.device_id} is registered on another vehicle",
                                   {"device_id": body.device_id})
            created = await repository.upsert_vehicle(conn, vehicle_id, body.model_dump())
            view = await _vehicle_view(rt, conn, vehicle_id)
    except asyncpg.UniqueViolationError as exc:  # a concurrent registration took the device
        raise Conflict("device_in_use", "the device is registered on another vehicle",
                       {"device_id": body.device_id}) from exc
    assert view is not None
    return view, created


async def get_vehicle(rt: TrackingRuntime, *, principal: Principal, vehicle_id: str) -> VehicleRead:
    """A vehicle, its last position and the waybills on board; 404 for another carrier's."""
    async with rt.pool.acquire() as conn:
        view = await _vehicle_view(rt, conn, vehicle_id)
    if view is None or (principal.role == "carrier" and view.carrier != principal.carrier):
        raise NotFound.of("vehicle", vehicle_id)
    return view


async def vehicle_track(rt: TrackingRuntime, *, principal: Principal, vehicle_id: str, since: datetime | None,
                        limit: int) -> VehicleTrack:
    """The vehicle's recent track as the desk draws it (`domain.track.display_track`): its
    sampled fixes from `since` (default: a day before its newest fix), its newest fix last.
    Desk roles; a carrier its own vehicles; a branch while a shipment on board touches its
    station. 404 otherwise (existence does not leak)."""
    async with rt.pool.acquire() as conn:
        row = await repository.get_vehicle(conn, vehicle_id)
        visible = row is not None and (
            principal.role in DESK
            or (principal.role == "carrier" and row["carrier"] == principal.carrier)
            or (principal.role == "branch" and principal.branch is not None
                and await repository.carries_for_station(conn, vehicle_id, principal.branch)))
        if row is None or not visible:
            raise NotFound.of("vehicle", vehicle_id)
        start = display_track_since(since, row["last_fix_at"])
        samples = [] if start is None else await feeds_repository.newest_samples(conn, vehicle_id, start, limit)
    newest = None if row["last_fix_at"] is None else (
        row["last_fix_at"], row["last_lat"], row["last_lon"], row["last_speed_kmh"])
    points = [] if start is None else display_track(
        [(r["at"], r["lat"], r["lon"], r["speed_kmh"]) for r in samples], newest, since=start, limit=limit)
    return VehicleTrack(vehicle_id=vehicle_id, points=[
        TrackPoint(at=at, lat=lat, lon=lon, speed_kmh=speed) for at, lat, lon, speed in points])


async def _vehicle_view(rt: TrackingRuntime, conn: asyncpg.Connection, vehicle_id: str) -> VehicleRead | None:
    row = await repository.get_vehicle(conn, vehicle_id)
    if row is None:
        return None
    waybills = await repository.waybills_on_board(conn, vehicle_id)
    return VehicleRead(
        vehicle_id=row["vehicle_id"], plate=row["plate"], carrier=row["carrier"],
        driver_name=row["driver_name"], driver_phone=mask_phone(row["driver_phone"]),
        device_id=row["device_id"], last_position=PositionRead.of_vehicle(row),
        stale=is_stale(row["last_fix_at"], utcnow(), rt.context.eta), shipments=waybills,
        updated_at=row["updated_at"],
    )


# --- the stale sweep --------------------------------------------------------------------


async def stale_scan(rt: TrackingRuntime, *, now: datetime) -> StaleScanResult:
    """Vehicles silent for `no_signal_minutes`: `tracking.vehicle.stale.v1` once per silence,
    and their in-transit shipments re-evaluated (reason no_signal). Idempotent."""
    cfg = rt.context.eta
    now = now.astimezone(UTC)
    stale = evaluated = events = 0
    async with uow(rt) as conn:
        silent = await repository.silent_vehicles(conn, silent_since=now - timedelta(minutes=cfg.no_signal_minutes))
        # one evaluator per vehicle: one an ingest is evaluating right now is evidently not silent
        claimed = await claim_evaluations(conn, [v["vehicle_id"] for v in silent]) if silent else set()
        for v in silent:
            if stale_event_due(last_fix_at=v["last_fix_at"], now=now, flagged_for_fix_at=v["stale_flagged_for"],
                               cfg=cfg):
                waybills = await repository.waybills_on_board(conn, v["vehicle_id"])
                await publish(conn, VehicleStale(
                    vehicle_id=v["vehicle_id"], plate=v["plate"], carrier=v["carrier"], last_fix_at=v["last_fix_at"],
                    silent_minutes=int((now - v["last_fix_at"]).total_seconds() // 60), waybills=waybills),
                    source=SOURCE)
                await repository.mark_stale_reported(conn, v["vehicle_id"], v["last_fix_at"])
                stale += 1
                STALE_EVENTS.inc()
            if v["vehicle_id"] not in claimed:
                continue
            result = await evaluation.evaluate_vehicle(conn, eta=cfg, vehicle=v, now=now, silent=True)
            evaluated += result.shipments
            events += result.events
    if stale or events:
        log.info("stale scan", extra={"stale_vehicles": stale, "delay_events": events})
    return StaleScanResult(now=now, stale_vehicles=stale, evaluated_shipments=evaluated, events=events)
