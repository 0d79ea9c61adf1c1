"""SQL of the complaints schema, one section per table family. No business rules here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.complaints.domain import CustomerSighting
from services.complaints.readmodel import ShipmentView
from shared.sql import Filters

Row = dict[str, Any]

ACTIVE_STATUSES = ("open", "responded", "waiting_customer", "escalated")

# A ticket counts as breached once a breach was recorded, or while it runs past a due time
# the monitor has not looked at yet. A paused ticket has no due time (NULL): not breached by it.
BREACHED_SQL = (
    "COALESCE(c.first_response_breached OR c.resolution_breached OR (c.status = ANY('{open,responded,"
    "waiting_customer,escalated}'::text[]) AND ((c.first_responded_at IS NULL AND c.first_response_due < $NOW)"
    " OR c.resolution_due < $NOW)), false)"
)


def _row(record: asyncpg.Record | None) -> Row | None:
    return None if record is None else dict(record)


# --- SLA policies -------------------------------------------------------------------


async def list_policies(conn: asyncpg.Connection) -> list[Row]:
    rows = await conn.fetch(
        "SELECT category, priority, first_response_minutes, resolution_minutes, updated_at, updated_by "
        "FROM sla_policies ORDER BY category NULLS FIRST, priority NULLS FIRST")
    return [dict(r) for r in rows]


async def replace_policies(conn: asyncpg.Connection, policies: Sequence[Row], actor: str) -> None:
    await conn.execute("LOCK TABLE sla_policies IN EXCLUSIVE MODE")
    await conn.execute("DELETE FROM sla_policies")
    await conn.executemany(
        "INSERT INTO sla_policies (category, priority, first_response_minutes, resolution_minutes, updated_by) "
        "VALUES ($1, $2, $3, $4, $5)",
        [(p["category"], p["priority"], p["first_response_minutes"], p["resolution_minutes"], actor)
         for p in policies])


# --- customers ----------------------------------------------------------------------


async def get_customer(conn: asyncpg.Connection, customer_id: str, *, for_update: bool = False) -> Row | None:
    sql = "SELECT * FROM customers WHERE customer_id = $1" + (" FOR UPDATE" if for_update else "")
    return _row(await conn.fetchrow(sql, customer_id))


async def customer_seen(conn: asyncpg.Connection, customer_id: str, *, at: datetime, name: str | None = None,
                        phone: str | None = None, email: str | None = None) -> None:
    """Create the file on first sight; later sightings only fill gaps and move first_seen back."""
    await customers_seen(conn, [CustomerSighting(customer_id=customer_id, at=at, name=name, phone=phone,
                                                 email=email)])


async def customers_seen(conn: asyncpg.Connection, sightings: Sequence[CustomerSighting]) -> None:
    """`customer_seen` for several distinct customers in one statement (see `merge_sightings`); the
    one statement both use."""
    if not sightings:
        return
    ordered = sorted(sightings, key=lambda s: s.customer_id)
    await conn.execute(
        "INSERT INTO customers (customer_id, name, phone, email, first_seen_at, updated_by) "
        "SELECT c, n, p, e, a, 'system' "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(c, n, p, e, a) "
        "ON CONFLICT (customer_id) DO UPDATE SET "
        " name = coalesce(customers.name, EXCLUDED.name),"
        " phone = coalesce(customers.phone, EXCLUDED.phone),"
        " email = coalesce(customers.email, EXCLUDED.email),"
        " first_seen_at = least(customers.first_seen_at, EXCLUDED.first_seen_at)",
        [s.customer_id for s in ordered], [s.name for s in ordered], [s.phone for s in ordered],
        [s.email for s in ordered], [s.at for s in ordered])


async def upsert_customer(conn: asyncpg.Connection, customer_id: str, fields: Row, *, at: datetime,
                          actor: str) -> None:
    await conn.execute(
        "INSERT INTO customers (customer_id, first_seen_at, updated_by) VALUES ($1, $2, $3) "
        "ON CONFLICT (customer_id) DO NOTHING", customer_id, at, actor)
    if not fields:
        return
    columns = list(fields)
    assigns = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    n = len(columns) + 2
    await conn.execute(
        f"UPDATE customers SET {assigns}, updated_at = now(), updated_by = ${n} WHERE customer_id = $1",
        customer_id, *(fields[c] for c in columns), actor)


async def customer_shipments(conn: asyncpg.Connection, customer_id: str, limit: int) -> tuple[int, list[Row]]:
    total = await conn.fetchval("SELECT count(*) FROM shipments WHERE customer_id = $1", customer_id)
    rows = await conn.fetch(
        "SELECT waybill_no, status, origin, destination, registered_at, eta, delayed FROM shipments "
        "WHERE customer_id = $1 ORDER BY registered_at DESC NULLS LAST, waybill_no LIMIT $2", customer_id, limit)
    return int(total), [dict(r) for r in rows]


async def shipments_between(conn: asyncpg.Connection, customer_ids: Sequence[str], start: datetime,
                            end: datetime) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT customer_id, count(*) AS n FROM shipments WHERE customer_id = ANY($1::text[]) "
        "AND registered_at >= $2 AND registered_at < $3 GROUP BY customer_id", list(customer_ids), start, end)
    return {r["customer_id"]: int(r["n"]) for r in rows}


async def customer_complaints(conn: asyncpg.Connection, customer_id: str, limit: int) -> tuple[Row, list[Row]]:
    stats = await conn.fetchrow(
        "SELECT count(*) AS total, count(*) FILTER (WHERE status = ANY($2::text[])) AS open "
        "FROM complaints WHERE customer_id = $1", customer_id, list(ACTIVE_STATUSES))
    rows = await conn.fetch(
        "SELECT id, status, category, waybill_no, opened_at, csat_score, proactive FROM complaints "
        "WHERE customer_id = $1 ORDER BY opened_at DESC, id DESC LIMIT $2", customer_id, limit)
    return dict(stats), [dict(r) for r in rows]


async def customer_csat(conn: asyncpg.Connection, customer_id: str) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT csat_score, count(*) AS n FROM complaints WHERE customer_id = $1 AND csat_score IS NOT NULL "
        "GROUP BY csat_score", customer_id)
    return {int(r["csat_score"]): int(r["n"]) for r in rows}


async def count_calls(conn: asyncpg.Connection, customer_id: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM calls WHERE customer_id = $1", customer_id))


async def visit_candidates(conn: asyncpg.Connection, *, new_since: datetime, volume_start: datetime,
                           volume_end: datetime, min_volume: int | None) -> list[Row]:
    """Customers that can possibly be due: flagged, new enough, or shipping enough."""
    rows = await conn.fetch(
        "SELECT c.customer_id, coalesce(c.name, c.customer_id) AS name, c.first_seen_at, c.key_flag "
        "FROM customers c WHERE c.key_flag OR c.first_seen_at >= $1 OR ($4::int IS NOT NULL AND "
        " (SELECT count(*) FROM shipments s WHERE s.customer_id = c.customer_id "
        "  AND s.registered_at >= $2 AND s.registered_at < $3) >= $4) "
        "ORDER BY c.customer_id", new_since, volume_start, volume_end, min_volume)
    return [dict(r) for r in rows]


async def visits_of(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> dict[str, list[datetime]]:
    rows = await conn.fetch("SELECT customer_id, visited_at FROM customer_visits WHERE customer_id = ANY($1::text[])",
                            list(customer_ids))
    found: dict[str, list[datetime]] = {}
    for r in rows:
        found.setdefault(r["customer_id"], []).append(r["visited_at"])
    return found


async def insert_visit(conn: asyncpg.Connection, visit: Row) -> Row:
    row = await conn.fetchrow(
        "INSERT INTO customer_visits (id, customer_id, visited_at, by, channel, note, satisfaction, recorded_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        visit["id"], visit["customer_id"], visit["visited_at"], visit["by"], visit["channel"], visit["note"],
        visit["satisfaction"], visit["recorded_by"])
    assert row is not None
    return dict(row)


async def last_visit(conn: asyncpg.Connection, customer_id: str) -> Row | None:
    return _row(await conn.fetchrow(
        "SELECT * FROM customer_visits WHERE customer_id = $1 ORDER BY visited_at DESC, id DESC LIMIT 1",
        customer_id))


# --- shipments read model -----------------------------------------------------------

_VIEW_COLUMNS = ("customer_id", "shipper", "origin", "destination", "destination_name", "via", "stations",
                 "station_names", "registered_at", "promised_at", "status", "status_at", "eta", "eta_at",
                 "delayed", "delay_minutes", "delay_reason", "delay_at", "position", "position_at", "vehicle_id",
                 "vehicle_at", "exception", "exception_at")


def _view(record: asyncpg.Record) -> ShipmentView:
    data = {c: record[c] for c in _VIEW_COLUMNS}
    data["via"] = tuple(data["via"] or ())
    data["stations"] = tuple(data["stations"] or ())
    data["station_names"] = dict(data["station_names"] or {})
    return ShipmentView(waybill_no=record["waybill_no"], **data)


async def load_shipment(conn: asyncpg.Connection, waybill_no: str) -> ShipmentView | None:
    record = await conn.fetchrow("SELECT * FROM shipments WHERE waybill_no = $1", waybill_no)
    return None if record is None else _view(record)


async def lock_shipment(conn: asyncpg.Connection, waybill_no: str) -> ShipmentView:
    """The view of a waybill, created empty if unseen, locked until the transaction ends."""
    record = await conn.fetchrow(
        "INSERT INTO shipments (waybill_no) VALUES ($1) ON CONFLICT DO NOTHING RETURNING *", waybill_no)
    if record is None:
        record = await conn.fetchrow("SELECT * FROM shipments WHERE waybill_no = $1 FOR UPDATE", waybill_no)
    assert record is not None  # inserted, or there to lock: shipments are never deleted
    return _view(record)


async def lock_stored_shipments(conn: asyncpg.Connection, waybills: Sequence[str]) -> dict[str, ShipmentView]:
    """The views of those of `waybills` that are stored, locked in waybill order until the
    transaction ends; the others are absent (see `insert_shipments`).

    Prepared afresh each time, so PostgreSQL plans it for this array and the table as it is now.
    A cached statement gets a generic plan after five runs, and one made while the table was
    still small (a fresh install, the bench's first groups) is a sequential scan that stays
    cached as the table grows: at 15,000 rows each group's lookup took 5 ms instead of 0.1."""
    if not waybills:
        return {}
    stmt = await conn.prepare("SELECT * FROM shipments WHERE waybill_no = ANY($1::text[]) "
                              "ORDER BY waybill_no FOR UPDATE")
    rows = await stmt.fetch(sorted(waybills))
    return {r["waybill_no"]: _view(r) for r in rows}


class ShipmentStoredMeanwhile(RuntimeError):
    """A view `insert_shipments` was to create was stored by another transaction after this one
    found it absent: the caller's premise no longer holds, so its transaction must roll back (the
    consumer then handles the group's events one by one, through `lock_shipment`)."""


def _view_data(view: ShipmentView) -> dict[str, Any]:
    """The view's columns as the database takes them (a shallow read: `asdict` would deep-copy)."""
    data = {c: getattr(view, c) for c in _VIEW_COLUMNS}
    data["via"] = list(view.via)
    data["stations"] = list(view.stations)
    return data


async def save_shipment(conn: asyncpg.Connection, view: ShipmentView) -> None:
    await save_shipments(conn, [view])


# The SQL types of the view's columns, for saving many views from one JSON array.
_VIEW_TYPES = {
    "customer_id": "text", "shipper": "jsonb", "origin": "text", "destination": "text",
    "destination_name": "text", "via": "text[]", "stations": "text[]", "station_names": "jsonb",
    "registered_at": "timestamptz", "promised_at": "timestamptz", "status": "text", "status_at": "timestamptz",
    "eta": "timestamptz", "eta_at": "timestamptz", "delayed": "boolean", "delay_minutes": "integer",
    "delay_reason": "text", "delay_at": "timestamptz", "position": "jsonb", "position_at": "timestamptz",
    "vehicle_id": "text", "vehicle_at": "timestamptz", "exception": "jsonb", "exception_at": "timestamptz",
}
# Many views as rows, from one JSON array of `_view_records` (the one source both statements read).
_VIEW_RECORDSET = (f"jsonb_to_recordset($1::jsonb) AS v(waybill_no text, "
                   f"{', '.join(f'{c} {_VIEW_TYPES[c]}' for c in _VIEW_COLUMNS)})")
_SAVE_SHIPMENTS = (
    f"UPDATE shipments s SET {', '.join(f'{c} = v.{c}' for c in _VIEW_COLUMNS)}, updated_at = now() "
    f"FROM {_VIEW_RECORDSET} WHERE s.waybill_no = v.waybill_no"
)
_INSERT_SHIPMENTS = (
    f"INSERT INTO shipments (waybill_no, {', '.join(_VIEW_COLUMNS)}) "
    f"SELECT v.waybill_no, {', '.join(f'v.{c}' for c in _VIEW_COLUMNS)} FROM {_VIEW_RECORDSET} "
    f"ON CONFLICT (waybill_no) DO NOTHING RETURNING waybill_no"
)


def _view_records(views: Sequence[ShipmentView]) -> list[dict[str, Any]]:
    """The views as `_VIEW_RECORDSET` reads them, in waybill order (the order their rows are locked in)."""
    return [{"waybill_no": v.waybill_no, **_view_data(v)} for v in sorted(views, key=lambda v: v.waybill_no)]


async def insert_shipments(conn: asyncpg.Connection, views: Sequence[ShipmentView]) -> None:
    """Store views of waybills this transaction found absent (`lock_stored_shipments`), whole, in
    one statement: one row version each, where `lock_shipment` then `save_shipment` write two (an
    empty row, then its update). Raises `ShipmentStoredMeanwhile` if one was stored meanwhile."""
    if not views:
        return
    rows = await conn.fetch(_INSERT_SHIPMENTS, _view_records(views))
    if len(rows) != len(views):
        taken = sorted({v.waybill_no for v in views} - {r["waybill_no"] for r in rows})
        raise ShipmentStoredMeanwhile(f"shipments stored by another transaction meanwhile: {taken[:5]}")


async def save_shipments(conn: asyncpg.Connection, views: Sequence[ShipmentView]) -> None:
    """`save_shipment` for several distinct waybills in one statement (the one statement both use)."""
    if not views:
        return
    await conn.execute(_SAVE_SHIPMENTS, _view_records(views))


# --- complaints ---------------------------------------------------------------------

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
        "ORDER BY opened_at, id LIMIT $2", now, limit, list(ACTIVE_STATUSES))
    return [r["id"] for r in rows]


