"""SQL of throttle summaries: the recipient's open summary, its held messages (`rolled_into`),
and the held messages following their summary's outcome."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.notifier.domain.summaries import SUMMARY_TEMPLATE


async def open_summary(conn: asyncpg.Connection, recipient_key: str) -> asyncpg.Record | None:
    """The recipient's summary that nothing has been tried for yet, locked until commit. The
    dispatcher holds a summary's lock while it sends it: this then waits for the outcome and
    finds the summary closed (tried), so a held message never joins one already on the wire."""
    return await conn.fetchrow(
        "SELECT id, decided_at FROM notifications WHERE recipient_key = $1 AND template = $2 AND attempts = 0 "
        "AND status IN ('queued', 'deferred') ORDER BY decided_at, id LIMIT 1 FOR UPDATE",
        recipient_key, SUMMARY_TEMPLATE)


async def key_exists(conn: asyncpg.Connection, key: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM notifications WHERE idempotency_key = $1", key))


async def get_summary(conn: asyncpg.Connection, summary_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM notifications WHERE id = $1", summary_id)
    assert row is not None, summary_id
    return row


async def members_of(conn: asyncpg.Connection | asyncpg.Pool, summary_id: uuid.UUID) -> list[asyncpg.Record]:
    """The held messages of a summary, in the order they came."""
    return list(await conn.fetch(
        "SELECT id, event_id, event_type, waybill_no, template, status, urgent, summary_item, created_at "
        "FROM notifications WHERE rolled_into = $1 ORDER BY decided_at, created_at, id", summary_id))


async def update_summary(conn: asyncpg.Connection, summary_id: uuid.UUID, *, subject: str | None, text: str,
                         html: str | None, language: str, urgent: bool, quiet_hours: dict[str, Any],
                         status: str, reason: str | None, next_attempt_at: datetime,
                         last_error: str | None = None) -> None:
    """The summary rendered again (a held message joined it) and rescheduled."""
    await conn.execute(
        "UPDATE notifications SET subject = $2, body_text = $3, body_html = $4, language = $5, urgent = $6, "
        "quiet_hours = $7, status = $8, reason = $9, next_attempt_at = $10, last_error = $11, updated_at = now() "
        "WHERE id = $1",
        summary_id, subject, text, html, language, urgent, quiet_hours, status, reason, next_attempt_at, last_error)


async def follow(conn: asyncpg.Connection, summary_id: uuid.UUID, *, status: str,
                 next_attempt_at: datetime | None = None, provider: str | None = None,
                 sent_at: datetime | None = None, error: str | None = None) -> int:
    """The summary's held messages take its outcome (`deferred` while it is on its way, then
    `sent` or `failed`); returns how many there are."""
    result: str = await conn.execute(
        "UPDATE notifications SET status = $2, next_attempt_at = coalesce($3, next_attempt_at), "
        "provider = coalesce($4, provider), sent_at = coalesce($5, sent_at), last_error = coalesce($6, last_error), "
        "updated_at = now() WHERE rolled_into = $1",
        summary_id, status, next_attempt_at, provider, sent_at, error)
    return int(result.rsplit(" ", 1)[-1])


async def set_fallback(conn: asyncpg.Connection, summary_id: uuid.UUID, fallback: dict[str, Any]) -> None:
    """What a group summary's e-mail fallback says (rendered again with the summary)."""
    await conn.execute("UPDATE notifications SET fallback = $2 WHERE id = $1", summary_id, fallback)
