"""SQL of the notifier (asyncpg; the pool's search_path is the `notifier` schema)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.notifier.domain import ChannelPreferences, Language, Preferences, QuietHours
from shared.events import ShipmentRegistered
from shared.sql import Filters

DISPATCH_CHANNEL = "lcs_dispatch_notifier"
_LOCK_NAMESPACE = 0x6E0F1  # first key of the per-recipient advisory lock (throttle)
_WAYBILL_LOCK_NAMESPACE = 0x6E0F2  # first key of the per-waybill advisory lock (taken before recipients)
ACTIVE = ("queued", "deferred")

# --- shipments ----------------------------------------------------------------------------


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
                               pieces, promised_at, registered_at)
        SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
            waybill_no text, origin text, destination text, via text[], shipper jsonb, consignee jsonb,
            shipper_customer_id text, pieces integer, promised_at timestamptz, registered_at timestamptz)
        ON CONFLICT (waybill_no) DO UPDATE SET
            origin = EXCLUDED.origin, destination = EXCLUDED.destination, via = EXCLUDED.via,
            shipper = EXCLUDED.shipper, consignee = EXCLUDED.consignee,
            shipper_customer_id = EXCLUDED.shipper_customer_id, pieces = EXCLUDED.pieces,
            promised_at = EXCLUDED.promised_at, registered_at = EXCLUDED.registered_at, updated_at = now()
        WHERE shipments.registered_at <= EXCLUDED.registered_at
        """,
        [{"waybill_no": e.waybill_no, "origin": e.origin, "destination": e.destination, "via": list(e.via),
          "shipper": e.shipper.model_dump(mode="json"), "consignee": e.consignee.model_dump(mode="json"),
          "shipper_customer_id": e.shipper.customer_id, "pieces": e.cargo.pieces, "promised_at": e.promised_at,
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


async def set_arrived(conn: asyncpg.Connection, waybill_no: str, arrived_at: datetime) -> None:
    await conn.execute("UPDATE shipments SET arrived_at = $2, updated_at = now() WHERE waybill_no = $1",
                       waybill_no, arrived_at)


async def set_delivered(conn: asyncpg.Connection, waybill_no: str, delivered_at: datetime) -> None:
    await conn.execute("UPDATE shipments SET delivered_at = $2, updated_at = now() WHERE waybill_no = $1",
                       waybill_no, delivered_at)


async def shipments_of_customer(conn: asyncpg.Connection, customer_id: str, since: datetime) -> list[asyncpg.Record]:
    """A key customer's shipments that can be on a report for a day starting at `since`."""
    return list(await conn.fetch(
        "SELECT * FROM shipments WHERE shipper_customer_id = $1 AND (arrived_at IS NULL OR arrived_at >= $2) "
        "ORDER BY waybill_no LIMIT 5000", customer_id, since))


# --- parked events (shipment not registered yet) --------------------------------------------


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


# --- recipients (preferences) -------------------------------------------------------------


def preferences_of(row: asyncpg.Record) -> Preferences:
    return Preferences(
        name=row["name"], phone=row["phone"], email=row["email"], language=Language(row["language"]),
        channels=ChannelPreferences(sms=row["sms_enabled"], email=row["email_enabled"]),
        quiet_hours=QuietHours(start=row["quiet_start"], end=row["quiet_end"], tz=row["quiet_tz"]),
    )


async def preferences(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, Preferences]:
    ids = sorted({c for c in customer_ids if c})
    if not ids:
        return {}
    rows = await conn.fetch("SELECT * FROM recipients WHERE customer_id = ANY($1::text[])", ids)
    return {r["customer_id"]: preferences_of(r) for r in rows}


async def put_recipient(conn: asyncpg.Connection, customer_id: str, values: dict[str, Any],
                        actor: str) -> tuple[asyncpg.Record, bool]:
    row = await conn.fetchrow(
        """
        INSERT INTO recipients AS r (customer_id, name, phone, email, language, sms_enabled, email_enabled,
                                     quiet_start, quiet_end, quiet_tz, key_customer, updated_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (customer_id) DO UPDATE SET
            name = EXCLUDED.name, phone = EXCLUDED.phone, email = EXCLUDED.email, language = EXCLUDED.language,
            sms_enabled = EXCLUDED.sms_enabled, email_enabled = EXCLUDED.email_enabled,
            quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end, quiet_tz = EXCLUDED.quiet_tz,
            key_customer = EXCLUDED.key_customer, updated_by = EXCLUDED.updated_by, updated_at = now()
        RETURNING *, (xmax = 0) AS created
        """,
        customer_id, values["name"], values["phone"], values["email"], values["language"], values["sms"],
        values["email_enabled"], values["quiet_start"], values["quiet_end"], values["quiet_tz"],
        values["key_customer"], actor,
    )
    assert row is not None
    return row, bool(row["created"])


async def get_recipient(conn: asyncpg.Connection | asyncpg.Pool, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM recipients WHERE customer_id = $1", customer_id)


async def key_customers(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM recipients WHERE key_customer ORDER BY customer_id"))


# --- notifications --------------------------------------------------------------------------


async def lock_recipient(conn: asyncpg.Connection, recipient_key: str) -> None:
    """Serialise decisions per recipient, so two events (or replicas) cannot both pass the throttle."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_NAMESPACE, recipient_key)


async def count_recent(conn: asyncpg.Connection, recipient_key: str, now: datetime) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM notifications WHERE recipient_key = $1 AND status IN ('queued', 'deferred', 'sent') "
        "AND decided_at > $2::timestamptz - interval '1 hour' AND decided_at <= $2::timestamptz", recipient_key, now)
    return n


async def insert_notification(conn: asyncpg.Connection, row: dict[str, Any]) -> bool:
    """Insert unless the idempotency key exists; True when this call created the row."""
    columns = list(row)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    created = await conn.fetchval(
        f"INSERT INTO notifications ({', '.join(columns)}) VALUES ({placeholders}) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING true", *row.values())
    return bool(created)


async def wake_dispatcher(conn: asyncpg.Connection) -> None:
    # Delivered at commit only: the dispatcher never sees an uncommitted row.
    await conn.execute("SELECT pg_notify($1, '')", DISPATCH_CHANNEL)


async def claim_due(conn: asyncpg.Connection, now: datetime, waybill_no: str | None = None) -> asyncpg.Record | None:
    """One due row, locked for this transaction; rows locked by other workers are skipped."""
    return await conn.fetchrow(
        "SELECT * FROM notifications WHERE status IN ('queued', 'deferred') AND next_attempt_at <= $1 "
        "AND ($2::text IS NULL OR waybill_no = $2) "
        "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED", now, waybill_no)


async def next_due_at(conn: asyncpg.Connection | asyncpg.Pool) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        "SELECT min(next_attempt_at) FROM notifications WHERE status IN ('queued', 'deferred')")
    return value


async def record_attempts(conn: asyncpg.Connection, notification_id: uuid.UUID, attempt: int,
                          calls: Sequence[tuple[str, str, str | None, int]]) -> None:
    await conn.executemany(
        "INSERT INTO delivery_attempts (notification_id, attempt, provider, outcome, error, duration_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(notification_id, attempt, p, o, e, ms) for p, o, e, ms in calls])


async def mark_sent(conn: asyncpg.Connection, nid: uuid.UUID, *, attempts: int, provider: str,
                    provider_message_id: str | None, sent_at: datetime) -> None:
    await conn.execute(
        "UPDATE notifications SET status = 'sent', attempts = $2, provider = $3, provider_message_id = $4, "
        "sent_at = $5, reason = NULL, updated_at = now() WHERE id = $1",
        nid, attempts, provider, provider_message_id, sent_at)


async def mark_retry(conn: asyncpg.Connection, nid: uuid.UUID, *, attempts: int, provider: str, error: str,
                     status: str, reason: str | None, next_attempt_at: datetime) -> None:
    await conn.execute(
        "UPDATE notifications SET status = $5, reason = $6, attempts = $2, provider = $3, last_error = $4, "
        "next_attempt_at = $7, updated_at = now() WHERE id = $1",
        nid, attempts, provider, error, status, reason, next_attempt_at)


async def mark_failed(conn: asyncpg.Connection, nid: uuid.UUID, *, attempts: int, provider: str,
                      error: str) -> None:
    await conn.execute(
        "UPDATE notifications SET status = 'failed', attempts = $2, provider = $3, last_error = $4, "
        "updated_at = now() WHERE id = $1", nid, attempts, provider, error)


def _scope(f: Filters, branch: str | None) -> None:
    """A branch sees notifications of shipments that touch its station."""
    if branch is not None:
        p = f.param(branch)
        f.where(f"EXISTS (SELECT 1 FROM shipments s WHERE s.waybill_no = n.waybill_no "
                f"AND (s.origin = {p} OR s.destination = {p} OR {p} = ANY(s.via)))")


async def list_notifications(conn: asyncpg.Connection | asyncpg.Pool, *, waybill_no: str | None,
                             customer_id: str | None, status: str | None, channel: str | None,
                             branch: str | None, after: tuple[datetime, uuid.UUID] | None,
                             limit: int) -> list[asyncpg.Record]:
    f = Filters()
    for column, value in (("n.waybill_no", waybill_no), ("n.customer_id", customer_id), ("n.status", status),
                          ("n.channel", channel)):
        f.equals(column, value)
    if after is not None:
        f.where(f"(n.created_at, n.id) < ({f.param(after[0])}, {f.param(after[1])})")
    _scope(f, branch)
    return list(await conn.fetch(
        f"SELECT n.* FROM notifications n {f.clause} ORDER BY n.created_at DESC, n.id DESC LIMIT {f.param(limit)}",
        *f.args))


async def get_notification(conn: asyncpg.Connection | asyncpg.Pool, nid: uuid.UUID,
                           branch: str | None) -> asyncpg.Record | None:
    f = Filters()
    f.equals("n.id", nid)
    _scope(f, branch)
    return await conn.fetchrow(f"SELECT n.* FROM notifications n {f.clause}", *f.args)


async def attempts_of(conn: asyncpg.Connection | asyncpg.Pool, nid: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM delivery_attempts WHERE notification_id = $1 ORDER BY id", nid))
