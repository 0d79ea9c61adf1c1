"""SQL of the notifications (one row per event x channel x address) and their audit: the
throttle's window, the insert, the list and the detail, the desk's retries."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.sql import Filters

_LOCK_NAMESPACE = 0x6E0F1  # first key of the per-recipient advisory lock (throttle)


async def lock_recipient(conn: asyncpg.Connection, recipient_key: str) -> None:
    """Serialise decisions per recipient, so two events (or replicas) cannot both pass the throttle."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_NAMESPACE, recipient_key)


async def recent_slots(conn: asyncpg.Connection, recipient_key: str, now: datetime, *, window: timedelta,
                       limit: int) -> list[datetime]:
    """The throttle's view of a recipient: the latest `limit` places taken in the window up to
    `now` — a message sent or on its way at its decision time, a summary at the time it is due;
    a held message takes none (its summary does)."""
    rows = await conn.fetch(
        "SELECT decided_at FROM notifications WHERE recipient_key = $1 AND status IN ('queued', 'deferred', 'sent') "
        "AND rolled_into IS NULL AND decided_at > $2::timestamptz - $3::interval AND decided_at <= $2::timestamptz "
        "ORDER BY decided_at DESC LIMIT $4", recipient_key, now, window, limit)
    return [r["decided_at"] for r in rows]


async def insert_notification(conn: asyncpg.Connection, row: dict[str, Any]) -> bool:
    """Insert unless the idempotency key exists; True when this call created the row."""
    columns = list(row)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    created = await conn.fetchval(
        f"INSERT INTO notifications ({', '.join(columns)}) VALUES ({placeholders}) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING true", *row.values())
    return bool(created)


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


async def get_for_update(conn: asyncpg.Connection, nid: uuid.UUID) -> asyncpg.Record | None:
    """The notification, locked until commit (a row being sent stays locked by the dispatcher
    until its outcome commits, so this waits for that outcome)."""
    return await conn.fetchrow("SELECT * FROM notifications WHERE id = $1 FOR UPDATE", nid)


async def requeue(conn: asyncpg.Connection, nid: uuid.UUID, *, status: str, reason: str | None,
                  next_attempt_at: datetime) -> None:
    """Put a notification back in the dispatcher's queue; the retry limit counts from here."""
    await conn.execute(
        "UPDATE notifications SET status = $2, reason = $3, next_attempt_at = $4, attempts_before_retry = attempts, "
        "updated_at = now() WHERE id = $1", nid, status, reason, next_attempt_at)


async def record_retry(conn: asyncpg.Connection, nid: uuid.UUID, *, actor: str, from_status: str,
                       from_reason: str | None, attempts: int, last_error: str | None) -> None:
    await conn.execute(
        "INSERT INTO notification_retries (notification_id, actor, from_status, from_reason, attempts, last_error) "
        "VALUES ($1, $2, $3, $4, $5, $6)", nid, actor, from_status, from_reason, attempts, last_error)


async def retries_of(conn: asyncpg.Connection | asyncpg.Pool, nid: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM notification_retries WHERE notification_id = $1 ORDER BY id", nid))
