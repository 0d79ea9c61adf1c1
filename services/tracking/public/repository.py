"""The columns the public view is made of: the shipment's stage, where it is, its ETA and delay,
the stored last-4 digits of its parties' phones (migration 0009) — nothing else of the row."""

from __future__ import annotations

import asyncpg
from asyncpg import Record

# A waybill number as the public types it is upper-cased (shared.links.normalise_waybill); the
# lookup matches upper(waybill_no) (index of migration 0018), the exact number first.
_SHIPMENT = """
SELECT s.waybill_no, s.status, s.origin, s.destination, s.eta, s.delayed, s.delay_reason, s.phone_last4,
       (SELECT c.station FROM scans c WHERE c.waybill_no = s.waybill_no ORDER BY c.at DESC, c.id DESC LIMIT 1)
           AS last_scan_station
FROM shipments s
WHERE upper(s.waybill_no) = upper($1)
ORDER BY s.waybill_no = $1 DESC, s.waybill_no
LIMIT 1
"""


async def shipment(conn: asyncpg.Connection, waybill_no: str) -> Record | None:
    return await conn.fetchrow(_SHIPMENT, waybill_no)


async def cities(conn: asyncpg.Connection, codes: set[str]) -> dict[str, str]:
    rows = await conn.fetch("SELECT code, city FROM stations WHERE code = ANY($1::text[])", sorted(codes))
    return {r["code"]: r["city"] for r in rows}


async def timeline(conn: asyncpg.Connection, waybill_no: str) -> list[Record]:
    """The entries the public may see some of (the domain picks what)."""
    return await conn.fetch(
        "SELECT at, kind, data FROM timeline WHERE waybill_no = $1 "
        "AND kind IN ('registered', 'scan', 'delayed', 'recovered', 'delivered') ORDER BY at, id", waybill_no)
