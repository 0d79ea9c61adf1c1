"""SQL of customer files (`customers`), return visits (`customer_visits`), and what a file
shows of the customer's shipments, complaints and calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.complaints.domain.care import CustomerSighting
from services.complaints.tickets.repository import ACTIVE

Row = dict[str, Any]


def _row(record: asyncpg.Record | None) -> Row | None:
    return None if record is None else dict(record)


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
        "FROM complaints WHERE customer_id = $1", customer_id, ACTIVE)
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
