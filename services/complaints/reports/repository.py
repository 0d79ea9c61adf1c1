"""SQL of the monthly report: the facts of the tickets opened in a month."""

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
