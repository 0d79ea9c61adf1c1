"""Use cases of the tracking desk: one transaction each, events via the outbox.

Delivery with identity checks, tracking notes, cargo exceptions and their photos, the 08:00
in-transit report and the weekly exception summary. Every refusal is a `DomainError` raised
before anything is written, or inside the transaction so that it rolls back: nothing is ever
half-stored.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.tracking.appointments import repository as appointments_repository
from services.tracking.context import SOURCE, TrackingRuntime
from services.tracking.desk import repository
from services.tracking.desk.models import (
    DelegateRead,
    DeliveryCreate,
    DeliveryRead,
    ExceptionCreate,
    ExceptionRead,
    ExceptionSummaryOut,
    ExceptionSummaryRowOut,
    InTransitReport,
    InTransitVehicleOut,
    NoteCreate,
    NoteRead,
    OnBoardOut,
    PhotoRead,
)
from services.tracking.desk.photos import photo_store
from services.tracking.domain import customer_view
from services.tracking.domain.appointments import Window, signed_outside
from services.tracking.domain.exceptions import ExceptionKind, ExceptionRecord, ExceptionSummary, summarise_exceptions
from services.tracking.domain.reports import (
    HANDLING_LABELS_ZH,
    InTransitRow,
    OnBoardShipment,
    VehicleSnapshot,
    build_in_transit_report,
    handling_text,
)
from services.tracking.domain.scans import ScanState, ShipmentStatus, apply_delivery
from services.tracking.domain.signing import (
    Consignee,
    Delegate,
    check_signing,
    hash_id_number,
    last4,
    masked_id,
    normalise_name,
)
from services.tracking.shipments import evaluation, timeline
from services.tracking.shipments.models import PositionRead
from shared.auth import DESK, Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, UnsupportedMedia
from shared.events import ExceptionReported, ShipmentDelivered
from shared.outbox import publish
from shared.pii import mask_phone

log = logging.getLogger("lcs.tracking.desk")

FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_PHOTOS_PER_EXCEPTION = 20

DELIVERIES = Counter("lcs_tracking_desk_deliveries_total", "Signed deliveries recorded")
IDENTITY_REFUSALS = Counter("lcs_tracking_desk_identity_refusals_total",
                            "Deliveries refused by the identity checks", ["reason"])
EXCEPTIONS_REPORTED = Counter("lcs_tracking_desk_exceptions_reported_total", "Cargo exceptions reported",
                              ["kind"])
PHOTOS_STORED = Counter("lcs_tracking_desk_photos_stored_total", "Exception photos stored")


def _not_in_future(value: datetime, field: str) -> None:
    if value - utcnow() > FUTURE_TOLERANCE:
        raise Invalid("time_in_future", f"{field} is in the future", {"field": field})


def _route_stations(shipment: asyncpg.Record) -> tuple[str, ...]:
    return (shipment["origin"], *shipment["via"], shipment["destination"])


async def _visible_shipment(conn: asyncpg.Connection, waybill_no: str, principal: Principal, *,
                            lock: bool = False) -> asyncpg.Record:
    """The shipment, or 404 when it does not exist or the branch may not see it (no leak)."""
    shipment = await repository.get_shipment(conn, waybill_no, lock=lock)
    if shipment is None or not principal.sees(*_route_stations(shipment), customer=shipment["customer_id"]):
        raise NotFound.of("shipment", waybill_no)
    return shipment


# --- delivery -------------------------------------------------------------------------------


def _delivery_read(row: asyncpg.Record) -> DeliveryRead:
    delegate = None
    if row["delegate_name"] is not None:
        delegate = DelegateRead(
            name=row["delegate_name"],
            id_number=masked_id(row["delegate_id_last4"]) if row["delegate_id_last4"] else None,
            consignee_id_number=masked_id(row["consignee_id_last4"]) if row["consignee_id_last4"] else None,
        )
    return DeliveryRead(
        waybill_no=row["waybill_no"], signed_at=row["signed_at"], signer_name=row["signer_name"],
        signer_id_type=row["signer_id_type"], signer_id_number=masked_id(row["signer_id_last4"]),
        delegated=row["delegated"], delegate=delegate, company_stamp=row["company_stamp"], pieces=row["pieces"],
        station=row["station"], recorded_by=row["recorded_by"], recorded_at=row["recorded_at"],
        appointment_id=None if row["appointment_id"] is None else str(row["appointment_id"]),
        outside_window=row["outside_window"],
    )


def _check_signer(shipment: asyncpg.Record, body: DeliveryCreate) -> None:
    """The identity rules (`domain.signing.check_signing`); a refusal is counted by its reason."""
    consignee = shipment["consignee"] or {}
    delegate = body.delegate
    try:
        check_signing(
            consignee=Consignee(name=consignee.get("name") or "", company=consignee.get("company")),
            signer_name=body.signer_name, signer_id_type=body.signer_id_type, signer_id_number=body.signer_id_number,
            delegate=None if delegate is None else Delegate(
                name=delegate.name, id_number=delegate.id_number, consignee_id_number=delegate.consignee_id_number),
            company_stamp=body.company_stamp, pieces=body.pieces, pieces_total=shipment["pieces"],
        )
    except DomainError as exc:
        if exc.code == "identity_mismatch":
            reason = (exc.details or {}).get("reason", "unknown")
            IDENTITY_REFUSALS.labels(reason).inc()
            log.info("delivery refused by identity check", extra={"waybill_no": shipment["waybill_no"],
                                                                  "reason": reason})
        raise


async def record_delivery(rt: TrackingRuntime, *, principal: Principal, waybill_no: str,
                          body: DeliveryCreate) -> DeliveryRead:
    """Sign for the goods: the identity rules, then the delivery recorded (ID numbers as keyed
    hashes and last 4), the shipment delivered, `tracking.shipment.delivered.v1` published."""
    _not_in_future(body.signed_at, "signed_at")
    async with uow(rt) as conn:
        shipment = await _visible_shipment(conn, waybill_no, principal, lock=True)
        if shipment["status"] == ShipmentStatus.DELIVERED:
            raise Conflict("already_delivered", f"shipment {waybill_no} has already been delivered")
        if shipment["status"] not in (ShipmentStatus.ARRIVED, ShipmentStatus.OUT_FOR_DELIVERY):
            raise Conflict("not_arrived",
                           f"shipment {waybill_no} is {shipment['status']}: only arrived or out-for-delivery "
                           "shipments can be signed for", {"status": shipment["status"]})
        _check_signer(shipment, body)
        if body.pieces > shipment["pieces_arrived"]:
            raise Invalid("pieces_exceed_arrived",
                          f"{body.pieces} pieces signed but only {shipment['pieces_arrived']} have arrived",
                          {"pieces": body.pieces, "pieces_arrived": shipment["pieces_arrived"]})
        apply_delivery(ScanState(pieces_total=shipment["pieces"], status=ShipmentStatus(shipment["status"]),
                                 pieces_arrived=shipment["pieces_arrived"], last_scan_at=shipment["last_scan_at"]),
                       body.signed_at, body.pieces)

        consignee_name = (shipment["consignee"] or {}).get("name") or ""
        delegate = body.delegate
        delegated = delegate is not None and normalise_name(body.signer_name) != normalise_name(consignee_name)
        key = rt.settings.id_hash_key.encode()

        def hashed(number: str | None) -> tuple[str | None, str | None]:
            if not number:
                return None, None
            return hash_id_number(number, key), last4(number)

        signer_hash, signer_last4 = hashed(body.signer_id_number)
        delegate_hash, delegate_last4 = hashed(delegate.id_number if delegate else None)
        consignee_hash, consignee_last4 = hashed(delegate.consignee_id_number if delegate else None)
        station = shipment["destination"]
        appointment = await appointments_repository.current(conn, waybill_no)
        outside = signed_outside(None if appointment is None else Window(appointment["window_start"],
                                                                         appointment["window_end"]), body.signed_at)
        row = await repository.insert_delivery(conn, {
            "waybill_no": waybill_no, "signed_at": body.signed_at, "signer_name": body.signer_name,
            "signer_id_type": body.signer_id_type, "signer_id_hash": signer_hash, "signer_id_last4": signer_last4,
            "delegated": delegated, "delegate_name": delegate.name if delegate else None,
            "delegate_id_hash": delegate_hash, "delegate_id_last4": delegate_last4,
            "consignee_id_hash": consignee_hash, "consignee_id_last4": consignee_last4,
            "company_stamp": body.company_stamp, "pieces": body.pieces, "station": station,
            "recorded_by": principal.actor,
            "appointment_id": None if appointment is None else appointment["id"], "outside_window": outside,
        })
        await repository.mark_delivered(conn, waybill_no, body.signed_at)
        await timeline.append(conn, waybill_no, body.signed_at, "delivered", {
            "signer_name": body.signer_name, "signer_id_type": body.signer_id_type,
            "signer_id_number": masked_id(signer_last4 or ""), "delegated": delegated,
            "company_stamp": body.company_stamp, "pieces": body.pieces, "station": station,
            "outside_window": outside, "by": principal.actor,
        })
        await publish(conn, ShipmentDelivered(
            waybill_no=waybill_no, delivered_at=body.signed_at, signer_name=body.signer_name, delegated=delegated,
            company_stamp=body.company_stamp, pieces=body.pieces, station=station,
        ), source=SOURCE)
    DELIVERIES.inc()
    return _delivery_read(row)


async def get_delivery(rt: TrackingRuntime, *, principal: Principal, waybill_no: str) -> DeliveryRead:
    async with rt.pool.acquire() as conn:
        await _visible_shipment(conn, waybill_no, principal)
        row = await repository.get_delivery(conn, waybill_no)
    if row is None:
        raise NotFound("not_found", f"shipment {waybill_no} has not been delivered")
    return _delivery_read(row)


# --- notes ----------------------------------------------------------------------------------


def _note_read(row: asyncpg.Record) -> NoteRead:
    return NoteRead(id=row["id"], waybill_no=row["waybill_no"], at=row["at"], contact=row["contact"],
                    channel=row["channel"], delayed=row["delayed"], reason=row["reason"], note=row["note"],
                    actor=row["actor"], recorded_at=row["recorded_at"])


async def add_note(rt: TrackingRuntime, *, principal: Principal, waybill_no: str, body: NoteCreate) -> NoteRead:
    """A tracking record (追踪记录). One with `delayed` and a `reason` makes the newest such note's
    reason the shipment's `note_reason`; a delayed shipment's `delay_reason` becomes it at once
    (`domain.notes`), and the next delay notice carries it."""
    _not_in_future(body.at, "at")
    async with uow(rt) as conn:
        shipment = await _visible_shipment(conn, waybill_no, principal, lock=True)
        row = await repository.insert_note(conn, waybill_no, at=body.at, contact=body.contact, channel=body.channel,
                                           delayed=body.delayed, reason=body.reason, note=body.note,
                                           actor=principal.actor)
        if body.delayed and body.reason is not None:
            newest = await repository.refresh_note_reason(conn, waybill_no)
            if newest is not None:
                await evaluation.apply_note_reason(conn, shipment=shipment, reason=newest)
        await timeline.append(conn, waybill_no, body.at, "note", {
            "note_id": row["id"], "contact": body.contact, "channel": body.channel, "delayed": body.delayed,
            "reason": body.reason, "note": body.note, "by": principal.actor,
        })
    return _note_read(row)


NoteKey = tuple[datetime, int]  # a note's place in the keyset order: (at, id)


async def list_notes(rt: TrackingRuntime, *, principal: Principal, waybill_no: str, after: NoteKey | None,
                     limit: int) -> tuple[list[NoteRead], NoteKey | None]:
    async with rt.pool.acquire() as conn:
        await _visible_shipment(conn, waybill_no, principal)
        rows = await repository.list_notes(conn, waybill_no, after, limit + 1)
    items = [_note_read(r) for r in rows[:limit]]
    more = len(rows) > limit
    return items, ((items[-1].at, items[-1].id) if more and items else None)


# --- exceptions -----------------------------------------------------------------------------


def _exception_read(row: asyncpg.Record) -> ExceptionRead:
    return ExceptionRead(
        id=row["id"], waybill_no=row["waybill_no"], kind=row["kind"], pieces=row["pieces"], station=row["station"],
        description=row["description"], status="open" if row["resolved_at"] is None else "resolved",
        reported_at=row["reported_at"], reported_by=row["reported_by"], resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"], resolution=row["resolution"], photos=row["photos"],
    )


async def _visible_exception(conn: asyncpg.Connection, exception_id: uuid.UUID, principal: Principal, *,
                             lock: bool = False) -> asyncpg.Record:
    row = await repository.get_exception(conn, exception_id, lock=lock)
    if row is None or not principal.sees(row["station"], row["origin"], row["destination"],
                                         customer=row["customer_id"]):
        raise NotFound.of("exception", str(exception_id))
    return row


async def report_exception(rt: TrackingRuntime, *, principal: Principal, waybill_no: str,
                           body: ExceptionCreate) -> ExceptionRead:
    """A cargo exception at a station of the route (a branch: at its own); the shipment shows
    `exception` while any is open; `tracking.exception.reported.v1` published."""
    if principal.role not in DESK and principal.branch != body.station:
        raise Forbidden("forbidden", f"a branch token reports exceptions at its own station ({principal.branch})")
    reported_at = utcnow()
    exception_id = uuid.uuid4()
    async with uow(rt) as conn:
        shipment = await _visible_shipment(conn, waybill_no, principal, lock=True)
        if body.station not in _route_stations(shipment):
            raise Invalid("station_not_on_route", f"station {body.station} is not on this shipment's route",
                          {"station": body.station, "route": list(_route_stations(shipment))})
        if body.pieces > shipment["pieces"]:
            raise Invalid("pieces_exceed_waybill", f"{body.pieces} pieces but the waybill has {shipment['pieces']}",
                          {"pieces": body.pieces, "pieces_total": shipment["pieces"]})
        await repository.insert_exception(conn, exception_id=exception_id, waybill_no=waybill_no, kind=body.kind,
                                          pieces=body.pieces, station=body.station, description=body.description,
                                          reported_at=reported_at, reported_by=principal.actor)
        await repository.change_open_exceptions(conn, waybill_no, +1)
        await timeline.append(conn, waybill_no, reported_at, "exception", {
            "action": "reported", "exception_id": str(exception_id), "kind": body.kind, "pieces": body.pieces,
            "station": body.station, "description": body.description, "by": principal.actor,
        })
        await publish(conn, ExceptionReported(
            exception_id=str(exception_id), waybill_no=waybill_no, kind=body.kind, pieces=body.pieces,
            station=body.station, description=body.description, reported_at=reported_at,
        ), source=SOURCE)
        row = await repository.get_exception(conn, exception_id)
    assert row is not None
    EXCEPTIONS_REPORTED.labels(body.kind).inc()
    return _exception_read(row)


async def get_exception(rt: TrackingRuntime, *, principal: Principal, exception_id: uuid.UUID) -> ExceptionRead:
    async with rt.pool.acquire() as conn:
        read = _exception_read(await _visible_exception(conn, exception_id, principal))
    if principal.role == "customer":  # the role that acted, never the person
        read = read.model_copy(update={"reported_by": customer_view.actor_role(read.reported_by),
                                       "resolved_by": customer_view.actor_role(read.resolved_by)})
    return read


async def resolve_exception(rt: TrackingRuntime, *, principal: Principal, exception_id: uuid.UUID,
                            resolution: str | None) -> ExceptionRead:
    """Close an open exception (409 `already_resolved` the second time)."""
    at = utcnow()
    async with uow(rt) as conn:
        row = await _visible_exception(conn, exception_id, principal, lock=True)
        if row["resolved_at"] is not None:
            raise Conflict("already_resolved", f"exception {exception_id} is already resolved",
                           {"resolved_at": row["resolved_at"].isoformat()})
        # Lock order as in report_exception (shipment, then exception) is not needed here: the
        # exception row lock serialises resolutions, and the counter update is a single statement.
        await repository.resolve_exception(conn, exception_id, at=at, by=principal.actor, resolution=resolution)
        await repository.change_open_exceptions(conn, row["waybill_no"], -1)
        await timeline.append(conn, row["waybill_no"], at, "exception", {
            "action": "resolved", "exception_id": str(exception_id), "kind": row["kind"],
            "resolution": resolution, "by": principal.actor,
        })
        updated = await repository.get_exception(conn, exception_id)
    assert updated is not None
    return _exception_read(updated)


# --- photos ---------------------------------------------------------------------------------


def sniff_image(data: bytes) -> str | None:
    """The image content type by magic bytes (JPEG, PNG, WebP, GIF), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _photo_read(row: asyncpg.Record) -> PhotoRead:
    return PhotoRead(id=row["id"], exception_id=row["exception_id"], sha256=row["sha256"],
                     size_bytes=row["size_bytes"], content_type=row["content_type"], filename=row["filename"],
                     uploaded_by=row["uploaded_by"], uploaded_at=row["uploaded_at"],
                     url=f"/v1/exceptions/{row['exception_id']}/photos/{row['id']}")


