"""SQL of delivery appointments. Every function takes the caller's connection."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.sql import Filters

_SHIPMENT_COLUMNS = "waybill_no, origin, destination, via, shipper->>'customer_id' AS customer_id, status"


async def get_shipment(conn: asyncpg.Connection, waybill_no: str, *, lock: bool = False) -> asyncpg.Record | None:
    sql = f"SELECT {_SHIPMENT_COLUMNS} FROM shipments WHERE waybill_no = $1"
    return await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), waybill_no)


async def current(conn: asyncpg.Connection, waybill_no: str) -> asyncpg.Record | None:
    """The waybill's current appointment (appointments_current_idx)."""
    return await conn.fetchrow("SELECT * FROM appointments WHERE waybill_no = $1 AND superseded_at IS NULL",
                               waybill_no)


async def supersede(conn: asyncpg.Connection, waybill_no: str, *, by: uuid.UUID, at: datetime) -> str | None:
    """Mark the current appointment superseded by `by`; its id, if there was one."""
    old = await conn.fetchval(
        "UPDATE appointments SET superseded_at = $2, superseded_by = $3 "
        "WHERE waybill_no = $1 AND superseded_at IS NULL RETURNING id", waybill_no, at, by)
    return None if old is None else str(old)


async def insert(conn: asyncpg.Connection, *, appointment_id: uuid.UUID, waybill_no: str, station: str,
                 window_start: datetime, window_end: datetime, contact: str, channel: str, note: str | None,
                 booked_by: str, booked_at: datetime) -> asyncpg.Record:
    row = await conn.fetchrow(
        """
        INSERT INTO appointments (id, waybill_no, station, window_start, window_end, contact, channel, note,
                                  booked_by, booked_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        RETURNING *
        """,
        appointment_id, waybill_no, station, window_start, window_end, contact, channel, note, booked_by, booked_at)
    assert row is not None
    return row


async def day(conn: asyncpg.Connection, *, start: datetime, end: datetime, station: str | None,
              customer: str | None) -> list[asyncpg.Record]:
    """Current appointments whose window starts in [start, end), with their shipment and delivery
    (appointments_station_day_idx for a station; the window range alone otherwise)."""
    f = Filters(start, end)
    f.where("a.superseded_at IS NULL")
    f.where("a.window_start >= $1 AND a.window_start < $2")
    f.equals("a.station", station)
    f.equals("s.shipper->>'customer_id'", customer)
    return await conn.fetch(
        f"""
        SELECT a.*, s.status, s.pieces, s.pieces_arrived, s.consignee->>'name' AS consignee_name,
               s.delivered_at
        FROM appointments a JOIN shipments s USING (waybill_no)
        {f.clause}
        ORDER BY a.station, a.window_start, a.waybill_no
        """, *f.args)
