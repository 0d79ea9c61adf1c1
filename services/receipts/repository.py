"""SQL of the receipts schema, one section per table family. No business rules here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.receipts.domain import CustodyEntry
from shared.sql import Filters

# Not back at the origin and not cancelled: the statuses the chase and `overdue` look at.
CHASED_STATUSES: tuple[str, ...] = ("awaiting_delivery", "signed", "abnormal", "qualified", "mailed", "lost")

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
    "envelope_id, courier_no, chase_done, created_at, updated_at"
)

_INSERTABLE = (
    "waybill_no", "status", "required", "req_signature", "req_stamp", "req_id_number", "req_copies", "payment",
    "origin", "destination", "via", "transfers", "origin_region", "destination_region", "region",
    "station_contact", "registered_at",
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
) -> list[asyncpg.Record]:
    """Keyset page ordered by waybill_no; ``branch`` restricts to receipts touching that station."""
    f = Filters()
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


# --------------------------------------------------------------------------- envelopes


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


# --------------------------------------------------------------------------- chasing


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


# --------------------------------------------------------------------------- month end


async def report_facts(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT waybill_no, region, status, required, due_at, returned_at, abnormal_at, lost_at "
        "FROM receipts WHERE due_at >= $1 AND due_at < $2 AND required AND status <> 'cancelled'",
        start, end,
    )
    return rows
