"""SQL of the receipts themselves: the shipment facts tracking reported, the receipt rows,
and the insert-only custody chain. No business rules here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.receipts.domain.custody import CustodyEntry
from services.receipts.domain.overdue import CHASED_STATUSES
from shared.sql import Filters

# --------------------------------------------------------------------------- shipment facts

_FACTS_COLUMNS = "waybill_no, registered_at, receipt_required, final_arrived_at, delivered_at, delivery_note"


async def upsert_registration_fact(conn: asyncpg.Connection, waybill_no: str, *, registered_at: datetime,
                                   receipt_required: bool) -> asyncpg.Record:
    """Record the registration (first one wins) and lock the waybill's facts row until commit."""
    return (await upsert_registration_facts(conn, [(waybill_no, registered_at, receipt_required)]))[waybill_no]


async def upsert_registration_facts(conn: asyncpg.Connection, registrations: Sequence[tuple[str, datetime, bool]],
                                    ) -> dict[str, asyncpg.Record]:
    """`upsert_registration_fact` for many waybills `(waybill_no, registered_at, receipt_required)`
    in one statement (the one statement both use), by waybill. The waybills must be distinct (one row cannot be upserted
    twice in one statement); they are locked in waybill order."""
    if not registrations:
        return {}
    ordered = sorted(registrations)
    rows = await conn.fetch(
        f"INSERT INTO shipment_facts (waybill_no, registered_at, receipt_required) "
        f"SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::boolean[]) "
        f"ON CONFLICT (waybill_no) DO UPDATE SET "
        f"  registered_at = COALESCE(shipment_facts.registered_at, EXCLUDED.registered_at), "
        f"  receipt_required = COALESCE(shipment_facts.receipt_required, EXCLUDED.receipt_required), "
        f"  updated_at = now() "
        f"RETURNING {_FACTS_COLUMNS}",
        [r[0] for r in ordered], [r[1] for r in ordered], [r[2] for r in ordered],
    )
    return {row["waybill_no"]: row for row in rows}


async def upsert_final_arrival(conn: asyncpg.Connection, waybill_no: str, arrived_at: datetime) -> asyncpg.Record:
    """Keep the latest final arrival (GREATEST ignores NULL); locks the facts row until commit."""
    row = await conn.fetchrow(
        f"INSERT INTO shipment_facts (waybill_no, final_arrived_at) VALUES ($1, $2) "
        f"ON CONFLICT (waybill_no) DO UPDATE SET "
        f"  final_arrived_at = GREATEST(shipment_facts.final_arrived_at, EXCLUDED.final_arrived_at), "
        f"  updated_at = now() "
        f"RETURNING {_FACTS_COLUMNS}",
        waybill_no, arrived_at,
    )
    assert row is not None
    return row


async def upsert_delivery(conn: asyncpg.Connection, waybill_no: str, delivered_at: datetime,
                          note: str) -> asyncpg.Record:
    """Keep the earliest delivery (LEAST ignores NULL); locks the facts row until commit."""
    row = await conn.fetchrow(
        f"INSERT INTO shipment_facts (waybill_no, delivered_at, delivery_note) VALUES ($1, $2, $3) "
        f"ON CONFLICT (waybill_no) DO UPDATE SET "
        f"  delivery_note = CASE WHEN shipment_facts.delivered_at IS NULL "
        f"                         OR EXCLUDED.delivered_at < shipment_facts.delivered_at "
        f"                       THEN EXCLUDED.delivery_note ELSE shipment_facts.delivery_note END, "
        f"  delivered_at = LEAST(shipment_facts.delivered_at, EXCLUDED.delivered_at), "
        f"  updated_at = now() "
        f"RETURNING {_FACTS_COLUMNS}",
        waybill_no, delivered_at, note,
    )
    assert row is not None
    return row


# --------------------------------------------------------------------------- receipts

_RECEIPT_COLUMNS = (
    "waybill_no, status, required, req_signature, req_stamp, req_id_number, req_copies, payment, origin, "
    "destination, via, transfers, origin_region, destination_region, region, station_contact, registered_at, "
    "arrived_at, delivered_at, due_at, final_due_at, anomalies, abnormal_at, returned_at, lost_at, "
    "envelope_id, courier_no, chase_done, customer_id, created_at, updated_at"
)

_INSERTABLE = (
    "waybill_no", "status", "required", "req_signature", "req_stamp", "req_id_number", "req_copies", "payment",
    "origin", "destination", "via", "transfers", "origin_region", "destination_region", "region",
    "station_contact", "registered_at", "customer_id",
)

# Columns a use case may change; custody is a separate, insert-only table.
_UPDATABLE = frozenset({
    "status", "arrived_at", "delivered_at", "due_at", "final_due_at", "anomalies", "abnormal_at",
    "returned_at", "lost_at", "envelope_id", "courier_no", "chase_done",
})


