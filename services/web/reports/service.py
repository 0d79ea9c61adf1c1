"""The desk's reports, read from the backends' public reports as the signed-in person.

One signature style: `async def load(rt, caller, params) -> Loaded`. A report (or a column)
whose backend route the deployed backend does not publish in its OpenAPI is said to be
unavailable rather than guessed (see docs/services/web-backend-needs.md).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from services.web.backends.client import BackendDown, BackendError, Caller
from services.web.context import WebRuntime
from services.web.desk import service, views
from services.web.domain.appointments import storage_rows
from services.web.domain.daywork import merge_daily_work, person_of
from services.web.people import repository
from services.web.reports.models import (
    COMPLAINTS_MONTH_COLUMNS,
    DAILY_VOLUME_COLUMNS,
    DAILY_WORK_COLUMNS,
    EXCEPTION_COLUMNS,
    IN_TRANSIT_COLUMNS,
    RECEIPTS_MONTH_COLUMNS,
    STORAGE_COLUMNS,
    VOLUME_MEASURES,
    VOLUME_STAGES,
    Loaded,
    Report,
)
from shared.clock import BUSINESS_TZ, day_start, utcnow
from shared.errors import Invalid

DAILY_WORK_ROUTE = "/v1/reports/complaints/daily-work"
NOTES_ROUTE = "/v1/reports/notes"
DAILY_VOLUME_ROUTE = "/v1/reports/daily-volume"
STORAGE_ROUTE = "/v1/reports/storage"


def today() -> date:
    return utcnow().astimezone(BUSINESS_TZ).date()


def month_param(params: dict[str, str]) -> str:
    month = params.get("month") or today().strftime("%Y-%m")
    try:
        date.fromisoformat(month + "-01")
    except ValueError as exc:
        raise Invalid("invalid_month", "month: YYYY-MM") from exc
    return month


def day_param(params: dict[str, str]) -> date:
    try:
        return date.fromisoformat(params.get("date") or today().isoformat())
    except ValueError as exc:
        raise Invalid("invalid_date", "date: YYYY-MM-DD") from exc


def range_param(params: dict[str, str]) -> tuple[str, str]:
    try:
        start = date.fromisoformat(params.get("from") or str(today() - timedelta(days=6)))
        end = date.fromisoformat(params.get("to") or str(today()))
    except ValueError as exc:
        raise Invalid("invalid_date", "from/to: YYYY-MM-DD") from exc
    return day_start(start).isoformat(), day_start(end + timedelta(days=1)).isoformat()


def unsupported(backend: str, route: str) -> BackendError:
    return BackendError(backend, 405, "unsupported", f"GET {route} is not available in {backend}")


async def in_transit(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> Loaded:
    return Loaded(views.in_transit_rows(await service.in_transit(rt, caller=caller), {}))


async def exceptions(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> Loaded:
    start, end = range_param(params)
    report = await rt.context.backends.tracking.get(caller, "/v1/reports/exceptions", {"from": start, "to": end})
    return Loaded(list(report.get("rows", [])))


async def receipts_month(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> Loaded:
    report = await rt.context.backends.receipts.get(caller, "/v1/reports/receipts/monthly",
                                                    {"month": month_param(params)})
    return Loaded([*report.get("regions", []), {**report.get("totals", {}), "region": "合计 total"}])


async def complaints_month(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> Loaded:
    r = await rt.context.backends.complaints.get(caller, "/v1/reports/complaints", {"month": month_param(params)})
    rows = [{"measure": f"category:{k}", "value": v} for k, v in sorted(r.get("by_category", {}).items())]
    rows += [{"measure": f"channel:{k}", "value": v} for k, v in sorted(r.get("by_channel", {}).items())]
    for key in ("total", "median_first_response_minutes", "median_resolution_minutes", "csat_average", "csat_count"):
        rows.append({"measure": key, "value": r.get(key)})
    for sla in ("first_response", "resolution"):
        for k, v in (r.get(sla) or {}).items():
            rows.append({"measure": f"{sla}:{k}", "value": v})
    return Loaded(rows)


async def _notes_by_person(rt: WebRuntime, caller: Caller, day: date) -> tuple[dict[str, int] | None, str | None]:
    """Tracking notes written per person that day, or why not: tracking has no such report
    yet (reading every waybill's notes would cost a call per waybill), or it is down."""
    tracking = rt.context.backends.tracking
    if not await rt.context.capabilities.has_param(tracking, "get", NOTES_ROUTE, "date"):
        return None, "missing_notes"
    try:
        report = await tracking.get(caller, NOTES_ROUTE, {"date": day.isoformat()})
    except BackendDown:
        return None, "missing_notes_down"
    except BackendError:
        return None, "missing_notes_refused"
    counts: dict[str, int] = {}
    for row in report.get("rows", []):
        who = person_of(str(row.get("actor") or ""))
        if who:
            counts[who] = counts.get(who, 0) + int(row.get("notes") or 0)
    return counts, None


async def daily_work(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> Loaded:
    """当日工作报表: complaints' day's work per person, with tracking's notes per person when
    tracking reports them, each person named as the desk knows them."""
    day = day_param(params)
    complaints = rt.context.backends.complaints
    if not await rt.context.capabilities.has_param(complaints, "get", DAILY_WORK_ROUTE, "date"):
        raise unsupported("complaints", DAILY_WORK_ROUTE)
    work, (notes, missing) = await asyncio.gather(
        complaints.get(caller, DAILY_WORK_ROUTE, {"date": day.isoformat()}), _notes_by_person(rt, caller, day))
    people_seen = {p["person"] for p in work.get("people", [])} | set(notes or {})
    names = await repository.display_names(rt.pool, sorted(people_seen))
    rows = merge_daily_work(work.get("people", []), notes, names)
    return Loaded(rows, [missing] if missing else [])


async def daily_volume(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> Loaded:
    """每天的货量 per station from tracking's `GET /v1/reports/daily-volume`, once it has it."""
    day = day_param(params)
    tracking = rt.context.backends.tracking
    if not await rt.context.capabilities.has_param(tracking, "get", DAILY_VOLUME_ROUTE, "date"):
        raise unsupported("tracking", DAILY_VOLUME_ROUTE)
    report = await tracking.get(caller, DAILY_VOLUME_ROUTE, {"date": day.isoformat(),
                                                             "station": params.get("station") or None})
    rows: list[dict[str, Any]] = []
    for r in report.get("rows", []):
        flat: dict[str, Any] = {"station": r.get("station")}
        for stage, _ in VOLUME_STAGES:
            for key, _title, _kind in VOLUME_MEASURES:
                flat[f"{stage}_{key}"] = (r.get(stage) or {}).get(key)
        rows.append(flat)
    return Loaded(rows)


async def storage(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> Loaded:
    """货物暂存报表 from tracking's `GET /v1/reports/storage`, narrowed by station and customer."""
    tracking = rt.context.backends.tracking
    if not await rt.context.capabilities.has_param(tracking, "get", STORAGE_ROUTE, "station"):
        raise unsupported("tracking", STORAGE_ROUTE)
    station = (params.get("station") or "").strip().upper() or None
    customer = (params.get("customer_id") or "").strip() or None
    return Loaded(storage_rows(await tracking.get(caller, STORAGE_ROUTE,
                                                  {"station": station, "customer_id": customer})))


REPORTS: dict[str, Report] = {r.name: r for r in (
    Report("daily-work", "complaints", DAILY_WORK_COLUMNS, daily_work, "day"),
    Report("daily-volume", "tracking", DAILY_VOLUME_COLUMNS, daily_volume, "day"),
    Report("in-transit", "tracking", IN_TRANSIT_COLUMNS, in_transit, "now"),
    Report("storage", "tracking", STORAGE_COLUMNS, storage, "stock"),
    Report("exceptions", "tracking", EXCEPTION_COLUMNS, exceptions, "range"),
    Report("receipts-month", "receipts", RECEIPTS_MONTH_COLUMNS, receipts_month, "month"),
    Report("complaints-month", "complaints", COMPLAINTS_MONTH_COLUMNS, complaints_month, "month"),
)}
