"""The month-end report per region (the rules are `domain.reports`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from services.receipts.context import ReceiptsRuntime
from services.receipts.domain.lifecycle import ReceiptStatus
from services.receipts.domain.reports import ReceiptFact, monthly_report, parse_month, totals
from services.receipts.reports import repository
from shared.clock import utcnow


async def monthly(rt: ReceiptsRuntime, *, month: str, as_of: datetime | None) -> dict[str, Any]:
    """Per-region figures for receipts due in ``month``, a snapshot at ``as_of`` (default: month end or now)."""
    tz = rt.context.deadlines.business_tz
    start, end = parse_month(month, business_tz=tz)
    snapshot = as_of if as_of is not None else min(end, utcnow())
    async with rt.pool.acquire() as conn:
        records = await repository.report_facts(conn, start=start, end=end)
    facts = [ReceiptFact(waybill_no=r["waybill_no"], region=r["region"], status=ReceiptStatus(r["status"]),
                         due_at=r["due_at"], required=r["required"], returned_at=r["returned_at"],
                         abnormal_at=r["abnormal_at"], lost_at=r["lost_at"]) for r in records]
    rows = monthly_report(month, facts, as_of=snapshot, penalties=rt.context.penalties, business_tz=tz)
    return {"month": month, "as_of": snapshot, "currency": "CNY", "regions": [asdict(r) for r in rows],
            "totals": asdict(totals(rows))}
