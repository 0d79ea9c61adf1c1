"""Use cases of the tracking core: one transaction each, events through the outbox in it.

Registry (stations, vehicles), shipment registration, scans, the ETA / delay
evaluation of the shipments on board a vehicle (called by the position feeds and by
the stale sweep), queries. Errors meant for the caller are `DomainError`s carrying the
domain's codes; `register_shipment` and `evaluate_vehicle` run inside the caller's
transaction so other use cases (the CSV import, the feeds) can compose them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.tracking import repository as repo
from services.tracking.domain import (
    DelayEvent,
    DelayReason,
    DelayState,
    DomainError,
    EtaConfig,
    GeoPoint,
    Route,
    Scan,
    ScanState,
    ScanType,
    ShipmentStatus,
    apply_scan,
    delay_state_worth_saving,
    displayed_status,
    epoch_micros,
    estimate_eta,
    evaluate_delay,
    is_stale,
    pending_via,
    stale_event_due,
    stored_track_covers,
    track_delay_reason,
    track_lookback,
    track_settles_stop,
    track_speed_kmh,
    track_window,
)
from services.tracking.models import (
    PositionRead,
    ScanIn,
    ScanResult,
    ShipmentCreate,
    ShipmentRead,
    ShipmentSummary,
    StaleScanResult,
    StationPut,
    StationRead,
    TimelineEntry,
    VehiclePut,
    VehicleRead,
)
from services.tracking.settings import tracking_settings
from shared.auth import DESK, Principal
from shared.context import Runtime
from shared.errors import Conflict, Forbidden, Invalid, not_found
from shared.events import (
    Position,
    ShipmentArrived,
    ShipmentDelayed,
    ShipmentDeparted,
    ShipmentOutForDelivery,
    ShipmentRecovered,
    ShipmentRegistered,
    StationRef,
    VehicleStale,
)
from shared.outbox import publish
from shared.pii import mask_email, mask_phone

log = logging.getLogger("lcs.tracking")

SOURCE = "/lcs/tracking"

DELAY_EVENTS = Counter("lcs_tracking_delay_events_total", "delayed / recovered events emitted", ["event"])
SHIPMENTS_REGISTERED = Counter("lcs_tracking_shipments_registered_total", "shipments registered")
SCANS = Counter("lcs_tracking_scans_total", "scans recorded", ["type"])
STALE_EVENTS = Counter("lcs_tracking_vehicle_stale_total", "vehicle stale events emitted")
EVALUATED = Counter("lcs_tracking_shipments_evaluated_total",
                    "in-transit shipments whose ETA and delay were evaluated (per vehicle evaluation)")

REGISTERING_ROLES = frozenset({*DESK, "branch"})


def eta_config(rt: Runtime) -> EtaConfig:
    cfg = rt.extras.get("eta_config")
    if not isinstance(cfg, EtaConfig):
        cfg = tracking_settings(rt.settings).eta_config()
        rt.extras["eta_config"] = cfg
    return cfg


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _invalid(code: str, message: str, details: Any = None) -> Invalid:
    return Invalid(code, message, details)


def _conflict(err: DomainError) -> Conflict:
    return Conflict(err.code, err.message, err.details)


# --- registry ---------------------------------------------------------------------------


async def put_station(rt: Runtime, code: str, body: StationPut) -> tuple[StationRead, bool]:
    async with rt.pool.acquire() as conn, conn.transaction():
        created = await repo.upsert_station(conn, code, body.model_dump())
        row = await repo.get_station(conn, code)
    assert row is not None
    return StationRead(**dict(row)), created


async def put_vehicle(rt: Runtime, vehicle_id: str, body: VehiclePut, principal: Principal) -> tuple[VehicleRead, bool]:
    if principal.role == "carrier" and body.carrier != principal.carrier:
        raise Forbidden("forbidden", "a carrier token registers only its own carrier's vehicles")
    async with rt.pool.acquire() as conn:
        try:
            async with conn.transaction():
                existing = await repo.get_vehicle(conn, vehicle_id, for_update=True)
                if (principal.role == "carrier" and existing is not None
                        and existing["carrier"] != principal.carrier):
                    raise not_found("vehicle", vehicle_id)
                if body.device_id is not None:
                    holder = await repo.vehicle_with_device(conn, body.device_id)
                    if holder is not None and holder["vehicle_id"] != vehicle_id:
                        raise Conflict("device_in_use",
                                       f"device {body.device_id} is registered on another vehicle",
                                       {"device_id": body.device_id})
                created = await repo.upsert_vehicle(conn, vehicle_id, body.model_dump())
        except asyncpg.UniqueViolationError as exc:  # a concurrent registration took the device
            raise Conflict("device_in_use", "the device is registered on another vehicle",
                           {"device_id": body.device_id}) from exc
        view = await vehicle_view(rt, conn, vehicle_id)
    assert view is not None
    return view, created


async def vehicle_view(rt: Runtime, conn: asyncpg.Connection, vehicle_id: str) -> VehicleRead | None:
    row = await repo.get_vehicle(conn, vehicle_id)
    if row is None:
        return None
    waybills = await repo.waybills_on_board(conn, vehicle_id)
    return VehicleRead(
        vehicle_id=row["vehicle_id"], plate=row["plate"], carrier=row["carrier"],
        driver_name=row["driver_name"], driver_phone=mask_phone(row["driver_phone"]),
        device_id=row["device_id"], last_position=_last_position(row),
        stale=is_stale(row["last_fix_at"], _utcnow(), eta_config(rt)), shipments=waybills,
        updated_at=row["updated_at"],
    )


async def get_vehicle(rt: Runtime, vehicle_id: str, principal: Principal) -> VehicleRead:
    async with rt.pool.acquire() as conn:
        view = await vehicle_view(rt, conn, vehicle_id)
    if view is None or (principal.role == "carrier" and view.carrier != principal.carrier):
        raise not_found("vehicle", vehicle_id)
    return view


def _last_position(vehicle: asyncpg.Record | dict[str, Any]) -> PositionRead | None:
    if vehicle["last_fix_at"] is None:
        return None
    return PositionRead(at=vehicle["last_fix_at"], lat=vehicle["last_lat"], lon=vehicle["last_lon"],
                        speed_kmh=vehicle["last_speed_kmh"], heading=vehicle["last_heading"])


def _event_position(vehicle: asyncpg.Record | dict[str, Any]) -> Position | None:
    p = _last_position(vehicle)
    return None if p is None else Position(**p.model_dump())


# --- registration -----------------------------------------------------------------------


def _station_ref(row: asyncpg.Record) -> StationRef:
    return StationRef(code=row["code"], name=row["name"], city=row["city"], region=row["region"],
                      contact_phone=row["contact_phone"], contact_email=row["contact_email"])


def _check_route(data: ShipmentCreate) -> None:
    if data.origin == data.destination:
        raise _invalid("invalid_route", "origin and destination must differ", {"field": "destination"})
    if len(set(data.via)) != len(data.via) or {data.origin, data.destination} & set(data.via):
        raise _invalid("invalid_route", "via must list distinct transfer stations other than origin and destination",
                       {"field": "via"})


async def register_shipment(conn: asyncpg.Connection, rt: Runtime, data: ShipmentCreate,
                            principal: Principal) -> None:
    """Register one shipment INSIDE the caller's transaction (the CSV import calls this for
    every row in one transaction). Raises `DomainError`: 403 `forbidden` (a branch registering
    from another station), 422 `invalid_route` / `unknown_station` / `promised_at_in_past`,
    409 `duplicate_waybill`. On error nothing is written and the transaction stays usable."""
    if principal.role not in REGISTERING_ROLES:
        raise Forbidden("forbidden", f"role {principal.role} may not register shipments")
    if principal.role == "branch" and data.origin != principal.branch:
        raise Forbidden("forbidden", f"a branch token registers only shipments from its own station "
                                         f"({principal.branch})", {"field": "origin"})
    _check_route(data)
    now = _utcnow()
    if data.promised_at <= now:
        raise _invalid("promised_at_in_past", "promised_at must be in the future", {"field": "promised_at"})
    codes = [data.origin, data.destination, *data.via]
    stations = await repo.stations_by_code(conn, codes)
    missing = [c for c in codes if c not in stations]
    if missing:
        raise _invalid("unknown_station", f"unknown station(s): {', '.join(missing)}", {"stations": missing})
    payload = data.model_dump()
    inserted = await repo.insert_shipment(conn, payload, registered_by=principal.actor, registered_at=now)
    if not inserted:
        raise Conflict("duplicate_waybill", f"waybill {data.waybill_no} is already registered",
                       {"waybill_no": data.waybill_no})
    await repo.append_timeline(conn, data.waybill_no, now, "registered",
                               {"origin": data.origin, "destination": data.destination, "via": data.via,
                                "promised_at": data.promised_at.isoformat(), "by": principal.actor})
    await publish(conn, ShipmentRegistered(
        waybill_no=data.waybill_no, origin=data.origin, destination=data.destination, via=data.via,
        origin_station=_station_ref(stations[data.origin]),
        destination_station=_station_ref(stations[data.destination]),
        shipper=payload["shipper"], consignee=payload["consignee"], cargo=payload["cargo"],
        promised_at=data.promised_at, payment=data.payment, receipt=payload["receipt"], registered_at=now,
    ), source=SOURCE)
    SHIPMENTS_REGISTERED.inc()


async def create_shipment(rt: Runtime, data: ShipmentCreate, principal: Principal) -> datetime:
    async with rt.pool.acquire() as conn, conn.transaction():
        await register_shipment(conn, rt, data, principal)
        registered_at: datetime = await conn.fetchval(
            "SELECT registered_at FROM shipments WHERE waybill_no = $1", data.waybill_no)
    return registered_at


# --- scans ------------------------------------------------------------------------------


def _route(row: asyncpg.Record) -> Route:
    return Route(origin=row["origin"], destination=row["destination"], via=tuple(row["via"]))


def _scan_state(row: asyncpg.Record) -> ScanState:
    return ScanState(
        pieces_total=row["pieces"], status=ShipmentStatus(row["status"]), pieces_arrived=row["pieces_arrived"],
        departed_at=row["departed_at"], last_scan_at=row["last_scan_at"], reached_via=tuple(row["reached_via"]),
        final=row["pieces_arrived"] >= row["pieces"], arrived_at=row["final_arrived_at"],
    )


def _visible(row: asyncpg.Record | None, principal: Principal) -> bool:
    return row is not None and principal.sees_station(row["origin"], row["destination"], *row["via"])


async def record_scan(rt: Runtime, waybill_no: str, body: ScanIn, principal: Principal) -> ScanResult:
    """Apply one scan (domain.apply_scan), append it to the scans and the timeline, and emit
    departed / arrived / out_for_delivery. Impossible scans: 409 with the domain's code."""
    cfg = eta_config(rt)
    async with rt.pool.acquire() as conn, conn.transaction():
        row = await repo.get_shipment(conn, waybill_no, for_update=True)
        if row is None or not _visible(row, principal):
            raise not_found("shipment", waybill_no)
        if principal.role == "branch" and body.station != principal.branch:
            raise Forbidden("forbidden", f"a branch token scans only at its own station ({principal.branch})",
                           {"field": "station"})
        limits = tracking_settings(rt.settings).position_limits()
        if body.at - _utcnow() > timedelta(minutes=limits.max_future_minutes):
            raise _invalid("scan_in_future", "the scan time is in the future", {"field": "at"})
        vehicle = None
        if body.vehicle_id is not None:
            vehicle = await repo.get_vehicle(conn, body.vehicle_id)
            if vehicle is None:
                raise _invalid("unknown_vehicle", f"vehicle {body.vehicle_id} is not registered",
                               {"field": "vehicle_id"})
        before = _scan_state(row)
        try:
            after = apply_scan(before, Scan(type=body.type, station=body.station, at=body.at, pieces=body.pieces,
                                            vehicle_id=body.vehicle_id), _route(row))
        except DomainError as err:
            raise _conflict(err) from err
        loads = body.type in (ScanType.DEPARTED, ScanType.DEPARTED_TRANSFER)
        vehicle_id = body.vehicle_id if loads and body.vehicle_id is not None else row["vehicle_id"]
        if body.type is ScanType.ARRIVED:
            pieces = after.pieces_arrived - before.pieces_arrived
        elif body.type is ScanType.OUT_FOR_DELIVERY:
            pieces = body.pieces if body.pieces is not None else before.pieces_arrived
        else:  # what is still on the road
            pieces = body.pieces if body.pieces is not None else row["pieces"] - before.pieces_arrived
        await repo.save_scan_state(conn, waybill_no, after, vehicle_id)
        await repo.insert_scan(conn, waybill_no, type_=body.type.value, station=body.station, at=body.at,
                               vehicle_id=body.vehicle_id, pieces=pieces, actor=principal.actor)
        await repo.append_timeline(conn, waybill_no, body.at, "scan", {
            "type": body.type.value, "station": body.station, "vehicle_id": body.vehicle_id, "pieces": pieces,
            "pieces_arrived": after.pieces_arrived, "final": after.final, "by": principal.actor})
        eta = row["eta"]
        if loads and vehicle is not None and vehicle["last_fix_at"] is not None \
                and body.at - vehicle["last_fix_at"] < timedelta(minutes=cfg.no_signal_minutes):
            # The truck reports: give the departure an ETA (and judge the delay) from its newest fix.
            await evaluate_vehicle(conn, rt, vehicle, now=vehicle["last_fix_at"], only=[waybill_no])
            eta = await conn.fetchval("SELECT eta FROM shipments WHERE waybill_no = $1", waybill_no)
        if body.type is ScanType.DEPARTED:
            await publish(conn, ShipmentDeparted(
                waybill_no=waybill_no, station=body.station, at=body.at, vehicle_id=vehicle_id, eta=eta,
                promised_at=row["promised_at"], destination=row["destination"]), source=SOURCE)
        elif body.type is ScanType.ARRIVED:
            await publish(conn, ShipmentArrived(
                waybill_no=waybill_no, station=body.station,
                arrived_at=after.arrived_at if after.final and after.arrived_at else body.at,
                pieces=pieces, pieces_arrived=after.pieces_arrived, pieces_total=row["pieces"], final=after.final,
            ), source=SOURCE)
        elif body.type is ScanType.OUT_FOR_DELIVERY:
            await publish(conn, ShipmentOutForDelivery(waybill_no=waybill_no, station=body.station, at=body.at),
                          source=SOURCE)
    SCANS.labels(body.type.value).inc()
    return ScanResult(waybill_no=waybill_no, status=after.status.value, pieces_arrived=after.pieces_arrived,
                      final=after.final, vehicle_id=vehicle_id, eta=eta)


