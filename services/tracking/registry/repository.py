"""SQL of the registry: stations and vehicles (their registry data; their fixes are the feeds'),
and the stale sweep's reads. Every function takes the connection of the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg import Record

# --- stations ---------------------------------------------------------------------------


async def upsert_station(conn: asyncpg.Connection, code: str, data: dict[str, Any]) -> bool:
    """Create or replace a station; True when it was created."""
    created: bool = await conn.fetchval(
        """
        INSERT INTO stations (code, name, city, region, lat, lon, contact_phone, contact_email)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (code) DO UPDATE SET
            name = EXCLUDED.name, city = EXCLUDED.city, region = EXCLUDED.region,
            lat = EXCLUDED.lat, lon = EXCLUDED.lon, contact_phone = EXCLUDED.contact_phone,
            contact_email = EXCLUDED.contact_email, updated_at = now()
        RETURNING (xmax = 0)
        """,
        code, data["name"], data["city"], data["region"], data["lat"], data["lon"],
        data.get("contact_phone"), data.get("contact_email"),
    )
    return created


async def get_station(conn: asyncpg.Connection, code: str) -> Record | None:
    return await conn.fetchrow("SELECT * FROM stations WHERE code = $1", code)


async def stations_by_code(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, Record]:
    rows = await conn.fetch("SELECT * FROM stations WHERE code = ANY($1::text[])", list(set(codes)))
    return {r["code"]: r for r in rows}


async def list_stations(conn: asyncpg.Connection, *, after: str | None, limit: int) -> list[Record]:
    return await conn.fetch(
        "SELECT * FROM stations WHERE ($1::text IS NULL OR code > $1) ORDER BY code LIMIT $2",
        after, limit)


# --- vehicles ---------------------------------------------------------------------------


async def upsert_vehicle(conn: asyncpg.Connection, vehicle_id: str, data: dict[str, Any]) -> bool:
    """Create or replace a vehicle's registry data (never its positions) and its entry in the
    device map (`devices`, what a device's fix is claimed by); True when created. A device on
    another vehicle is a UniqueViolationError."""
    created: bool = await conn.fetchval(
        """
        INSERT INTO vehicles (vehicle_id, plate, carrier, driver_name, driver_phone, device_id)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (vehicle_id) DO UPDATE SET
            plate = EXCLUDED.plate, carrier = EXCLUDED.carrier, driver_name = EXCLUDED.driver_name,
            driver_phone = EXCLUDED.driver_phone, device_id = EXCLUDED.device_id, updated_at = now()
        RETURNING (xmax = 0)
        """,
        vehicle_id, data["plate"], data["carrier"], data.get("driver_name"), data.get("driver_phone"),
        data.get("device_id"),
    )
    await conn.execute("DELETE FROM devices WHERE vehicle_id = $1", vehicle_id)
    if data.get("device_id") is not None:
        await conn.execute("INSERT INTO devices (device_id, vehicle_id) VALUES ($1, $2)", data["device_id"], vehicle_id)
    return created


async def get_vehicle(conn: asyncpg.Connection, vehicle_id: str, *, for_update: bool = False) -> Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM vehicles WHERE vehicle_id = $1{lock}", vehicle_id)


async def vehicle_with_device(conn: asyncpg.Connection, device_id: str) -> Record | None:
    return await conn.fetchrow("SELECT v.vehicle_id, v.carrier FROM devices d JOIN vehicles v USING (vehicle_id) "
                               "WHERE d.device_id = $1", device_id)


async def waybills_on_board(conn: asyncpg.Connection, vehicle_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT waybill_no FROM on_board WHERE vehicle_id = $1 ORDER BY waybill_no",
        vehicle_id)
    return [r["waybill_no"] for r in rows]


async def carries_for_station(conn: asyncpg.Connection, vehicle_id: str, station: str) -> bool:
    """Whether a shipment on board the vehicle touches the station (origin, a transfer or the
    destination): what lets that station's branch see the vehicle's track."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM shipments WHERE vehicle_id = $1 "
        "AND (origin = $2 OR destination = $2 OR via @> ARRAY[$2]))", vehicle_id, station)
    return found


async def silent_vehicles(conn: asyncpg.Connection, *, silent_since: datetime) -> list[Record]:
    """Vehicles silent since at least `silent_since` that either owe a stale notice (a new
    silence) or carry in-transit shipments (re-evaluated with reason no_signal). A vehicle
    busy in a position batch right now is skipped: it is evidently not silent."""
    return await conn.fetch(
        """
        SELECT * FROM vehicles v
        WHERE v.last_fix_at <= $1
          AND (v.stale_flagged_for IS DISTINCT FROM v.last_fix_at
               OR EXISTS (SELECT 1 FROM on_board s WHERE s.vehicle_id = v.vehicle_id))
        ORDER BY v.vehicle_id
        FOR UPDATE SKIP LOCKED
        """,
        silent_since)


async def mark_stale_reported(conn: asyncpg.Connection, vehicle_id: str, last_fix_at: datetime) -> None:
    await conn.execute("UPDATE vehicles SET stale_flagged_for = $2 WHERE vehicle_id = $1", vehicle_id, last_fix_at)