async def add_photo(rt: TrackingRuntime, *, principal: Principal, exception_id: uuid.UUID, data: bytes,
                    filename: str | None) -> tuple[PhotoRead, bool]:
    """Store a photo; returns (photo, created). The caller has already enforced the size limit."""
    if not data:
        raise Invalid("empty_file", "the uploaded file is empty")
    content_type = sniff_image(data)
    if content_type is None:
        raise UnsupportedMedia("unsupported_media_type", "only JPEG, PNG, WebP or GIF images are accepted "
                                                         "(judged by the file's content, not its name)")
    sha256 = hashlib.sha256(data).hexdigest()
    if filename is not None:
        filename = filename.replace("\x00", "")[-200:] or None
    async with uow(rt) as conn:
        await _visible_exception(conn, exception_id, principal, lock=True)
        if await repository.count_photos(conn, exception_id) >= MAX_PHOTOS_PER_EXCEPTION:
            raise Conflict("too_many_photos", f"an exception holds at most {MAX_PHOTOS_PER_EXCEPTION} photos")
        # Kept under its SHA-256 by the configured store (desk.photos), in this transaction (PostgreSQL)
        # or just before its commit (a file: if the commit fails, an unreferenced file remains, harmless).
        await photo_store(rt).put(conn, sha256, data)
        row, created = await repository.insert_photo(conn, exception_id=exception_id, sha256=sha256,
                                                     size_bytes=len(data), content_type=content_type,
                                                     filename=filename, uploaded_by=principal.actor)
    if created:
        PHOTOS_STORED.inc()
    return _photo_read(row), created


