"""SQL of the day's reports: one business day's notes, registrations, scans and deliveries
(indexes of migration 0011)."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def notes_by_actor(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    """Notes written (recorded) in [start, end), per actor."""
    return await conn.fetch(
        "SELECT actor, count(*) AS notes, count(DISTINCT waybill_no) AS waybills FROM notes "
        "WHERE recorded_at >= $1 AND recorded_at < $2 GROUP BY actor ORDER BY actor", start, end)


# Each movement of the day at a station (`domain.volume.Movement`), $3 the station or NULL for all.
_MOVEMENTS = """
    SELECT 'registered' AS stage, s.origin AS station, s.waybill_no, s.pieces AS moved, s.pieces AS total,
           s.cargo->>'weight_kg' AS weight_kg, s.cargo->>'volume_m3' AS volume_m3
    FROM shipments s
    WHERE s.registered_at >= $1 AND s.registered_at < $2 AND ($3::text IS NULL OR s.origin = $3)
    UNION ALL
    SELECT sc.type, sc.station, sc.waybill_no, sc.pieces, s.pieces, s.cargo->>'weight_kg', s.cargo->>'volume_m3'
    FROM scans sc JOIN shipments s ON s.waybill_no = sc.waybill_no
    WHERE sc.at >= $1 AND sc.at < $2 AND sc.type = ANY($4::text[]) AND ($3::text IS NULL OR sc.station = $3)
    UNION ALL
    SELECT 'delivered', d.station, d.waybill_no, d.pieces, s.pieces, s.cargo->>'weight_kg', s.cargo->>'volume_m3'
    FROM deliveries d JOIN shipments s ON s.waybill_no = d.waybill_no
    WHERE d.signed_at >= $1 AND d.signed_at < $2 AND ($3::text IS NULL OR d.station = $3)
"""


async def movements(conn: asyncpg.Connection, start: datetime, end: datetime, station: str | None,
                    scan_types: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(_MOVEMENTS, start, end, station, scan_types)
