"""A shipment's timeline: everything that happened to it, oldest first (registration, scans,
delays and recoveries, notes, exceptions, delivery). Every part of the service appends to it,
inside its own transaction; nothing updates it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from asyncpg import Record


async def append(conn: asyncpg.Connection, waybill_no: str, at: datetime, kind: str, data: dict[str, Any]) -> None:
    await conn.execute("INSERT INTO timeline (waybill_no, at, kind, data) VALUES ($1, $2, $3, $4)",
                       waybill_no, at, kind, data)  # the pool's jsonb codec encodes `data`


async def entries(conn: asyncpg.Connection, waybill_no: str) -> list[Record]:
    return await conn.fetch("SELECT at, kind, data FROM timeline WHERE waybill_no = $1 ORDER BY at, id",
                            waybill_no)