async def list_photos(rt: TrackingRuntime, *, principal: Principal, exception_id: uuid.UUID, after: int | None,
                      limit: int) -> tuple[list[PhotoRead], int | None]:
    async with rt.pool.acquire() as conn:
        await _visible_exception(conn, exception_id, principal)
        rows = await repository.list_photos(conn, exception_id, after, limit + 1)
    items = [_photo_read(r) for r in rows[:limit]]
    if principal.role == "customer":  # the role that uploaded, never the person
        items = [p.model_copy(update={"uploaded_by": customer_view.actor_role(p.uploaded_by)}) for p in items]
    return items, (items[-1].id if len(rows) > limit and items else None)


@dataclass(frozen=True)
class PhotoFile:
    content_type: str
    sha256: str
    size: int
    chunks: AsyncIterator[bytes]


async def photo_file(rt: TrackingRuntime, *, principal: Principal, exception_id: uuid.UUID,
                     photo_id: int) -> PhotoFile:
    """The photo's bytes, streamed from the store (desk.photos), with what the response says of them."""
    async with rt.pool.acquire() as conn:
        await _visible_exception(conn, exception_id, principal)
        row = await repository.get_photo(conn, exception_id, photo_id)
    if row is None:
        raise NotFound.of("photo", str(photo_id))
    stored = await photo_store(rt).open(row["sha256"])
    if stored is None:
        log.error("photo file missing", extra={"exception_id": str(exception_id), "photo_id": photo_id,
                                               "store": rt.settings.photo_store})
        raise NotFound("photo_file_missing", f"the file of photo {photo_id} is missing from storage")
    return PhotoFile(content_type=row["content_type"], sha256=row["sha256"], size=stored.size,
                     chunks=stored.chunks)


