"""Use cases of shipments: registration (one, or a CSV file of them), scans, reads, lists and
searches. Each opens its own transaction and writes its events to the outbox in it;
`register_shipment` runs inside its caller's, so the CSV import registers every row in one.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter
from pydantic import ValidationError

from services.tracking.appointments import service as appointments
from services.tracking.appointments.models import AppointmentRead
from services.tracking.context import SOURCE, TrackingRuntime
from services.tracking.domain import customer_view
from services.tracking.domain.scans import (
    Scan,
    ScanState,
    ScanType,
    ShipmentStatus,
    apply_scan,
    check_route,
    displayed_status,
)
from services.tracking.domain.search import phone_keys, phone_query, text_query
from services.tracking.registry.repository import get_vehicle, stations_by_code
from services.tracking.shipments import evaluation, importing, repository, timeline
from services.tracking.shipments.models import (
    PositionRead,
    ScanIn,
    ScanResult,
    ShipmentCreate,
    ShipmentRead,
    ShipmentSummary,
    TimelineEntry,
)
from services.tracking.shipments.repository import DelayKey
from shared.auth import DESK, Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from shared.events import (
    ShipmentArrived,
    ShipmentDeparted,
    ShipmentOutForDelivery,
    ShipmentRegistered,
    StationRef,
)
from shared.outbox import publish
from shared.pii import mask_email, mask_name, mask_phone

log = logging.getLogger("lcs.tracking")

SHIPMENTS_REGISTERED = Counter("lcs_tracking_shipments_registered_total", "shipments registered")
SCANS = Counter("lcs_tracking_scans_total", "scans recorded", ["type"])
IMPORTS = Counter("lcs_tracking_desk_imports_total", "CSV imports by outcome", ["outcome"])
IMPORTED_ROWS = Counter("lcs_tracking_desk_imported_rows_total", "Waybills registered by CSV import")

REGISTERING_ROLES = frozenset({*DESK, "branch"})
MAX_IMPORT_PROBLEMS = 1000


# --- registration -----------------------------------------------------------------------


def _station_ref(row: asyncpg.Record) -> StationRef:
    return StationRef(code=row["code"], name=row["name"], city=row["city"], region=row["region"],
                      contact_phone=row["contact_phone"], contact_email=row["contact_email"])


async def register_shipment(conn: asyncpg.Connection, *, principal: Principal, data: ShipmentCreate,
                            phone_key: str) -> datetime:
    """Register one shipment inside the caller's transaction; when it was registered. Refusals:
    403 `forbidden` (a branch registering from another station), 422 `invalid_route` /
    `unknown_station` / `promised_at_in_past`, 409 `duplicate_waybill`; on a refusal nothing is
    written and the transaction stays usable. `phone_key` keys the parties' phones for the desk's
    search (`domain.search.phone_keys`)."""
    if principal.role not in REGISTERING_ROLES:
        raise Forbidden("forbidden", f"role {principal.role} may not register shipments")
    if principal.role == "branch" and data.origin != principal.branch:
        raise Forbidden("forbidden", f"a branch token registers only shipments from its own station "
                                     f"({principal.branch})", {"field": "origin"})
    check_route(data.origin, data.destination, data.via)
    now = utcnow()
    if data.promised_at <= now:
        raise Invalid("promised_at_in_past", "promised_at must be in the future", {"field": "promised_at"})
    codes = [data.origin, data.destination, *data.via]
    stations = await stations_by_code(conn, codes)
    missing = [c for c in codes if c not in stations]
    if missing:
        raise Invalid("unknown_station", f"unknown station(s): {', '.join(missing)}", {"stations": missing})
    payload = data.model_dump()
    phones = phone_keys((data.shipper.phone, data.consignee.phone), phone_key)
    if not await repository.insert_shipment(conn, payload, phones=phones, registered_by=principal.actor,
                                            registered_at=now):
        raise Conflict("duplicate_waybill", f"waybill {data.waybill_no} is already registered",
                       {"waybill_no": data.waybill_no})
    await timeline.append(conn, data.waybill_no, now, "registered",
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
    return now


async def create_shipment(rt: TrackingRuntime, *, principal: Principal, data: ShipmentCreate) -> datetime:
    """Register a waybill (`register_shipment`, in a transaction of its own); when it was registered."""
    async with uow(rt) as conn:
        return await register_shipment(conn, principal=principal, data=data, phone_key=rt.settings.id_hash_key)


# --- scans ------------------------------------------------------------------------------


def _scan_state(row: asyncpg.Record) -> ScanState:
    return ScanState(
        pieces_total=row["pieces"], status=ShipmentStatus(row["status"]), pieces_arrived=row["pieces_arrived"],
        departed_at=row["departed_at"], last_scan_at=row["last_scan_at"], reached_via=tuple(row["reached_via"]),
        final=row["pieces_arrived"] >= row["pieces"], arrived_at=row["final_arrived_at"],
    )


def _visible(row: asyncpg.Record | None, principal: Principal) -> bool:
    """Whether the principal may know of this shipment: its stations for a branch, its shipper's
    customer id for a customer (`Principal.sees`)."""
    return row is not None and principal.sees(row["origin"], row["destination"], *row["via"],
                                              customer=(row["shipper"] or {}).get("customer_id"))


async def record_scan(rt: TrackingRuntime, *, principal: Principal, waybill_no: str, body: ScanIn) -> ScanResult:
    """Apply one scan (`domain.scans.apply_scan`: an impossible scan is a 409 with the rule's code),
    append it to the scans and the timeline, and emit departed / arrived / out_for_delivery."""
    cfg = rt.context.eta
    async with uow(rt) as conn:
        row = await repository.get_shipment(conn, waybill_no, for_update=True)
        if row is None or not _visible(row, principal):
            raise NotFound.of("shipment", waybill_no)
        if principal.role == "branch" and body.station != principal.branch:
            raise Forbidden("forbidden", f"a branch token scans only at its own station ({principal.branch})",
                            {"field": "station"})
        if body.at - utcnow() > timedelta(minutes=rt.context.limits.max_future_minutes):
            raise Invalid("scan_in_future", "the scan time is in the future", {"field": "at"})
        vehicle = None
        if body.vehicle_id is not None:
            vehicle = await get_vehicle(conn, body.vehicle_id)
            if vehicle is None:
                raise Invalid("unknown_vehicle", f"vehicle {body.vehicle_id} is not registered",
                              {"field": "vehicle_id"})
        before = _scan_state(row)
        after = apply_scan(before, Scan(type=body.type, station=body.station, at=body.at, pieces=body.pieces,
                                        vehicle_id=body.vehicle_id), evaluation.route_of(row))
        loads = body.type in (ScanType.DEPARTED, ScanType.DEPARTED_TRANSFER)
        vehicle_id = body.vehicle_id if loads and body.vehicle_id is not None else row["vehicle_id"]
        if body.type is ScanType.ARRIVED:
            pieces = after.pieces_arrived - before.pieces_arrived
        elif body.type is ScanType.OUT_FOR_DELIVERY:
            pieces = body.pieces if body.pieces is not None else before.pieces_arrived
        else:  # what is still on the road
            pieces = body.pieces if body.pieces is not None else row["pieces"] - before.pieces_arrived
        await repository.save_scan_state(conn, waybill_no, after, vehicle_id)
        await repository.insert_scan(conn, waybill_no, type_=body.type.value, station=body.station, at=body.at,
                                     vehicle_id=body.vehicle_id, pieces=pieces, actor=principal.actor)
        await timeline.append(conn, waybill_no, body.at, "scan", {
            "type": body.type.value, "station": body.station, "vehicle_id": body.vehicle_id, "pieces": pieces,
            "pieces_arrived": after.pieces_arrived, "final": after.final, "by": principal.actor})
        eta = row["eta"]
        if loads and vehicle is not None and vehicle["last_fix_at"] is not None \
                and body.at - vehicle["last_fix_at"] < timedelta(minutes=cfg.no_signal_minutes):
            # The truck reports: give the departure an ETA (and judge the delay) from its newest fix.
            await evaluation.evaluate_vehicle(conn, eta=cfg, vehicle=vehicle, now=vehicle["last_fix_at"],
                                              only=[waybill_no])
            eta = await repository.shipment_eta(conn, waybill_no)
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


# --- reads, lists, searches -------------------------------------------------------------


def _masked_party(party: dict[str, Any]) -> dict[str, Any]:
    out = dict(party)
    out["phone"] = mask_phone(out.get("phone"))
    out["email"] = mask_email(out.get("email"))
    return out


def _common_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "waybill_no": row["waybill_no"],
        "status": displayed_status(ShipmentStatus(row["status"]), row["open_exceptions"]).value,
        "origin": row["origin"], "destination": row["destination"], "via": list(row["via"]),
        "promised_at": row["promised_at"], "eta": row["eta"], "delayed": row["delayed"],
        "delay_minutes": row["delay_minutes"], "delay_reason": row["delay_reason"],
        "delayed_since": row["delayed_since"] if row["delayed"] else None,
        "vehicle_id": row["vehicle_id"], "pieces": row["pieces"], "pieces_arrived": row["pieces_arrived"],
        "registered_at": row["registered_at"],
    }


async def get_shipment(rt: TrackingRuntime, *, principal: Principal, waybill_no: str) -> ShipmentRead:
    """A shipment with its timeline (parties' phones and e-mails masked); 404 for a branch it
    does not touch."""
    async with rt.pool.acquire() as conn:
        row = await repository.get_shipment(conn, waybill_no)
        if row is None or not _visible(row, principal):
            raise NotFound.of("shipment", waybill_no)
        vehicle = await get_vehicle(conn, row["vehicle_id"]) if row["vehicle_id"] else None
        entries = await timeline.entries(conn, waybill_no)
        appointment = await appointments.current_of(conn, waybill_no, delivered_at=row["delivered_at"], now=utcnow())
        outside_window = bool(row["delivered_at"]) and await repository.delivered_outside_window(conn, waybill_no)
    if principal.role == "customer":
        return _customer_read(row, entries, appointment=appointment, outside_window=outside_window)
    return ShipmentRead(
        **_common_fields(row),
        last_position=None if vehicle is None else PositionRead.of_vehicle(vehicle),
        payment=row["payment"], shipper=_masked_party(row["shipper"]), consignee=_masked_party(row["consignee"]),
        cargo=row["cargo"], receipt=row["receipt"], departed_at=row["departed_at"],
        final_arrived_at=row["final_arrived_at"], delivered_at=row["delivered_at"],
        open_exceptions=row["open_exceptions"], appointment=appointment, outside_window=outside_window,
        timeline=[TimelineEntry(at=e["at"], kind=e["kind"], data=e["data"]) for e in entries],
    )


def _customer_read(row: asyncpg.Record, entries: list[asyncpg.Record], *, appointment: AppointmentRead | None,
                   outside_window: bool) -> ShipmentRead:
    """The shipment as its own customer sees it (`domain.customer_view`): no vehicle, no live
    position, no desk notes, no staff names or ID numbers (the appointment says who booked it by
    role only)."""
    if appointment is not None:
        appointment = appointment.model_copy(update={"booked_by": customer_view.actor_role(appointment.booked_by)})
    shown = ((e, customer_view.timeline_entry(e["kind"], e["data"] or {})) for e in entries)
    return ShipmentRead(
        **{**_common_fields(row), "vehicle_id": None}, last_position=None,
        payment=row["payment"], shipper=_masked_party(row["shipper"]), consignee=_masked_party(row["consignee"]),
        cargo=row["cargo"], receipt=row["receipt"], departed_at=row["departed_at"],
        final_arrived_at=row["final_arrived_at"], delivered_at=row["delivered_at"],
        open_exceptions=row["open_exceptions"], appointment=appointment, outside_window=outside_window,
        timeline=[TimelineEntry(at=e["at"], kind=e["kind"], data=data) for e, data in shown if data is not None],
    )


async def list_shipments(rt: TrackingRuntime, *, principal: Principal, status: str | None, station: str | None,
                         delayed: bool | None, q: str | None = None, phone: str | None = None, after: str | None,
                         limit: int, after_delay: DelayKey | None = None) -> tuple[list[ShipmentSummary], bool]:
    """A keyset page of shipments (a branch sees those touching its station, a customer its own), narrowed by a
    search: `q` a waybill-number prefix, a customer id or the start of the customer's name;
    `phone` a whole phone or its last 4 digits, of either party (desk roles only: 403 otherwise).
    `delayed=True` lists the newest delay first (keyset `after_delay`), else by waybill number
    (keyset `after`). Whether more follow."""
    if phone is not None and principal.role not in DESK:
        raise Forbidden("forbidden", f"role {principal.role} may not search by phone")
    text = None if q is None else text_query(q)
    by_phone = None if phone is None else phone_query(phone, rt.settings.id_hash_key)
    branch = principal.branch if principal.role == "branch" else None
    async with rt.pool.acquire() as conn:
        rows = await repository.list_shipments(conn, status=status, station=station, branch=branch, delayed=delayed,
                                               after=after, limit=limit + 1, text=text, phone=by_phone,
                                               customer=principal.own_customer,
                                               by_delay=delayed is True, after_delay=after_delay)
    if principal.role == "customer":
        rows = [{**r, "vehicle_id": None} for r in rows]
    items = [ShipmentSummary(**_common_fields(r), shipper_name=(r["shipper"] or {}).get("name"),
                             consignee_name=mask_name((r["consignee"] or {}).get("name"))) for r in rows[:limit]]
    return items, len(rows) > limit


async def backfill_phone_keys(rt: TrackingRuntime, *, batch: int = 1000) -> int:
    """Service worker, once at start: the phone keys of shipments registered before they were kept
    (migration 0009), in batches; every replica may run it (each batch skips rows another holds).
    How many shipments it keyed."""
    total = 0
    while True:
        async with uow(rt) as conn:
            rows = await repository.lacking_phone_keys(conn, batch)
            await repository.save_phone_keys(conn, [
                (r["waybill_no"], phone_keys((r["shipper_phone"], r["consignee_phone"]), rt.settings.id_hash_key))
                for r in rows])
        total += len(rows)
        if len(rows) < batch:
            break
    if total:
        log.info("phone keys backfilled", extra={"shipments": total})
    return total


async def reconcile_on_board(rt: TrackingRuntime) -> int:
    """Periodic, with the stale sweep: `repository.reconcile_on_board`, logged when it changed
    anything (this release keeps `on_board` in line in every write; a release before migration
    0020, still serving during a rolling upgrade, does not)."""
    async with uow(rt) as conn:
        changed = await repository.reconcile_on_board(conn)
    if changed:
        log.warning("on_board reconciled with shipments", extra={"rows": changed})
    return changed


# --- the CSV import ---------------------------------------------------------------------


def _refusal(problems: list[dict[str, Any]], *, code: str = "invalid_import",
             kind: type[DomainError] = Invalid) -> DomainError:
    total = len(problems)
    shown = problems[:MAX_IMPORT_PROBLEMS]
    first = shown[0]
    where = f"row {first['row']}" + (f", column {first['column']}" if first["column"] else "")
    more = f" (first {MAX_IMPORT_PROBLEMS} listed)" if total > MAX_IMPORT_PROBLEMS else ""
    return kind(code, f"{total} problem(s) in the file, nothing registered{more}; first: {where}: {first['problem']}",
                shown)


@dataclass(frozen=True)
class ImportOutcome:
    registered: list[str]
    already_imported: bool


async def import_shipments(rt: TrackingRuntime, *, principal: Principal, data: bytes,
                           charset: str | None) -> ImportOutcome:
    """Register every row of a CSV file (`shipments.importing`), all or none, each by
    `register_shipment` in one transaction. The same file twice registers nothing the second
    time (`already_imported`). Refusals list `{row, column, problem}`: 422 `invalid_import`
    (or `invalid_characters` for NUL), 409 `duplicate_waybill` when every problem is a waybill
    that exists."""
    result = importing.parse_shipments_csv(data, charset=charset, max_rows=rt.settings.import_max_rows)
    if not result.ok:
        IMPORTS.labels("invalid").inc()
        raise _refusal([p.to_dict() for p in result.errors], code=result.code)

    problems: list[dict[str, Any]] = []
    bodies: list[tuple[int, ShipmentCreate]] = []
    for number, raw in zip(result.numbers, result.rows, strict=True):
        if principal.role not in DESK and raw["origin"] != principal.branch:
            problems.append({"row": number, "column": "origin",
                             "problem": f"a branch token imports only shipments from its own station "
                                        f"({principal.branch}), not {raw['origin']}"})
        try:
            bodies.append((number, ShipmentCreate.model_validate(raw)))
        except ValidationError as exc:
            for err in exc.errors():
                problems.append({"row": number, "column": importing.column_of(err.get("loc", ())),
                                 "problem": str(err.get("msg", "invalid"))})

    file_hash = hashlib.sha256(data).hexdigest()
    async with uow(rt) as conn:
        known = await stations_by_code(conn, sorted(result.station_codes))
        for number, raw in zip(result.numbers, result.rows, strict=True):
            for column, codes in (("origin", [raw["origin"]]), ("destination", [raw["destination"]]),
                                  ("via", raw["via"])):
                problems.extend({"row": number, "column": column, "problem": f"unknown station {code}"}
                                for code in codes if code not in known)
        if problems:
            problems.sort(key=lambda p: p["row"])
            IMPORTS.labels("invalid").inc()
            raise _refusal(problems)
        if not await repository.claim_import(conn, file_hash, result.encoding, principal.actor):
            IMPORTS.labels("already_imported").inc()
            return ImportOutcome(registered=[], already_imported=True)
        duplicates = 0
        for number, body in bodies:
            # each row in a savepoint: one refused row never aborts the rest, so every problem of
            # the file is listed at once (and the refusal rolls them all back)
            try:
                async with conn.transaction():
                    await register_shipment(conn, principal=principal, data=body, phone_key=rt.settings.id_hash_key)
            except DomainError as exc:
                duplicate = isinstance(exc, Conflict)
                duplicates += duplicate
                where = "waybill_no" if duplicate else importing.column_of_details(exc.details)
                problems.append({"row": number, "column": where, "problem": exc.message})
        if problems:
            IMPORTS.labels("refused").inc()
            if duplicates == len(problems):
                raise _refusal(problems, code="duplicate_waybill", kind=Conflict)
            raise _refusal(problems)
        registered = [body.waybill_no for _, body in bodies]
        await repository.complete_import(conn, file_hash, registered)
    IMPORTS.labels("registered").inc()
    IMPORTED_ROWS.inc(len(registered))
    log.info("shipments imported", extra={"registered": len(registered), "file_sha256": file_hash[:16],
                                          "by": principal.actor})
    return ImportOutcome(registered=registered, already_imported=False)