async def list_complaints(conn: asyncpg.Connection, *, now: datetime, status: str | None, breached: bool | None,
                          customer_id: str | None, waybill_no: str | None, category: str | None,
                          station: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    f = Filters(now)
    f.equals("c.status", status)
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


async def report_rows(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[Row]:
    rows = await conn.fetch(
        "SELECT category, channel, opened_at, first_responded_at, resolved_at, first_response_due, resolution_due,"
        " first_response_breached, resolution_breached, csat_score FROM complaints "
        "WHERE opened_at >= $1 AND opened_at < $2", start, end)
    return [dict(r) for r in rows]


# --- calls --------------------------------------------------------------------------


async def insert_call(conn: asyncpg.Connection, call: Row) -> Row:
    columns = list(call)
    row = await conn.fetchrow(
        f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})"
        " RETURNING *", *(call[c] for c in columns))
    assert row is not None
    return dict(row)


async def lock_callback(conn: asyncpg.Connection, call_id: uuid.UUID) -> Row | None:
    """The call a returning call names, row-locked (two desks returning it at once queue here),
    with whether a call already settled it."""
    row = await conn.fetchrow(
        "SELECT c.id, c.outcome, EXISTS (SELECT 1 FROM calls r WHERE r.callback_of = c.id AND r.settles_callback) "
        "AS settled FROM calls c WHERE c.id = $1 FOR UPDATE", call_id)
    return None if row is None else dict(row)


