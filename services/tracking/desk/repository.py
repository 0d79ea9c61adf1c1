"""SQL of the tracking desk (deliveries, notes, exceptions, photos, report reads).

Every function takes the connection of the caller's transaction. Of the shipments' tables
the desk writes only `shipments.{status, delivered_at, note_reason, open_exceptions,
updated_at}` (and, through `shipments.evaluation`, a delayed shipment's reason) and appends
to `timeline` (`shipments.timeline`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.tracking.shipments.repository import leave_board, lock_shipment

# --- shipments, as the desk reads and locks them ---------------------------------------

_SHIPMENT_COLUMNS = (
    "waybill_no, origin, destination, via, consignee, shipper->>'customer_id' AS customer_id, "
    "cargo, pieces, status, pieces_arrived, vehicle_id, "
    "last_scan_at, open_exceptions, delivered_at, "
    # the delay state, which a note's reason may change
    "delayed, notified_eta, delay_minutes, delay_reason, eta, evaluated_at, delay_notified_at, delayed_since"
)


async def get_shipment(conn: asyncpg.Connection, waybill_no: str, *, lock: bool = False) -> asyncpg.Record | None:
    sql = f"SELECT {_SHIPMENT_COLUMNS} FROM shipments_live WHERE waybill_no = $1"
    if lock:  # its row on board first (see lock_shipment)
        await lock_shipment(conn, waybill_no)
        sql += " FOR UPDATE"
    return await conn.fetchrow(sql, waybill_no)


# --- delivery -----------------------------------------------------------------------------


async def insert_delivery(conn: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    row = await conn.fetchrow(
        """
        INSERT INTO deliveries (waybill_no, signed_at, signer_name, signer_id_type, signer_id_hash,
                                signer_id_last4, delegated, delegate_name, delegate_id_hash, delegate_id_last4,
                                consignee_id_hash, consignee_id_last4, company_stamp, pieces, station, recorded_by,
                                appointment_id, outside_window)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
        RETURNING *
        """,
        values["waybill_no"], values["signed_at"], values["signer_name"], values["signer_id_type"],
        values["signer_id_hash"], values["signer_id_last4"], values["delegated"], values["delegate_name"],
        values["delegate_id_hash"], values["delegate_id_last4"], values["consignee_id_hash"],
        values["consignee_id_last4"], values["company_stamp"], values["pieces"], values["station"],
        values["recorded_by"], values.get("appointment_id"), values.get("outside_window", False),
    )
    assert row is not None
    return row


async def mark_delivered(conn: asyncpg.Connection, waybill_no: str, delivered_at: datetime) -> None:
    """The shipment (locked by the caller) signed for: off its vehicle, if still on board."""
    await leave_board(conn, waybill_no)
    await conn.execute(
        "UPDATE shipments SET status = 'delivered', delivered_at = $2, updated_at = now() WHERE waybill_no = $1",
        waybill_no, delivered_at,
    )


async def get_delivery(conn: asyncpg.Connection, waybill_no: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM deliveries WHERE waybill_no = $1", waybill_no)


# --- notes --------------------------------------------------------------------------------


async def insert_note(conn: asyncpg.Connection, waybill_no: str, *, at: datetime, contact: str, channel: str,
                      delayed: bool, reason: str | None, note: str | None, actor: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO notes (waybill_no, at, contact, channel, delayed, reason, note, actor) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        waybill_no, at, contact, channel, delayed, reason, note, actor,
    )
    assert row is not None
    return row


async def refresh_note_reason(conn: asyncpg.Connection, waybill_no: str) -> str | None:
    """Set shipments.note_reason from the newest (by `at`) delayed note with a reason, and the
    shipment's row on board, if it has one (what the delay evaluation reads)."""
    reason: str | None = await conn.fetchval(
        """
        WITH s AS (UPDATE shipments s SET note_reason = n.reason, updated_at = now()
                   FROM (SELECT reason FROM notes WHERE waybill_no = $1 AND delayed AND reason IS NOT NULL
                         ORDER BY at DESC, id DESC LIMIT 1) n
                   WHERE s.waybill_no = $1
                   RETURNING s.note_reason, s.vehicle_id),
             b AS (UPDATE on_board ob SET note_reason = s.note_reason FROM s
                   WHERE ob.vehicle_id = s.vehicle_id AND ob.waybill_no = $1)
        SELECT note_reason FROM s
        """,
        waybill_no,
    )
    return reason


async def list_notes(conn: asyncpg.Connection, waybill_no: str, after: tuple[datetime, int] | None,
                     limit: int) -> list[asyncpg.Record]:
    if after is None:
        return await conn.fetch(
            "SELECT * FROM notes WHERE waybill_no = $1 ORDER BY at, id LIMIT $2", waybill_no, limit)
    return await conn.fetch(
        "SELECT * FROM notes WHERE waybill_no = $1 AND (at, id) > ($2, $3) ORDER BY at, id LIMIT $4",
        waybill_no, after[0], after[1], limit,
    )


# --- exceptions and photos ----------------------------------------------------------------

_EXCEPTION_SELECT = """
    SELECT e.*, s.origin, s.destination, s.shipper->>'customer_id' AS customer_id,
           (SELECT count(*) FROM exception_photos p WHERE p.exception_id = e.id) AS photos
    FROM cargo_exceptions e JOIN shipments s ON s.waybill_no = e.waybill_no
"""


