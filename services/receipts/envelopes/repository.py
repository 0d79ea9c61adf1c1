"""SQL of the envelopes of mailed receipts and their lists."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg


async def insert_envelope(conn: asyncpg.Connection, *, envelope_id: uuid.UUID, from_station: str, to_station: str,
                          courier_no: str, sent_at: datetime, sent_by: str, waybills: Sequence[str]) -> None:
    await conn.execute(
        "INSERT INTO envelopes (id, from_station, to_station, courier_no, sent_at, sent_by) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        envelope_id, from_station, to_station, courier_no, sent_at, sent_by,
    )
    await conn.executemany(
        "INSERT INTO envelope_items (envelope_id, waybill_no, position) VALUES ($1, $2, $3)",
        [(envelope_id, w, i) for i, w in enumerate(waybills)],
    )


async def get_envelope(conn: asyncpg.Connection, envelope_id: uuid.UUID,
                       *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, from_station, to_station, courier_no, sent_at, sent_by, status, received_at, received_by "
        f"FROM envelopes WHERE id = $1{lock}", envelope_id)
    return row


async def envelope_items(conn: asyncpg.Connection, envelope_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT i.waybill_no, i.outcome, r.status FROM envelope_items i "
        "JOIN receipts r USING (waybill_no) WHERE i.envelope_id = $1 ORDER BY i.position", envelope_id)
    return rows


async def close_envelope(conn: asyncpg.Connection, envelope_id: uuid.UUID, *, received_at: datetime,
                         received_by: str, present: Sequence[str]) -> None:
    await conn.execute(
        "UPDATE envelope_items SET outcome = CASE WHEN waybill_no = ANY($2::text[]) THEN 'present' "
        "ELSE 'missing' END WHERE envelope_id = $1", envelope_id, list(present))
    await conn.execute(
        "UPDATE envelopes SET status = 'received', received_at = $2, received_by = $3 WHERE id = $1",
        envelope_id, received_at, received_by)
