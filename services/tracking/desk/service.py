"""Use cases of the tracking desk: one transaction each, events via the outbox.

Delivery with identity checks, tracking notes, cargo exceptions and their photos, the
08:00 in-transit report, the weekly exception summary and the bulk CSV import.
Every refusal is an `DomainError` raised before anything is written, or inside the
transaction so that it rolls back: nothing is ever half-stored.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
import os
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import Counter
from pydantic import ValidationError

from services.tracking import csv_import, domain
from services.tracking import desk_repository as repo
from services.tracking.desk_models import (
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
from services.tracking.models import PositionRead
from services.tracking.settings import tracking_settings
from shared.auth import DESK, Principal
from shared.context import Runtime
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, UnsupportedMedia, not_found, of_status
from shared.events import ExceptionReported, ShipmentDelivered
from shared.outbox import publish
from shared.pii import mask_phone

log = logging.getLogger("lcs.tracking.desk")

SOURCE = "/lcs/tracking"
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_PHOTOS_PER_EXCEPTION = 20
MAX_IMPORT_PROBLEMS = 1000

DELIVERIES = Counter("lcs_tracking_desk_deliveries_total", "Signed deliveries recorded")
IDENTITY_REFUSALS = Counter("lcs_tracking_desk_identity_refusals_total",
                            "Deliveries refused by the identity checks", ["reason"])
EXCEPTIONS_REPORTED = Counter("lcs_tracking_desk_exceptions_reported_total", "Cargo exceptions reported",
                              ["kind"])
PHOTOS_STORED = Counter("lcs_tracking_desk_photos_stored_total", "Exception photos stored")
IMPORTS = Counter("lcs_tracking_desk_imports_total", "CSV imports by outcome", ["outcome"])
IMPORTED_ROWS = Counter("lcs_tracking_desk_imported_rows_total", "Waybills registered by CSV import")


def _now() -> datetime:
    return datetime.now(UTC)


def _not_in_future(value: datetime, field: str) -> None:
    if value - _now() > FUTURE_TOLERANCE:
        raise Invalid("time_in_future", f"{field} is in the future", {"field": field})


def _domain_error(exc: domain.DomainError, status: int = 422) -> DomainError:
    return of_status(status, exc.code, exc.message, exc.details)


def _route_stations(shipment: asyncpg.Record) -> tuple[str, ...]:
    return (shipment["origin"], *shipment["via"], shipment["destination"])


async def _visible_shipment(conn: asyncpg.Connection, waybill_no: str, principal: Principal, *,
                            lock: bool = False) -> asyncpg.Record:
    """The shipment, or 404 when it does not exist or the branch may not see it (no leak)."""
    shipment = await repo.get_shipment(conn, waybill_no, lock=lock)
    if shipment is None or not principal.sees_station(*_route_stations(shipment)):
        raise not_found("shipment", waybill_no)
    return shipment


# --- delivery -------------------------------------------------------------------------------


def _id_key(rt: Runtime) -> bytes:
    return rt.settings.id_hash_key.encode()


def _delivery_read(row: asyncpg.Record) -> DeliveryRead:
    delegate = None
    if row["delegate_name"] is not None:
        delegate = DelegateRead(
            name=row["delegate_name"],
            id_number=domain.masked_id(row["delegate_id_last4"]) if row["delegate_id_last4"] else None,
            consignee_id_number=domain.masked_id(row["consignee_id_last4"]) if row["consignee_id_last4"] else None,
        )
    return DeliveryRead(
        waybill_no=row["waybill_no"], signed_at=row["signed_at"], signer_name=row["signer_name"],
        signer_id_type=row["signer_id_type"], signer_id_number=domain.masked_id(row["signer_id_last4"]),
        delegated=row["delegated"], delegate=delegate, company_stamp=row["company_stamp"], pieces=row["pieces"],
        station=row["station"], recorded_by=row["recorded_by"], recorded_at=row["recorded_at"],
    )


async def record_delivery(rt: Runtime, waybill_no: str, body: DeliveryCreate, principal: Principal) -> DeliveryRead:
    _not_in_future(body.signed_at, "signed_at")
    async with rt.pool.acquire() as conn, conn.transaction():
        shipment = await _visible_shipment(conn, waybill_no, principal, lock=True)
        if shipment["status"] == domain.ShipmentStatus.DELIVERED:
            raise Conflict("already_delivered", f"shipment {waybill_no} has already been delivered")
        if shipment["status"] not in (domain.ShipmentStatus.ARRIVED, domain.ShipmentStatus.OUT_FOR_DELIVERY):
            raise Conflict("not_arrived",
                           f"shipment {waybill_no} is {shipment['status']}: only arrived or out-for-delivery "
                           "shipments can be signed for", {"status": shipment["status"]})
        consignee = shipment["consignee"] or {}
        delegate = body.delegate
        try:
            domain.check_signing(
                consignee=domain.Consignee(name=consignee.get("name") or "", company=consignee.get("company")),
                signer_name=body.signer_name, signer_id_type=body.signer_id_type,
                signer_id_number=body.signer_id_number,
                delegate=None if delegate is None else domain.Delegate(
                    name=delegate.name, id_number=delegate.id_number,
                    consignee_id_number=delegate.consignee_id_number),
                company_stamp=body.company_stamp, pieces=body.pieces, pieces_total=shipment["pieces"],
            )
        except domain.DomainError as exc:
            if exc.code == "identity_mismatch":
                reason = (exc.details or {}).get("reason", "unknown")
                IDENTITY_REFUSALS.labels(reason).inc()
                log.info("delivery refused by identity check", extra={"waybill_no": waybill_no, "reason": reason})
            raise _domain_error(exc) from None
        if body.pieces > shipment["pieces_arrived"]:
            raise Invalid("pieces_exceed_arrived",
                           f"{body.pieces} pieces signed but only {shipment['pieces_arrived']} have arrived",
                           {"pieces": body.pieces, "pieces_arrived": shipment["pieces_arrived"]})
        state = domain.ScanState(pieces_total=shipment["pieces"], status=domain.ShipmentStatus(shipment["status"]),
                                 pieces_arrived=shipment["pieces_arrived"], last_scan_at=shipment["last_scan_at"])
        try:
            domain.apply_delivery(state, body.signed_at, body.pieces)
        except domain.DomainError as exc:
            raise _domain_error(exc, 409 if exc.code == "already_delivered" else 422) from None

        signer_is_consignee = domain.normalise_name(body.signer_name) == domain.normalise_name(
            consignee.get("name") or "")
        delegated = delegate is not None and not signer_is_consignee
        key = _id_key(rt)

        def hashed(number: str | None) -> tuple[str | None, str | None]:
            if not number:
                return None, None
            return domain.hash_id_number(number, key), domain.last4(number)

        signer_hash, signer_last4 = hashed(body.signer_id_number)
        delegate_hash, delegate_last4 = hashed(delegate.id_number if delegate else None)
        consignee_hash, consignee_last4 = hashed(delegate.consignee_id_number if delegate else None)
        station = shipment["destination"]
        row = await repo.insert_delivery(conn, {
            "waybill_no": waybill_no, "signed_at": body.signed_at, "signer_name": body.signer_name,
            "signer_id_type": body.signer_id_type, "signer_id_hash": signer_hash, "signer_id_last4": signer_last4,
            "delegated": delegated, "delegate_name": delegate.name if delegate else None,
            "delegate_id_hash": delegate_hash, "delegate_id_last4": delegate_last4,
            "consignee_id_hash": consignee_hash, "consignee_id_last4": consignee_last4,
            "company_stamp": body.company_stamp, "pieces": body.pieces, "station": station,
            "recorded_by": principal.actor,
        })
        await repo.mark_delivered(conn, waybill_no, body.signed_at)
        await repo.append_timeline(conn, waybill_no, body.signed_at, "delivered", {
            "signer_name": body.signer_name, "signer_id_type": body.signer_id_type,
            "signer_id_number": domain.masked_id(signer_last4 or ""), "delegated": delegated,
            "company_stamp": body.company_stamp, "pieces": body.pieces, "station": station,
            "by": principal.actor,
        })
        await publish(conn, ShipmentDelivered(
            waybill_no=waybill_no, delivered_at=body.signed_at, signer_name=body.signer_name, delegated=delegated,
            company_stamp=body.company_stamp, pieces=body.pieces, station=station,
        ), source=SOURCE)
    DELIVERIES.inc()
    return _delivery_read(row)


async def get_delivery(rt: Runtime, waybill_no: str, principal: Principal) -> DeliveryRead:
    async with rt.pool.acquire() as conn:
        await _visible_shipment(conn, waybill_no, principal)
        row = await repo.get_delivery(conn, waybill_no)
    if row is None:
        raise NotFound("not_found", f"shipment {waybill_no} has not been delivered")
    return _delivery_read(row)


# --- notes ----------------------------------------------------------------------------------


def _note_read(row: asyncpg.Record) -> NoteRead:
    return NoteRead(id=row["id"], waybill_no=row["waybill_no"], at=row["at"], contact=row["contact"],
                    channel=row["channel"], delayed=row["delayed"], reason=row["reason"], note=row["note"],
                    actor=row["actor"], recorded_at=row["recorded_at"])


async def add_note(rt: Runtime, waybill_no: str, body: NoteCreate, principal: Principal) -> NoteRead:
    _not_in_future(body.at, "at")
    async with rt.pool.acquire() as conn, conn.transaction():
        await _visible_shipment(conn, waybill_no, principal, lock=True)
        row = await repo.insert_note(conn, waybill_no, at=body.at, contact=body.contact, channel=body.channel,
                                     delayed=body.delayed, reason=body.reason, note=body.note,
                                     actor=principal.actor)
        if body.delayed and body.reason is not None:
            await repo.refresh_note_reason(conn, waybill_no)
        await repo.append_timeline(conn, waybill_no, body.at, "note", {
            "note_id": row["id"], "contact": body.contact, "channel": body.channel, "delayed": body.delayed,
            "reason": body.reason, "note": body.note, "by": principal.actor,
        })
    return _note_read(row)


async def list_notes(rt: Runtime, waybill_no: str, principal: Principal, after: tuple[datetime, int] | None,
                     limit: int) -> tuple[list[NoteRead], tuple[datetime, int] | None]:
    async with rt.pool.acquire() as conn:
        await _visible_shipment(conn, waybill_no, principal)
        rows = await repo.list_notes(conn, waybill_no, after, limit + 1)
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


def _sees_exception(principal: Principal, row: asyncpg.Record) -> bool:
    return principal.sees_station(row["station"], row["origin"], row["destination"])


async def _visible_exception(conn: asyncpg.Connection, exception_id: uuid.UUID, principal: Principal, *,
                             lock: bool = False) -> asyncpg.Record:
    row = await repo.get_exception(conn, exception_id, lock=lock)
    if row is None or not _sees_exception(principal, row):
        raise not_found("exception", str(exception_id))
    return row


async def report_exception(rt: Runtime, waybill_no: str, body: ExceptionCreate,
                           principal: Principal) -> ExceptionRead:
    if principal.role not in DESK and principal.branch != body.station:
        raise Forbidden("forbidden", f"a branch token reports exceptions at its own station ({principal.branch})")
    reported_at = _now()
    exception_id = uuid.uuid4()
    async with rt.pool.acquire() as conn, conn.transaction():
        shipment = await _visible_shipment(conn, waybill_no, principal, lock=True)
        if body.station not in _route_stations(shipment):
            raise Invalid("station_not_on_route",
                           f"station {body.station} is not on this shipment's route",
                           {"station": body.station, "route": list(_route_stations(shipment))})
        if body.pieces > shipment["pieces"]:
            raise Invalid("pieces_exceed_waybill",
                           f"{body.pieces} pieces but the waybill has {shipment['pieces']}",
                           {"pieces": body.pieces, "pieces_total": shipment["pieces"]})
        await repo.insert_exception(conn, exception_id=exception_id, waybill_no=waybill_no, kind=body.kind,
                                    pieces=body.pieces, station=body.station, description=body.description,
                                    reported_at=reported_at, reported_by=principal.actor)
        await repo.change_open_exceptions(conn, waybill_no, +1)
        await repo.append_timeline(conn, waybill_no, reported_at, "exception", {
            "action": "reported", "exception_id": str(exception_id), "kind": body.kind, "pieces": body.pieces,
            "station": body.station, "description": body.description, "by": principal.actor,
        })
        await publish(conn, ExceptionReported(
            exception_id=str(exception_id), waybill_no=waybill_no, kind=body.kind, pieces=body.pieces,
            station=body.station, description=body.description, reported_at=reported_at,
        ), source=SOURCE)
        row = await repo.get_exception(conn, exception_id)
    assert row is not None
    EXCEPTIONS_REPORTED.labels(body.kind).inc()
    return _exception_read(row)


async def get_exception(rt: Runtime, exception_id: uuid.UUID, principal: Principal) -> ExceptionRead:
    async with rt.pool.acquire() as conn:
        return _exception_read(await _visible_exception(conn, exception_id, principal))


async def resolve_exception(rt: Runtime, exception_id: uuid.UUID, resolution: str | None,
                            principal: Principal) -> ExceptionRead:
    at = _now()
    async with rt.pool.acquire() as conn, conn.transaction():
        row = await _visible_exception(conn, exception_id, principal, lock=True)
        if row["resolved_at"] is not None:
            raise Conflict("already_resolved", f"exception {exception_id} is already resolved",
                           {"resolved_at": row["resolved_at"].isoformat()})
        # Lock order as in report_exception (shipment, then exception) is not needed here: the
        # exception row lock serialises resolutions, and the counter update is a single statement.
        await repo.resolve_exception(conn, exception_id, at=at, by=principal.actor, resolution=resolution)
        await repo.change_open_exceptions(conn, row["waybill_no"], -1)
        await repo.append_timeline(conn, row["waybill_no"], at, "exception", {
            "action": "resolved", "exception_id": str(exception_id), "kind": row["kind"],
            "resolution": resolution, "by": principal.actor,
        })
        updated = await repo.get_exception(conn, exception_id)
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


def _photo_path(rt: Runtime, sha256: str) -> Path:
    return Path(tracking_settings(rt.settings).photo_dir) / sha256


def _write_photo(path: Path, data: bytes) -> None:
    """Content-addressed, atomic: a reader never sees a partial file; the same bytes are written once."""
    if path.exists() and path.stat().st_size == len(data):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _photo_read(row: asyncpg.Record) -> PhotoRead:
    return PhotoRead(id=row["id"], exception_id=row["exception_id"], sha256=row["sha256"],
                     size_bytes=row["size_bytes"], content_type=row["content_type"], filename=row["filename"],
                     uploaded_by=row["uploaded_by"], uploaded_at=row["uploaded_at"],
                     url=f"/v1/exceptions/{row['exception_id']}/photos/{row['id']}")


async def add_photo(rt: Runtime, exception_id: uuid.UUID, data: bytes, filename: str | None,
                    principal: Principal) -> tuple[PhotoRead, bool]:
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
    async with rt.pool.acquire() as conn, conn.transaction():
        await _visible_exception(conn, exception_id, principal, lock=True)
        if await repo.count_photos(conn, exception_id) >= MAX_PHOTOS_PER_EXCEPTION:
            raise Conflict("too_many_photos", f"an exception holds at most {MAX_PHOTOS_PER_EXCEPTION} photos")
        # The file is written before the commit: if the commit fails, an unreferenced
        # content-addressed file remains (harmless; re-uploading reuses it).
        await asyncio.to_thread(_write_photo, _photo_path(rt, sha256), data)
        row, created = await repo.insert_photo(conn, exception_id=exception_id, sha256=sha256, size_bytes=len(data),
                                               content_type=content_type, filename=filename,
                                               uploaded_by=principal.actor)
    if created:
        PHOTOS_STORED.inc()
    return _photo_read(row), created


async def list_photos(rt: Runtime, exception_id: uuid.UUID, principal: Principal, after: int | None,
                      limit: int) -> tuple[list[PhotoRead], int | None]:
    async with rt.pool.acquire() as conn:
        await _visible_exception(conn, exception_id, principal)
        rows = await repo.list_photos(conn, exception_id, after, limit + 1)
    items = [_photo_read(r) for r in rows[:limit]]
    return items, (items[-1].id if len(rows) > limit and items else None)


@dataclass(frozen=True)
class PhotoFile:
    path: Path
    content_type: str
    sha256: str


async def photo_file(rt: Runtime, exception_id: uuid.UUID, photo_id: int, principal: Principal) -> PhotoFile:
    async with rt.pool.acquire() as conn:
        await _visible_exception(conn, exception_id, principal)
        row = await repo.get_photo(conn, exception_id, photo_id)
    if row is None:
        raise not_found("photo", str(photo_id))
    path = _photo_path(rt, row["sha256"])
    if not await asyncio.to_thread(path.is_file):
        log.error("photo file missing", extra={"exception_id": str(exception_id), "photo_id": photo_id})
        raise NotFound("photo_file_missing", f"the file of photo {photo_id} is missing from storage")
    return PhotoFile(path=path, content_type=row["content_type"], sha256=row["sha256"])


# --- reports --------------------------------------------------------------------------------


def _branch_filter(principal: Principal) -> str | None:
    return None if principal.role in DESK else principal.branch


def _flags(cargo: Any) -> dict[str, bool]:
    cargo = cargo if isinstance(cargo, dict) else {}
    return {f: bool(cargo.get(f, False)) for f in domain.HANDLING_LABELS_ZH}


async def in_transit_rows(rt: Runtime, principal: Principal,
                          now: datetime) -> tuple[list[domain.InTransitRow], dict[str, float | None]]:
    """The report rows, and each vehicle's last heading (not part of the domain snapshot)."""
    async with rt.pool.acquire() as conn:
        shipments = await repo.in_transit_shipments(conn, _branch_filter(principal))
        vehicle_rows = await repo.vehicles_by_id(conn, sorted({s["vehicle_id"] for s in shipments}))
    vehicles = [
        domain.VehicleSnapshot(
            vehicle_id=v["vehicle_id"], plate=v["plate"], carrier=v["carrier"], driver_name=v["driver_name"],
            driver_phone=mask_phone(v["driver_phone"]), last_fix_at=v["last_fix_at"], lat=v["last_lat"],
            lon=v["last_lon"], speed_kmh=v["last_speed_kmh"])
        for v in vehicle_rows
    ]
    on_board = [
        domain.OnBoardShipment(waybill_no=s["waybill_no"], vehicle_id=s["vehicle_id"], destination=s["destination"],
                               promised_at=s["promised_at"], eta=s["eta"], delayed=s["delayed"],
                               **_flags(s["cargo"]))
        for s in shipments
    ]
    headings = {v["vehicle_id"]: v["last_heading"] for v in vehicle_rows}
    rows = domain.build_in_transit_report(vehicles, on_board, now, tracking_settings(rt.settings).eta_config())
    return rows, headings