# --- ETA and delay ----------------------------------------------------------------------


def _previous_state(row: asyncpg.Record) -> DelayState:
    reason: DelayReason | None
    try:
        reason = DelayReason(row["delay_reason"]) if row["delay_reason"] else None
    except ValueError:
        reason = None
    return DelayState(delayed=row["delayed"], notified_eta=row["notified_eta"], delay_minutes=row["delay_minutes"],
                      reason=reason, eta=row["eta"], evaluated_at=row["evaluated_at"],
                      notified_at=row["delay_notified_at"])


async def _tracks(conn: asyncpg.Connection, reporting: dict[str, Any], at: dict[str, datetime],
                  at_us: dict[str, int], vehicle_ids: Sequence[str], lookback: timedelta) -> dict[str, list[Any]]:
    """Each vehicle's sampled track over `lookback` before its evaluation time, its newest fix last
    (the sampled track may not hold it; it is always read, unless later than the evaluation time:
    the rules never see a fix from after their "now"). From the vehicle row's stored track when it
    covers the window (domain.stored_track_covers), else read from `positions`."""
    tracks: dict[str, list[Any]] = {}
    unread: list[str] = []
    for vid in vehicle_ids:
        v = reporting[vid]
        start = at[vid] - lookback
        if stored_track_covers(v.get("recent_track_since"), v.get("recent_track_sample_at"), v.get("last_sample_at"),
                               start):
            stored = v.get("recent_track")  # as the row holds it, or as ingest just made it
            rows = stored if isinstance(stored, list) else repo.unpack_track(stored)
            tracks[vid] = track_window(rows, epoch_micros(start), at_us[vid])
        else:
            unread.append(vid)
    if unread:
        found = await repo.recent_tracks(conn, [(vid, at[vid] - lookback, at[vid]) for vid in unread])
        for vid in unread:
            tracks[vid] = found.get(vid) or []
    for vid, track in tracks.items():
        newest = reporting[vid]
        newest_us = epoch_micros(newest["last_fix_at"])
        if (not track or track[-1][0] != newest_us) and newest_us <= at_us[vid]:
            track.append((newest_us, newest["last_lat"], newest["last_lon"], newest["last_speed_kmh"]))
    return tracks


