"""SQL of the shipments the notifier knows (contacts, stations, the times the daily report
needs) and of the events parked until their shipment's registration."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.events import ShipmentRegistered

_WAYBILL_LOCK_NAMESPACE = 0x6E0F2  # first key of the per-waybill advisory lock (taken before recipients)


async def upsert_shipment(conn: asyncpg.Connection, e: ShipmentRegistered) -> None:
    """Store a registration's contacts and stations; an older registration never overwrites a newer one."""
    await upsert_shipments(conn, [e])


async def upsert_shipments(conn: asyncpg.Connection, registrations: Sequence[ShipmentRegistered]) -> None:
    """`upsert_shipment` for several distinct waybills in one statement (the one statement both use)."""
    if not registrations:
        return
    ordered = sorted(registrations, key=lambda e: e.waybill_no)
    await conn.execute(
        """
        INSERT INTO shipments (waybill_no, origin, destination, via, shipper, consignee, shipper_customer_id,
                               pieces, weight_kg, volume_m3, promised_at, registered_at)
        SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
            waybill_no text, origin text, destination text, via text[], shipper jsonb, consignee jsonb,
            shipper_customer_id text, pieces integer, weight_kg numeric, volume_m3 numeric,
            promised_at timestamptz, registered_at timestamptz)
        ON CONFLICT (waybill_no) DO UPDATE SET
            origin = EXCLUDED.origin, destination = EXCLUDED.destination, via = EXCLUDED.via,
            shipper = EXCLUDED.shipper, consignee = EXCLUDED.consignee,
            shipper_customer_id = EXCLUDED.shipper_customer_id, pieces = EXCLUDED.pieces,
            weight_kg = EXCLUDED.weight_kg, volume_m3 = EXCLUDED.volume_m3,
            promised_at = EXCLUDED.promised_at, registered_at = EXCLUDED.registered_at, updated_at = now()
        WHERE shipments.registered_at <= EXCLUDED.registered_at
        """,
        [{"waybill_no": e.waybill_no, "origin": e.origin, "destination": e.destination, "via": list(e.via),
          "shipper": e.shipper.model_dump(mode="json"), "consignee": e.consignee.model_dump(mode="json"),
          "shipper_customer_id": e.shipper.customer_id, "pieces": e.cargo.pieces, "weight_kg": e.cargo.weight_kg,
          "volume_m3": e.cargo.volume_m3, "promised_at": e.promised_at,
          "registered_at": e.registered_at} for e in ordered],
    )


async def lock_waybills(conn: asyncpg.Connection, waybills: Iterable[str]) -> None:
    """`lock_waybill` for several waybills in one statement (in waybill order)."""
    ordered = sorted(set(waybills))
    if ordered:
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext(w)) FROM unnest($2::text[]) AS u(w)",
                           _WAYBILL_LOCK_NAMESPACE, ordered)


async def lock_waybill(conn: asyncpg.Connection, waybill_no: str) -> None:
    """Serialise a waybill's registration and its other events (handled concurrently): without it
    an event could be parked just after the registration looked for parked events."""
    await lock_waybills(conn, [waybill_no])