def in_transit_report(rows: Sequence[domain.InTransitRow], now: datetime,
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
                           handling="、".join(domain.HANDLING_LABELS_ZH[f] for f in s.handling_flags))
                for s in row.shipments
            ],
        ))
    return InTransitReport(generated_at=now, vehicles=out)


MAX_REPORT_SPAN = timedelta(days=366)


def report_period(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """Missing bounds: the current business week, or 7 days from/to the given bound."""
    if start is None and end is None:
        return domain.business_week(now.astimezone(domain.BUSINESS_TZ).date())
    if start is None:
        assert end is not None
        start = end - timedelta(days=7)
    if end is None:
        end = start + timedelta(days=7)
    if end <= start:
        raise Invalid("invalid_period", "`to` must be after `from`", {"from": start.isoformat(),
                                                                           "to": end.isoformat()})
    if end - start > MAX_REPORT_SPAN:
        raise Invalid("invalid_period", "the period may span at most 366 days")
    return start, end


async def exception_summary(rt: Runtime, principal: Principal, start: datetime,
                            end: datetime) -> domain.ExceptionSummary:
    async with rt.pool.acquire() as conn:
        rows = await repo.exceptions_between(conn, start, end, _branch_filter(principal))
    records = [
        domain.ExceptionRecord(exception_id=str(r["id"]), waybill_no=r["waybill_no"],
                               kind=domain.ExceptionKind(r["kind"]), station=r["station"], pieces=r["pieces"],
                               reported_at=r["reported_at"], resolved_at=r["resolved_at"])
        for r in rows
    ]
    try:
        return domain.summarise_exceptions(records, start=start, end=end)
    except domain.DomainError as exc:
        raise _domain_error(exc) from None


def exception_summary_out(summary: domain.ExceptionSummary) -> ExceptionSummaryOut:
    return ExceptionSummaryOut.model_validate({
        "from": summary.start, "to": summary.end, "total": summary.total, "by_kind": dict(summary.by_kind),
        "by_station": dict(summary.by_station),
        "rows": [ExceptionSummaryRowOut(station=r.station, kind=r.kind.value, count=r.count, pieces=r.pieces,
                                        open_at_end=r.open_at_end, waybills=list(r.waybills))
                 for r in summary.rows],
    })


# --- bulk import ----------------------------------------------------------------------------

_SECTION_PREFIX = {"shipper": "shipper_", "consignee": "consignee_", "receipt": "receipt_", "cargo": ""}


def _column_of(loc: Sequence[Any]) -> str | None:
    """The CSV column of a ShipmentCreate validation error location."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if not parts:
        return None
    if len(parts) >= 2 and parts[0] in _SECTION_PREFIX:
        name = parts[1]
        if parts[0] == "cargo" and name == "description":
            return "cargo_description"
        column = _SECTION_PREFIX[parts[0]] + name
        return column if column in csv_import.COLUMNS else parts[0]
    return parts[0]


def _row_numbers(data: bytes, charset: str | None) -> list[int]:
    """Data-record numbers of the non-blank records, as parse_shipments_csv counts them."""
    text, _ = csv_import.decode_csv_bytes(data, charset)
    records = list(csv.reader(io.StringIO(text, newline="")))
    return [n for n, rec in enumerate(records[1:], start=1) if any(cell.strip() for cell in rec)]


def _problems_error(problems: list[dict[str, Any]], *, status: int = 422, code: str = "invalid_import") -> DomainError:
    total = len(problems)
    shown = problems[:MAX_IMPORT_PROBLEMS]
    first = shown[0]
    where = f"row {first['row']}" + (f", column {first['column']}" if first["column"] else "")
    more = f" (first {MAX_IMPORT_PROBLEMS} listed)" if total > MAX_IMPORT_PROBLEMS else ""
    return of_status(status, code, f"{total} problem(s) in the file, nothing registered{more}; "
                                  f"first: {where}: {first['problem']}", shown)


@dataclass(frozen=True)
class ImportOutcome:
    registered: list[str]
    already_imported: bool


async def import_shipments(rt: Runtime, data: bytes, charset: str | None, principal: Principal) -> ImportOutcome:
    from services.tracking.models import ShipmentCreate  # the core's model and use case
    from services.tracking.service import register_shipment

    settings = tracking_settings(rt.settings)
    result = csv_import.parse_shipments_csv(data, charset=charset, max_rows=settings.import_max_rows)
    if not result.ok:
        IMPORTS.labels("invalid").inc()
        raise _problems_error([p.to_dict() for p in result.errors])
    numbers = _row_numbers(data, charset)
    assert len(numbers) == len(result.rows)

    problems: list[dict[str, Any]] = []
    bodies: list[tuple[int, Any]] = []
    for number, raw in zip(numbers, result.rows, strict=True):
        if principal.role not in DESK and raw["origin"] != principal.branch:
            problems.append({"row": number, "column": "origin",
                             "problem": f"a branch token imports only shipments from its own station "
                                        f"({principal.branch}), not {raw['origin']}"})
        try:
            bodies.append((number, ShipmentCreate.model_validate(raw)))
        except ValidationError as exc:
            for err in exc.errors():
                problems.append({"row": number, "column": _column_of(err.get("loc", ())),
                                 "problem": str(err.get("msg", "invalid"))})

    file_hash = hashlib.sha256(data).hexdigest()
    async with rt.pool.acquire() as conn:
        known = await repo.existing_station_codes(conn, sorted(result.station_codes))
        for number, raw in zip(numbers, result.rows, strict=True):
            for column, codes in (("origin", [raw["origin"]]), ("destination", [raw["destination"]]),
                                  ("via", raw["via"])):
                for code in codes:
                    if code not in known:
                        problems.append({"row": number, "column": column, "problem": f"unknown station {code}"})
        if problems:
            problems.sort(key=lambda p: p["row"])
            IMPORTS.labels("invalid").inc()
            raise _problems_error(problems)

        async with conn.transaction():
            if not await repo.claim_import(conn, file_hash, result.encoding, principal.actor):
                IMPORTS.labels("already_imported").inc()
                return ImportOutcome(registered=[], already_imported=True)
            duplicates = 0
            for number, body in bodies:
                try:
                    async with conn.transaction():  # a savepoint: one failing row never aborts the rest
                        await register_shipment(conn, rt, body, principal)
                except DomainError as exc:
                    duplicates += exc.status == 409
                    where = "waybill_no" if exc.status == 409 else _api_error_column(exc)
                    problems.append({"row": number, "column": where, "problem": exc.message})
            if problems:
                IMPORTS.labels("refused").inc()
                if duplicates == len(problems):
                    raise _problems_error(problems, status=409, code="duplicate_waybill")
                raise _problems_error(problems)
            registered = [body.waybill_no for _, body in bodies]
            await repo.complete_import(conn, file_hash, registered)
    IMPORTS.labels("registered").inc()
    IMPORTED_ROWS.inc(len(registered))
    log.info("shipments imported", extra={"registered": len(registered), "file_sha256": file_hash[:16],
                                          "by": principal.actor})
    return ImportOutcome(registered=registered, already_imported=False)


def _api_error_column(exc: DomainError) -> str | None:
    details = exc.details
    if isinstance(details, dict):
        for key in ("field", "column"):
            value = details.get(key)
            if isinstance(value, str):
                return _column_of(value.split("."))
    if isinstance(details, list) and details and isinstance(details[0], dict):
        loc = details[0].get("loc")
        if isinstance(loc, list):
            return _column_of([p for p in loc if p != "body"])
    return None