# --- reports --------------------------------------------------------------------------------


def _branch_filter(principal: Principal) -> str | None:
    return None if principal.role in DESK else principal.branch


def _flags(cargo: Any) -> dict[str, bool]:
    cargo = cargo if isinstance(cargo, dict) else {}
    return {f: bool(cargo.get(f, False)) for f in HANDLING_LABELS_ZH}


async def in_transit_rows(rt: TrackingRuntime, *, principal: Principal,
                          now: datetime) -> tuple[list[InTransitRow], dict[str, float | None]]:
    """The 08:00 report's rows (`domain.reports`), and each vehicle's last heading (not part of
    the domain snapshot)."""
    async with rt.pool.acquire() as conn:
        shipments = await repository.in_transit_shipments(conn, _branch_filter(principal))
        vehicle_rows = await repository.vehicles_by_id(conn, sorted({s["vehicle_id"] for s in shipments}))
    vehicles = [
        VehicleSnapshot(
            vehicle_id=v["vehicle_id"], plate=v["plate"], carrier=v["carrier"], driver_name=v["driver_name"],
            driver_phone=mask_phone(v["driver_phone"]), last_fix_at=v["last_fix_at"], lat=v["last_lat"],
            lon=v["last_lon"], speed_kmh=v["last_speed_kmh"])
        for v in vehicle_rows
    ]
    on_board = [
        OnBoardShipment(waybill_no=s["waybill_no"], vehicle_id=s["vehicle_id"], destination=s["destination"],
                        promised_at=s["promised_at"], eta=s["eta"], delayed=s["delayed"], **_flags(s["cargo"]))
        for s in shipments
    ]
    headings = {v["vehicle_id"]: v["last_heading"] for v in vehicle_rows}
    return build_in_transit_report(vehicles, on_board, now, rt.context.eta), headings