async def get_shipment(conn: asyncpg.Connection, waybill_no: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM shipments WHERE waybill_no = $1", waybill_no)


async def set_eta(conn: asyncpg.Connection, waybill_no: str, eta: datetime, as_of: datetime,
                  promised_at: datetime | None = None) -> None:
    """Apply an ETA unless a newer one was applied already (events may come out of order)."""
    await conn.execute(
        "UPDATE shipments SET eta = $2, eta_as_of = $3, promised_at = coalesce($4, promised_at), updated_at = now() "
        "WHERE waybill_no = $1 AND (eta_as_of IS NULL OR eta_as_of <= $3)",
        waybill_no, eta, as_of, promised_at)


async def set_arrived(conn: asyncpg.Connection, waybill_no: str, arrived_at: datetime | None, *,
                      pieces_arrived: int, batch_at: datetime) -> None:
    """A batch at the destination: the pieces there so far (the most any scan said) and when the
    first came (storage starts then); `arrived_at` once every piece is in (the final batch)."""
    await conn.execute(
        "UPDATE shipments SET arrived_at = coalesce($2, arrived_at), pieces_arrived = greatest(pieces_arrived, $3), "
        "first_arrived_at = least(coalesce(first_arrived_at, $4), $4), updated_at = now() WHERE waybill_no = $1",
        waybill_no, arrived_at, pieces_arrived, batch_at)


async def set_appointment(conn: asyncpg.Connection, waybill_no: str, appointment: dict[str, Any],
                          as_of: datetime) -> bool:
    """The shipment's current delivery appointment, unless a newer booking was applied already
    (events may come out of order); True when this one is current."""
    current = await conn.fetchval(
        "UPDATE shipments SET appointment = $2, appointment_as_of = $3, updated_at = now() "
        "WHERE waybill_no = $1 AND (appointment_as_of IS NULL OR appointment_as_of <= $3) RETURNING true",
        waybill_no, appointment, as_of)
    return bool(current)


async def set_delivered(conn: asyncpg.Connection, waybill_no: str, delivered_at: datetime) -> None:
    await conn.execute("UPDATE shipments SET delivered_at = $2, updated_at = now() WHERE waybill_no = $1",
                       waybill_no, delivered_at)


async def shipments_of_customer(conn: asyncpg.Connection, customer_id: str, since: datetime) -> list[asyncpg.Record]:
    """A key customer's shipments that can be on a report for a day starting at `since`."""
    return list(await conn.fetch(
        "SELECT * FROM shipments WHERE shipper_customer_id = $1 AND (arrived_at IS NULL OR arrived_at >= $2) "
        "ORDER BY waybill_no LIMIT 5000", customer_id, since))


async def in_storage_of_customer(conn: asyncpg.Connection, customer_id: str, as_of: datetime,
                                 limit: int = 5000) -> list[asyncpg.Record]:
    """A key customer's shipments with goods at their destination station by `as_of`, not delivered."""
    return list(await conn.fetch(
        "SELECT * FROM shipments WHERE shipper_customer_id = $1 AND first_arrived_at IS NOT NULL "
        "AND first_arrived_at <= $2 AND (delivered_at IS NULL OR delivered_at > $2) "
        "ORDER BY first_arrived_at, waybill_no LIMIT $3", customer_id, as_of, limit))


async def park_event(conn: asyncpg.Connection, *, event_id: uuid.UUID, waybill_no: str, type_: str,
                     envelope: dict[str, Any], event_time: datetime) -> None:
    await conn.execute(
        "INSERT INTO parked_events (event_id, waybill_no, type, envelope, event_time) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (event_id) DO NOTHING", event_id, waybill_no, type_, envelope, event_time)


def _replay_order(row: asyncpg.Record) -> tuple[Any, ...]:
    """Parked events are replayed in event time order (ties: as parked, then by event id)."""
    return row["event_time"], row["parked_at"], row["event_id"]


async def take_parked(conn: asyncpg.Connection, waybill_no: str) -> list[asyncpg.Record]:
    return (await take_parked_of(conn, [waybill_no])).get(waybill_no, [])


async def take_parked_of(conn: asyncpg.Connection, waybills: Sequence[str]) -> dict[str, list[asyncpg.Record]]:
    """`take_parked` for several waybills in one statement: by waybill, those that had any."""
    if not waybills:
        return {}
    rows = await conn.fetch("DELETE FROM parked_events WHERE waybill_no = ANY($1::text[]) RETURNING *",
                            sorted(waybills))
    taken: dict[str, list[asyncpg.Record]] = {}
    for row in sorted(rows, key=_replay_order):
        taken.setdefault(row["waybill_no"], []).append(row)
    return taken


async def purge_parked(conn: asyncpg.Connection | asyncpg.Pool, hours: int) -> str:
    result: str = await conn.execute(
        "DELETE FROM parked_events WHERE parked_at < now() - make_interval(hours => $1)", hours)
    return result