@dataclass
class Evaluation:
    shipments: int = 0
    events: int = 0


async def evaluate_vehicle(conn: asyncpg.Connection, rt: Runtime, vehicle: asyncpg.Record | dict[str, Any],
                           *, now: datetime, silent: bool = False,
                           only: Sequence[str] | None = None) -> Evaluation:
    """`evaluate_vehicles` for one vehicle, judged at `now`."""
    return await evaluate_vehicles(conn, rt, [vehicle], now=now, silent=silent, only=only)


async def evaluate_vehicles(conn: asyncpg.Connection, rt: Runtime,
                            vehicles: Sequence[asyncpg.Record | dict[str, Any]], *, now: datetime | None = None,
                            silent: bool = False, only: Sequence[str] | None = None,
                            shipments: Sequence[asyncpg.Record] | None = None) -> Evaluation:
    """ETA and delay of every in-transit shipment on board the vehicles, inside the caller's
    transaction; emits delayed / recovered through the outbox.

    Live feed: each vehicle is judged at its newest fix time (`now=None`), so a replayed feed
    decides exactly as the live one did. Silent vehicles (`silent=True`, the stale sweep): the
    truck is assumed to stand where it was last seen, from `now` on, at the default speed; the
    reason is no_signal.

    Why batched: a group commit or a position batch touches many vehicles, and this is the hot
    path of ingest. The shipments of all of them (with their stations) and their sampled tracks
    are read in two queries (a third for the few tracks the short lookback does not settle, see
    `domain.track_lookback`), and the delay states written in one statement, instead of a handful
    of round trips per vehicle.
    """
    cfg = eta_config(rt)
    result = Evaluation()
    reporting = {v["vehicle_id"]: v for v in vehicles if v["last_fix_at"] is not None}
    if not reporting:
        return result
    at = {vid: now or v["last_fix_at"] for vid, v in reporting.items()}
    at_us = {vid: epoch_micros(when) for vid, when in at.items()}  # the time axis of the tracks
    if shipments is None:  # else read by the caller, as `repo.on_board_many` (ingest: in the same round trip)
        shipments = await repo.on_board_many(conn, sorted(reporting), only)
    if not shipments:
        return result
    carried = sorted({s["vehicle_id"] for s in shipments})
    short, long = track_lookback(cfg)
    tracks = await _tracks(conn, reporting, at, at_us, carried, short)
    unsettled = [vid for vid, track in tracks.items() if not track_settles_stop(track, at_us[vid], cfg)]
    if unsettled:
        tracks.update(await _tracks(conn, reporting, at, at_us, unsettled, long))
    stations = {p[0]: GeoPoint(p[1], p[2]) for s in shipments for p in s["station_points"]}
    judged: dict[str, tuple[float | None, DelayReason]] = {}
    for vid, track in tracks.items():
        judged[vid] = (None if silent else track_speed_kmh(track, at_us[vid], cfg),
                       track_delay_reason(track, at_us[vid], cfg))
    changed: list[tuple[str, DelayState]] = []
    for s in shipments:
        vehicle = reporting[s["vehicle_id"]]
        when = at[s["vehicle_id"]]
        speed, reason = judged[s["vehicle_id"]]
        pending = pending_via(_route(s), s["reached_via"])
        estimate = estimate_eta(
            position=GeoPoint(vehicle["last_lat"], vehicle["last_lon"]),
            fix_at=when if silent else vehicle["last_fix_at"],
            pending_via=[stations[c] for c in pending],
            destination=stations[s["destination"]],
            recent_speed_kmh=speed, cfg=cfg)
        previous = _previous_state(s)
        try:
            decision = evaluate_delay(previous=previous, eta=estimate.eta, promised_at=s["promised_at"], now=when,
                                      inferred_reason=reason, note_reason=s["note_reason"], cfg=cfg)
        except DomainError:  # a note reason the rules do not know: fall back to the inferred one
            decision = evaluate_delay(previous=previous, eta=estimate.eta, promised_at=s["promised_at"], now=when,
                                      inferred_reason=reason, cfg=cfg)
        result.shipments += 1
        if not decision.emits and not delay_state_worth_saving(previous, decision.state):
            continue
        state = decision.state
        changed.append((s["waybill_no"], state))
        if decision.event is DelayEvent.DELAYED:
            assert state.reason is not None
            await publish(conn, ShipmentDelayed(
                waybill_no=s["waybill_no"], eta=estimate.eta, promised_at=s["promised_at"],
                delay_minutes=state.delay_minutes, reason=state.reason.value, last_position=_event_position(vehicle),
                vehicle_id=vehicle["vehicle_id"], destination=s["destination"], detected_at=when), source=SOURCE)
            await repo.append_timeline(conn, s["waybill_no"], when, "delayed", {
                "eta": estimate.eta.isoformat(), "promised_at": s["promised_at"].isoformat(),
                "delay_minutes": state.delay_minutes, "reason": state.reason.value,
                "vehicle_id": vehicle["vehicle_id"], "remaining_km": round(estimate.remaining_km, 1),
                "speed_kmh": round(estimate.speed_kmh, 1)})
        elif decision.event is DelayEvent.RECOVERED:
            await publish(conn, ShipmentRecovered(
                waybill_no=s["waybill_no"], eta=estimate.eta, promised_at=s["promised_at"],
                last_position=_event_position(vehicle), vehicle_id=vehicle["vehicle_id"], destination=s["destination"]),
                source=SOURCE)
            await repo.append_timeline(conn, s["waybill_no"], when, "recovered", {
                "eta": estimate.eta.isoformat(), "promised_at": s["promised_at"].isoformat(),
                "vehicle_id": vehicle["vehicle_id"]})
        if decision.emits:
            result.events += 1
            DELAY_EVENTS.labels(decision.event.value).inc()
    if changed:
        await repo.save_delay_states(conn, changed)
    EVALUATED.inc(result.shipments)
    return result