def in_transit_report(rows: list[InTransitRow], now: datetime,
                      headings: dict[str, float | None] | None = None) -> InTransitReport:
    out: list[InTransitVehicleOut] = []
    for row in rows:
        v = row.vehicle
        position = None
        if v.last_fix_at is not None and v.lat is not None and v.lon is not None:
            position = PositionRead(at=v.last_fix_at, lat=v.lat, lon=v.lon, speed_kmh=v.speed_kmh,
                                    heading=(headings or {}).get(v.vehicle_id))
        out.append(InTransitVehicleOut(
            vehicle_id=v.vehicle_id, plate=v.plate, carrier=v.carrier, driver_name=v.driver_name,
            driver_phone=v.driver_phone, last_position=position, last_fix_at=v.last_fix_at,
            fix_age_minutes=row.fix_age_minutes, stale=row.stale, handling_flags=list(row.handling_flags),
            shipments=[
                OnBoardOut(waybill_no=s.waybill_no, destination=s.destination, promised_at=s.promised_at, eta=s.eta,
                           delayed=s.delayed, handling_flags=list(s.handling_flags),
                           handling=handling_text(s.handling_flags))
                for s in row.shipments
            ],
        ))
    return InTransitReport(generated_at=now, vehicles=out)


async def exception_summary(rt: TrackingRuntime, *, principal: Principal, start: datetime,
                            end: datetime) -> ExceptionSummary:
    """The exceptions reported in [start, end) by station and kind (`domain.exceptions`)."""
    async with rt.pool.acquire() as conn:
        rows = await repository.exceptions_between(conn, start, end, _branch_filter(principal))
    records = [
        ExceptionRecord(exception_id=str(r["id"]), waybill_no=r["waybill_no"], kind=ExceptionKind(r["kind"]),
                        station=r["station"], pieces=r["pieces"], reported_at=r["reported_at"],
                        resolved_at=r["resolved_at"])
        for r in rows
    ]
    return summarise_exceptions(records, start=start, end=end)


def exception_summary_out(summary: ExceptionSummary) -> ExceptionSummaryOut:
    return ExceptionSummaryOut.model_validate({
        "from": summary.start, "to": summary.end, "total": summary.total, "by_kind": dict(summary.by_kind),
        "by_station": dict(summary.by_station),
        "rows": [ExceptionSummaryRowOut(station=r.station, kind=r.kind.value, count=r.count, pieces=r.pieces,
                                        open_at_end=r.open_at_end, waybills=list(r.waybills))
                 for r in summary.rows],
    })
