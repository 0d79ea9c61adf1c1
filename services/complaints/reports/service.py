"""Use case of the monthly complaints report."""

from __future__ import annotations

from datetime import datetime

from services.complaints.context import ComplaintsRuntime
from services.complaints.domain.hours import parse_month
from services.complaints.domain.reports import ComplaintsReport, TicketFacts, monthly_report
from services.complaints.domain.vocabulary import Category, Channel
from services.complaints.reports import repository
from shared.clock import utcnow


async def complaints_report(rt: ComplaintsRuntime, *, month: str, as_of: datetime | None) -> ComplaintsReport:
    """The tickets opened in `month` (YYYY-MM, desk timezone; 422 `invalid_month`), their SLAs
    judged at `as_of` (now by default)."""
    parsed = parse_month(month)
    tz = rt.settings.desk_tz
    async with rt.pool.acquire() as conn:
        rows = await repository.report_rows(conn, parsed.starts_at(tz), parsed.ends_at(tz))
    facts = [TicketFacts(
        category=Category(r["category"]), channel=Channel(r["channel"]), opened_at=r["opened_at"],
        first_response_at=r["first_responded_at"], resolved_at=r["resolved_at"],
        first_response_due=r["first_response_due"], resolution_due=r["resolution_due"],
        first_response_breached=r["first_response_breached"], resolution_breached=r["resolution_breached"],
        csat_score=r["csat_score"]) for r in rows]
    return monthly_report(facts, parsed, as_of=as_of or utcnow(), tz=tz)
