"""Use cases of the reports: the month's complaints, the day's work per desk member."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from services.complaints.context import ComplaintsRuntime
from services.complaints.domain.daily_work import CallFact, StepFact, daily_work, day_window, totals
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


DAILY_WORK_ACTIONS = ["open", "claim", "respond", "ask_customer", "resolve"]


async def daily_work_report(rt: ComplaintsRuntime, *, day: date) -> dict[str, Any]:
    """What each desk member did on `day` (desk timezone): calls, receipts chased, tickets
    opened, claimed, answered (first answers in time) and resolved (`domain.daily_work`)."""
    start, end = day_window(day, rt.settings.desk_tz)
    async with rt.pool.acquire() as conn:
        calls = await repository.calls_of_day(conn, start, end)
        steps = await repository.steps_of_day(conn, start, end, DAILY_WORK_ACTIONS)
    rows = daily_work(
        [CallFact(actor=c["recorded_by"], topic=c["topic"], settles_callback=c["settles_callback"]) for c in calls],
        [StepFact(actor=s["actor"], action=s["action"], complaint_id=str(s["complaint_id"]), at=s["at"],
                  details=s["details"] or {}, first_responded_at=s["first_responded_at"],
                  first_response_due=s["first_response_due"], resolution_breached=s["resolution_breached"])
         for s in steps])
    return {"date": day, "from": start, "to": end, "people": [r.to_dict() for r in rows], "totals": totals(rows)}