# The SQL types of `_INSERTABLE`, for inserting many rows from one JSON array.
_INSERTABLE_TYPES = {
    "waybill_no": "text", "status": "text", "required": "boolean", "req_signature": "boolean",
    "req_stamp": "boolean", "req_id_number": "boolean", "req_copies": "integer", "payment": "text",
    "origin": "text", "destination": "text", "via": "text[]", "transfers": "integer", "origin_region": "text",
    "destination_region": "text", "region": "text", "station_contact": "jsonb", "registered_at": "timestamptz",
    "customer_id": "text",
}
_INSERT_RECEIPTS = (
    f"INSERT INTO receipts ({', '.join(_INSERTABLE)}) SELECT {', '.join(_INSERTABLE)} "
    f"FROM jsonb_to_recordset($1::jsonb) AS r({', '.join(f'{c} {_INSERTABLE_TYPES[c]}' for c in _INSERTABLE)}) "
    f"ON CONFLICT (waybill_no) DO NOTHING RETURNING waybill_no"
)


async def insert_receipt(conn: asyncpg.Connection, values: Mapping[str, Any]) -> bool:
    """Create the receipt (every insertable column given) unless it exists (a repeated
    registration); True if created."""
    return values["waybill_no"] in await insert_receipts(conn, [values])


async def insert_receipts(conn: asyncpg.Connection, receipts: Sequence[Mapping[str, Any]]) -> set[str]:
    """`insert_receipt` for many receipts (every insertable column given) in one statement; the
    waybills created (the others existed)."""
    if not receipts:
        return set()
    for values in receipts:
        if len(values) != len(_INSERTABLE) or any(c not in values for c in _INSERTABLE):
            raise ValueError(f"insert_receipts needs exactly the columns {_INSERTABLE}")
    rows = await conn.fetch(_INSERT_RECEIPTS, sorted(receipts, key=lambda v: str(v["waybill_no"])))
    return {row["waybill_no"] for row in rows}


async def get_receipt(conn: asyncpg.Connection, waybill_no: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_RECEIPT_COLUMNS} FROM receipts WHERE waybill_no = $1{lock}", waybill_no)
    return row


async def get_receipts_for_update(conn: asyncpg.Connection, waybills: Sequence[str]) -> list[asyncpg.Record]:
    """Lock several receipts in waybill order (one order everywhere: no deadlocks)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_RECEIPT_COLUMNS} FROM receipts WHERE waybill_no = ANY($1::text[]) "
        f"ORDER BY waybill_no FOR UPDATE",
        list(waybills),
    )
    return rows


async def update_receipt(conn: asyncpg.Connection, waybill_no: str, changes: Mapping[str, Any]) -> None:
    if not changes:
        return
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    cols = sorted(changes)
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, start=2))
    await conn.execute(f"UPDATE receipts SET {sets}, updated_at = now() WHERE waybill_no = $1",
                       waybill_no, *(changes[c] for c in cols))


async def list_receipts(
    conn: asyncpg.Connection,
    *,
    status: str | None,
    overdue: bool | None,
    as_of: datetime,
    station: str | None,
    region: str | None,
    branch: str | None,
    after: str | None,
    limit: int,
    customer: str | None = None,
) -> list[asyncpg.Record]:
    """Keyset page ordered by waybill_no; ``branch`` restricts to receipts touching that station,
    ``customer`` to one customer's receipts."""
    f = Filters()
    f.equals("customer_id", customer)
    f.equals("status", status)
    for code in (station, branch):
        if code is not None:
            p = f.param(code)
            f.where(f"(origin = {p} OR destination = {p})")
    f.equals("region", region)
    if overdue is not None:
        late = (f"(status = ANY({f.param(list(CHASED_STATUSES))}::text[]) AND due_at IS NOT NULL "
                f"AND due_at <= {f.param(as_of)})")
        f.where(late if overdue else f"NOT {late}")
    if after is not None:
        f.where(f"waybill_no > {f.param(after)}")
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_RECEIPT_COLUMNS} FROM receipts {f.clause} ORDER BY waybill_no LIMIT {f.param(limit)}", *f.args)
    return rows


# --------------------------------------------------------------------------- custody (insert only)


async def append_custody(conn: asyncpg.Connection, waybill_no: str, entry: CustodyEntry,
                         *, envelope_id: uuid.UUID | None = None) -> None:
    await conn.execute(
        "INSERT INTO custody (waybill_no, at, action, actor, from_party, to_party, note, envelope_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        waybill_no, entry.at, entry.action.value, entry.actor, entry.from_party, entry.to_party, entry.note,
        envelope_id,
    )


async def custody_of(conn: asyncpg.Connection, waybill_no: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT at, action, actor, from_party, to_party, note, envelope_id, recorded_at "
        "FROM custody WHERE waybill_no = $1 ORDER BY id", waybill_no)
    return rows