async def insert_exception(conn: asyncpg.Connection, *, exception_id: uuid.UUID, waybill_no: str, kind: str,
                           pieces: int, station: str, description: str, reported_at: datetime,
                           reported_by: str) -> None:
    await conn.execute(
        "INSERT INTO cargo_exceptions (id, waybill_no, kind, pieces, station, description, reported_at, "
        "reported_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        exception_id, waybill_no, kind, pieces, station, description, reported_at, reported_by,
    )


async def change_open_exceptions(conn: asyncpg.Connection, waybill_no: str, delta: int) -> None:
    await conn.execute(
        "UPDATE shipments SET open_exceptions = GREATEST(open_exceptions + $2, 0), updated_at = now() "
        "WHERE waybill_no = $1",
        waybill_no, delta,
    )


async def get_exception(conn: asyncpg.Connection, exception_id: uuid.UUID, *,
                        lock: bool = False) -> asyncpg.Record | None:
    sql = _EXCEPTION_SELECT + " WHERE e.id = $1"
    if lock:
        sql += " FOR UPDATE OF e"
    return await conn.fetchrow(sql, exception_id)


ExceptionKey = tuple[datetime, uuid.UUID]  # an exception's place in the list: (reported_at, id), newest first


async def list_exceptions(conn: asyncpg.Connection, *, status: str | None, station: str | None, branch: str | None,
                          before: ExceptionKey | None, limit: int) -> list[asyncpg.Record]:
    """Exceptions newest first (keyset `before`): open or resolved or both, at `station`, and for
    a branch those at its station or on a shipment from or to it. The status is written into the
    statement, so an open list walks `cargo_exceptions_open_idx`."""
    where = {"open": " AND e.resolved_at IS NULL", "resolved": " AND e.resolved_at IS NOT NULL"}.get(status or "", "")
    return await conn.fetch(
        _EXCEPTION_SELECT + """
        WHERE ($1::text IS NULL OR e.station = $1)
          AND ($2::text IS NULL OR e.station = $2 OR s.origin = $2 OR s.destination = $2)
          AND ($3::timestamptz IS NULL OR (e.reported_at, e.id) < ($3, $4::uuid))""" + where + """
        ORDER BY e.reported_at DESC, e.id DESC LIMIT $5""",
        station, branch, None if before is None else before[0], None if before is None else before[1], limit)


async def resolve_exception(conn: asyncpg.Connection, exception_id: uuid.UUID, *, at: datetime, by: str,
                            resolution: str | None) -> None:
    await conn.execute(
        "UPDATE cargo_exceptions SET resolved_at = $2, resolved_by = $3, resolution = $4 WHERE id = $1",
        exception_id, at, by, resolution,
    )


async def count_photos(conn: asyncpg.Connection, exception_id: uuid.UUID) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM exception_photos WHERE exception_id = $1", exception_id)
    return n


async def insert_photo(conn: asyncpg.Connection, *, exception_id: uuid.UUID, sha256: str, size_bytes: int,
                       content_type: str, filename: str | None, uploaded_by: str) -> tuple[asyncpg.Record, bool]:
    """The photo row and whether it is new (the same bytes twice on one exception are kept once)."""
    row = await conn.fetchrow(
        "INSERT INTO exception_photos (exception_id, sha256, size_bytes, content_type, filename, uploaded_by) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (exception_id, sha256) DO NOTHING RETURNING *",
        exception_id, sha256, size_bytes, content_type, filename, uploaded_by,
    )
    if row is not None:
        return row, True
    existing = await conn.fetchrow(
        "SELECT * FROM exception_photos WHERE exception_id = $1 AND sha256 = $2", exception_id, sha256)
    assert existing is not None
    return existing, False


async def list_photos(conn: asyncpg.Connection, exception_id: uuid.UUID, after: int | None,
                      limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM exception_photos WHERE exception_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        exception_id, after or 0, limit,
    )


async def get_photo(conn: asyncpg.Connection, exception_id: uuid.UUID, photo_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM exception_photos WHERE exception_id = $1 AND id = $2", exception_id, photo_id)


# --- reports ------------------------------------------------------------------------------


async def in_transit_shipments(conn: asyncpg.Connection, branch: str | None) -> list[asyncpg.Record]:
    """Shipments on the road on a vehicle (a branch sees those touching its station)."""
    return await conn.fetch(
        """
        SELECT waybill_no, vehicle_id, destination, promised_at, eta, delayed, cargo
        FROM shipments_live
        WHERE status = 'in_transit' AND vehicle_id IS NOT NULL
          AND ($1::text IS NULL OR origin = $1 OR destination = $1 OR $1 = ANY(via))
        ORDER BY vehicle_id, waybill_no
        """,
        branch,
    )


async def vehicles_by_id(conn: asyncpg.Connection, vehicle_ids: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT vehicle_id, plate, carrier, driver_name, driver_phone, last_fix_at, last_lat, last_lon, "
        "last_speed_kmh, last_heading FROM vehicles WHERE vehicle_id = ANY($1::text[])",
        list(vehicle_ids),
    )


async def exceptions_between(conn: asyncpg.Connection, start: datetime, end: datetime,
                             branch: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT e.id, e.waybill_no, e.kind, e.station, e.pieces, e.reported_at, e.resolved_at
        FROM cargo_exceptions e JOIN shipments s ON s.waybill_no = e.waybill_no
        WHERE e.reported_at >= $1 AND e.reported_at < $2
          AND ($3::text IS NULL OR e.station = $3 OR s.origin = $3 OR s.destination = $3)
        """,
        start, end, branch,
    )
