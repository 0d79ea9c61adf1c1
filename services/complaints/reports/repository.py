"""SQL of the reports: the tickets opened in a month; one day's calls and ticket steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

Row = dict[str, Any]


async def report_rows(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[Row]:
    rows = await conn.fetch(
        "SELECT category, channel, opened_at, first_responded_at, resolved_at, first_response_due, resolution_due,"
        " first_response_breached, resolution_breached, csat_score FROM complaints "
        "WHERE opened_at >= $1 AND opened_at < $2", start, end)
    return [dict(r) for r in rows]


async def calls_of_day(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[Row]:
    rows = await conn.fetch("SELECT recorded_by, topic, settles_callback FROM calls "
                            "WHERE called_at >= $1 AND called_at < $2", start, end)
    return [dict(r) for r in rows]


async def steps_of_day(conn: asyncpg.Connection, start: datetime, end: datetime, actions: list[str]) -> list[Row]:
    """The history entries of the day with the ticket facts the report judges them by."""
    rows = await conn.fetch(
        "SELECT h.actor, h.action, h.complaint_id, h.at, h.details, c.first_responded_at, c.first_response_due,"
        " c.resolution_breached FROM complaint_history h JOIN complaints c ON c.id = h.complaint_id "
        "WHERE h.at >= $1 AND h.at < $2 AND h.action = ANY($3::text[])", start, end, actions)
    return [dict(r) for r in rows]
