"""SQL of the month-end report: the facts of the receipts due in a month."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def report_facts(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT waybill_no, region, status, required, due_at, returned_at, abnormal_at, lost_at "
        "FROM receipts WHERE due_at >= $1 AND due_at < $2 AND required AND status <> 'cancelled'",
        start, end,
    )
    return rows