async def callbacks_due(conn: asyncpg.Connection, *, now: datetime, due_before: datetime | None,
                        customer_id: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    """Callbacks still owed (promised, no settling call), soonest due first, keyset on (due, id)."""
    f = Filters()
    f.where("c.outcome = 'callback'")
    f.where("NOT EXISTS (SELECT 1 FROM calls r WHERE r.callback_of = c.id AND r.settles_callback)")
    f.equals("c.customer_id", customer_id)
    if due_before is not None:
        f.where(f"c.callback_due <= {f.param(due_before)}")
    if after is not None:
        f.where(f"(c.callback_due, c.id) > ({f.param(after[0])}, {f.param(after[1])})")
    rows = await conn.fetch(
        f"SELECT c.*, c.callback_due < {f.param(now)} AS overdue, "
        "(SELECT count(*) FROM calls a WHERE a.callback_of = c.id) AS attempts "
        f"FROM calls c {f.clause} ORDER BY c.callback_due, c.id LIMIT {f.param(limit)}", *f.args)
    return [dict(r) for r in rows]


async def list_calls(conn: asyncpg.Connection, *, customer_id: str | None, waybill_no: str | None,
                     outcome: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    f = Filters()
    f.equals("customer_id", customer_id)
    f.equals("waybill_no", waybill_no)
    f.equals("outcome", outcome)
    if after is not None:
        f.where(f"(called_at, id) < ({f.param(after[0])}, {f.param(after[1])})")
    rows = await conn.fetch(f"SELECT * FROM calls {f.clause} ORDER BY called_at DESC, id DESC LIMIT {f.param(limit)}",
                            *f.args)
    return [dict(r) for r in rows]
