"""SQL of tickets (`complaints`), their history (`complaint_history`) and recorded SLA
breaches (`sla_breaches`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.complaints.domain.tickets import ACTIVE_STATUSES
from shared.sql import Filters

Row = dict[str, Any]

# The statuses in which the SLA clock runs, as the queries take them.
ACTIVE = [s.value for s in ACTIVE_STATUSES]

# A ticket counts as breached once a breach was recorded, or while it runs past a due time
# the monitor has not looked at yet. A paused ticket has no due time (NULL): not breached by it.
BREACHED_SQL = (
    "COALESCE(c.first_response_breached OR c.resolution_breached OR (c.status = ANY('{" + ",".join(ACTIVE)
    + "}'::text[]) AND ((c.first_responded_at IS NULL AND c.first_response_due < $NOW)"
    " OR c.resolution_due < $NOW)), false)"
)


def _row(record: asyncpg.Record | None) -> Row | None:
    return None if record is None else dict(record)


_COMPLAINT_COLUMNS = ("id", "customer_id", "caller_name", "phone", "email", "language", "waybill_no", "channel",
                      "category", "priority", "description", "proactive", "status", "assigned_role", "opened_at",
                      "opened_by", "first_response_minutes", "resolution_minutes", "first_response_due",
                      "resolution_due", "shipment", "suggested_reply", "last_action_at", "pauses")


async def insert_complaint(conn: asyncpg.Connection, ticket: Row, *, once_per_shipment: bool = False) -> bool:
    """Insert a ticket; with `once_per_shipment` a second proactive ticket for a waybill is skipped."""
    columns = ", ".join(_COMPLAINT_COLUMNS)
    params = ", ".join(f"${i}" for i in range(1, len(_COMPLAINT_COLUMNS) + 1))
    conflict = " ON CONFLICT (waybill_no) WHERE proactive DO NOTHING" if once_per_shipment else ""
    inserted = await conn.fetchval(
        f"INSERT INTO complaints ({columns}) VALUES ({params}){conflict} RETURNING true",
        *(ticket[c] for c in _COMPLAINT_COLUMNS))
    return bool(inserted)


async def has_care_ticket(conn: asyncpg.Connection, waybill_no: str) -> bool:
    """Whether proactive care already opened its (one) ticket for the waybill."""
    return bool(await conn.fetchval("SELECT 1 FROM complaints WHERE waybill_no = $1 AND proactive", waybill_no))


async def get_complaint(conn: asyncpg.Connection, complaint_id: uuid.UUID, *, for_update: bool = False
                        ) -> Row | None:
    sql = "SELECT * FROM complaints WHERE id = $1" + (" FOR UPDATE" if for_update else "")
    return _row(await conn.fetchrow(sql, complaint_id))


async def update_complaint(conn: asyncpg.Connection, complaint_id: uuid.UUID, fields: Row) -> None:
    columns = list(fields)
    assigns = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    await conn.execute(f"UPDATE complaints SET {assigns}, updated_at = now() WHERE id = $1",
                       complaint_id, *(fields[c] for c in columns))


async def add_history(conn: asyncpg.Connection, complaint_id: uuid.UUID, *, at: datetime, actor: str,
                      action: str, from_status: str | None, to_status: str, details: Row | None = None) -> None:
    await conn.execute(
        "INSERT INTO complaint_history (complaint_id, at, actor, action, from_status, to_status, details) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        complaint_id, at, actor, action, from_status, to_status, details or {})


async def history(conn: asyncpg.Connection, complaint_id: uuid.UUID) -> list[Row]:
    rows = await conn.fetch(
        "SELECT seq, at, actor, action, from_status, to_status, details FROM complaint_history "
        "WHERE complaint_id = $1 ORDER BY seq", complaint_id)
    return [dict(r) for r in rows]


async def breach_kinds(conn: asyncpg.Connection, complaint_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch("SELECT kind FROM sla_breaches WHERE complaint_id = $1 ORDER BY kind", complaint_id)
    return [r["kind"] for r in rows]


async def record_breach(conn: asyncpg.Connection, complaint_id: uuid.UUID, *, kind: str, due_at: datetime,
                        breached_at: datetime, detected_by: str) -> bool:
    """True if this breach kind is new for the ticket (the primary key makes it once per ticket)."""
    inserted = await conn.fetchval(
        "INSERT INTO sla_breaches (complaint_id, kind, due_at, breached_at, detected_by) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
        complaint_id, kind, due_at, breached_at, detected_by)
    return bool(inserted)


async def breach_candidates(conn: asyncpg.Connection, now: datetime, limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM complaints WHERE status = ANY($3::text[]) AND ("
        " (NOT first_response_breached AND first_responded_at IS NULL AND first_response_due <= $1)"
        " OR (NOT resolution_breached AND resolution_due <= $1)) "
        "ORDER BY opened_at, id LIMIT $2", now, limit, ACTIVE)
    return [r["id"] for r in rows]


async def list_complaints(conn: asyncpg.Connection, *, now: datetime, status: str | None, breached: bool | None,
                          customer_id: str | None, waybill_no: str | None, category: str | None,
                          station: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int,
                          assigned_to: str | None = None) -> list[Row]:
    f = Filters(now)
    f.equals("c.status", status)
    f.equals("c.assigned_to", assigned_to)
    f.equals("c.customer_id", customer_id)
    f.equals("c.waybill_no", waybill_no)
    f.equals("c.category", category)
    breached_sql = BREACHED_SQL.replace("$NOW", "$1")
    if breached is not None:
        f.where(breached_sql if breached else f"NOT {breached_sql}")
    if station is not None:
        f.where(f"EXISTS (SELECT 1 FROM shipments s WHERE s.waybill_no = c.waybill_no "
                f"AND {f.param(station)} = ANY(s.stations))")
    if after is not None:
        f.where(f"(c.opened_at, c.id) < ({f.param(after[0])}, {f.param(after[1])})")
    rows = await conn.fetch(
        f"SELECT c.*, {breached_sql} AS breached FROM complaints c {f.clause} "
        f"ORDER BY c.opened_at DESC, c.id DESC LIMIT {f.param(limit)}", *f.args)
    return [dict(r) for r in rows]
