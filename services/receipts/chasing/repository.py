"""SQL of the overdue chase: the candidates past due, and the (receipt, stage) claims."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg


async def chase_candidates(conn: asyncpg.Connection, *, as_of: datetime, after: tuple[datetime, str] | None,
                           limit: int) -> list[asyncpg.Record]:
    """One keyset batch of receipts past due at ``as_of`` with chase stages possibly left.

    The WHERE clause repeats the partial index's predicate so the planner uses
    ``receipts_chase_idx`` (a range read on due_at); the rows are locked for the batch.
    """
    after_due, after_no = after if after is not None else (None, None)
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT r.waybill_no, r.status, r.origin, r.destination, r.due_at, r.final_due_at, r.station_contact, "
        "       ARRAY(SELECT c.stage FROM chase_emissions c WHERE c.waybill_no = r.waybill_no) AS emitted "
        "FROM receipts r "
        "WHERE r.status IN ('awaiting_delivery', 'signed', 'abnormal', 'qualified', 'mailed', 'lost') "
        "  AND NOT r.chase_done AND r.due_at IS NOT NULL AND r.due_at <= $1 "
        "  AND ($2::timestamptz IS NULL OR (r.due_at, r.waybill_no) > ($2::timestamptz, $3::text)) "
        "ORDER BY r.due_at, r.waybill_no LIMIT $4 FOR UPDATE OF r",
        as_of, after_due, after_no, limit,
    )
    return rows


async def record_chase(conn: asyncpg.Connection, *, waybill_no: str, stage: str, deadline: datetime,
                       as_of: datetime, event_id: uuid.UUID) -> bool:
    """Claim (receipt, stage); False if it was announced already (the unique key decides)."""
    claimed = await conn.fetchval(
        "INSERT INTO chase_emissions (waybill_no, stage, deadline, as_of, event_id) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (waybill_no, stage) DO NOTHING RETURNING true",
        waybill_no, stage, deadline, as_of, event_id,
    )
    return bool(claimed)


async def mark_chase_done(conn: asyncpg.Connection, waybill_no: str) -> None:
    """Every stage of the receipt is announced: it leaves the chase index."""
    await conn.execute("UPDATE receipts SET chase_done = true, updated_at = now() WHERE waybill_no = $1", waybill_no)