async def stale_scan(rt: Runtime, now: datetime) -> StaleScanResult:
    """Vehicles silent for `no_signal_minutes`: `tracking.vehicle.stale.v1` once per silence,
    and their in-transit shipments re-evaluated (reason no_signal). Idempotent."""
    cfg = eta_config(rt)
    now = now.astimezone(UTC)
    stale = evaluated = events = 0
    async with rt.pool.acquire() as conn, conn.transaction():
        for v in await repo.silent_vehicles(conn, silent_since=now - timedelta(minutes=cfg.no_signal_minutes)):
            if stale_event_due(last_fix_at=v["last_fix_at"], now=now, flagged_for_fix_at=v["stale_flagged_for"],
                               cfg=cfg):
                waybills = await repo.waybills_on_board(conn, v["vehicle_id"])
                await publish(conn, VehicleStale(
                    vehicle_id=v["vehicle_id"], plate=v["plate"], carrier=v["carrier"], last_fix_at=v["last_fix_at"],
                    silent_minutes=int((now - v["last_fix_at"]).total_seconds() // 60), waybills=waybills),
                    source=SOURCE)
                await repo.mark_stale_reported(conn, v["vehicle_id"], v["last_fix_at"])
                stale += 1
                STALE_EVENTS.inc()
            result = await evaluate_vehicle(conn, rt, v, now=now, silent=True)
            evaluated += result.shipments
            events += result.events
    if stale or events:
        log.info("stale scan", extra={"stale_vehicles": stale, "delay_events": events})
    return StaleScanResult(now=now, stale_vehicles=stale, evaluated_shipments=evaluated, events=events)


# --- queries ----------------------------------------------------------------------------


def _masked_party(party: dict[str, Any]) -> dict[str, Any]:
    out = dict(party)
    out["phone"] = mask_phone(out.get("phone"))
    out["email"] = mask_email(out.get("email"))
    return out


def _summary_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "waybill_no": row["waybill_no"],
        "status": displayed_status(ShipmentStatus(row["status"]), row["open_exceptions"]).value,
        "origin": row["origin"], "destination": row["destination"], "via": list(row["via"]),
        "promised_at": row["promised_at"], "eta": row["eta"], "delayed": row["delayed"],
        "delay_minutes": row["delay_minutes"], "delay_reason": row["delay_reason"],
        "vehicle_id": row["vehicle_id"], "pieces": row["pieces"], "pieces_arrived": row["pieces_arrived"],
        "registered_at": row["registered_at"],
    }


async def get_shipment(rt: Runtime, waybill_no: str, principal: Principal) -> ShipmentRead:
    async with rt.pool.acquire() as conn:
        row = await repo.get_shipment(conn, waybill_no)
        if row is None or not _visible(row, principal):
            raise not_found("shipment", waybill_no)
        vehicle = await repo.get_vehicle(conn, row["vehicle_id"]) if row["vehicle_id"] else None
        entries = await repo.timeline(conn, waybill_no)
    return ShipmentRead(
        **_summary_fields(row),
        last_position=None if vehicle is None else _last_position(vehicle),
        payment=row["payment"], shipper=_masked_party(row["shipper"]), consignee=_masked_party(row["consignee"]),
        cargo=row["cargo"], receipt=row["receipt"], departed_at=row["departed_at"],
        final_arrived_at=row["final_arrived_at"], delivered_at=row["delivered_at"],
        open_exceptions=row["open_exceptions"],
        timeline=[TimelineEntry(at=e["at"], kind=e["kind"], data=e["data"]) for e in entries],
    )


async def list_shipments(rt: Runtime, principal: Principal, *, status: str | None, station: str | None,
                         delayed: bool | None, after: str | None, limit: int) -> tuple[list[ShipmentSummary], bool]:
    branch = principal.branch if principal.role == "branch" else None
    async with rt.pool.acquire() as conn:
        rows = await repo.list_shipments(conn, status=status, station=station, branch=branch, delayed=delayed,
                                         after=after, limit=limit + 1)
    return [ShipmentSummary(**_summary_fields(r)) for r in rows[:limit]], len(rows) > limit


def station_views(rows: Iterable[asyncpg.Record]) -> list[StationRead]:
    return [StationRead(**dict(r)) for r in rows]


async def sweep_positions(rt: Runtime, now: datetime) -> int:
    """Delete fixes older than the retention period, in batches (short transactions)."""
    settings = tracking_settings(rt.settings)
    before = now - timedelta(days=settings.positions_retention_days)
    total = 0
    while True:
        async with rt.pool.acquire() as conn:
            deleted = await repo.delete_positions_before(conn, before, settings.positions_sweep_batch)
        total += deleted
        if deleted < settings.positions_sweep_batch:
            break
    if total:
        log.info("positions retention sweep", extra={"deleted": total, "before": before.isoformat()})
    return total
