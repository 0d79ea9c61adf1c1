"""SQL of delivery: the dispatcher's wake-up, its claim on due rows, the attempt audit and the
outcome of each send."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

DISPATCH_CHANNEL = "lcs_dispatch_notifier"


async def wake_dispatcher(conn: asyncpg.Connection) -> None:
    # Delivered at commit only: the dispatcher never sees an uncommitted row.
    await conn.execute("SELECT pg_notify($1, '')", DISPATCH_CHANNEL)


async def claim_due(conn: asyncpg.Connection, now: datetime, waybill_no: str | None = None) -> asyncpg.Record | None:
    """One due row, locked for this transaction; rows locked by other workers are skipped. A
    message held by the throttle is never due on its own: its summary is (`waybill_no` also
    takes a summary that carries a message of that waybill)."""
    return await conn.fetchrow(
        "SELECT * FROM notifications WHERE status IN ('queued', 'deferred') AND rolled_into IS NULL "
        "AND next_attempt_at <= $1 AND ($2::text IS NULL OR waybill_no = $2 OR id IN "
        "(SELECT m.rolled_into FROM notifications m WHERE m.waybill_no = $2 AND m.rolled_into IS NOT NULL)) "
        "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED", now, waybill_no)


async def next_due_at(conn: asyncpg.Connection | asyncpg.Pool) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        "SELECT min(next_attempt_at) FROM notifications WHERE status IN ('queued', 'deferred') "
        "AND rolled_into IS NULL")
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
