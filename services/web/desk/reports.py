"""The 08:00 in-transit view and the desk's reports, each as HTML, CSV and XLSX.

A report is rows and typed columns (domain.sheets); the page shows them as a table and
`?format=csv|xlsx` downloads the same rows. Rows come from the backends' JSON reports,
read as the signed-in person.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.backends.client import Caller
from services.web.context import RuntimeDep, WebRuntime
from services.web.desk import service, views
from services.web.desk.parts import Part, part
from services.web.domain.sheets import XLSX_TYPE, Column, to_csv_bytes, to_xlsx_bytes
from services.web.people.api import PersonDep
from shared.clock import BUSINESS_TZ, day_start, utcnow
from shared.errors import Invalid, NotFound

router = APIRouter(include_in_schema=False)

IN_TRANSIT_COLUMNS = (
    Column("waybill_no", "运单号 waybill"), Column("vehicle_id", "车辆 vehicle"), Column("plate", "车牌 plate"),
    Column("driver_name", "司机 driver"), Column("driver_phone", "司机电话 driver phone"),
    Column("destination", "目的站 destination"), Column("region", "区域 region"),
    Column("last_fix_at", "最后定位 last fix (北京时间)", "time"),
    Column("fix_age_minutes", "定位时长(分) fix age min", "int"), Column("stale", "无信号 stale", "bool"),
    Column("lat", "纬度 lat", "float"), Column("lon", "经度 lon", "float"),
    Column("promised_at", "承诺时间 promised (北京时间)", "time"), Column("eta", "预计到达 ETA (北京时间)", "time"),
    Column("delayed", "延误 delayed", "bool"), Column("handling", "特殊要求 handling"),
)


def download(rows: list[dict[str, Any]], columns: tuple[Column, ...], name: str, fmt: str) -> Response:
    stamp = utcnow().astimezone(BUSINESS_TZ).strftime("%Y%m%d-%H%M")
    filename = f"{name}-{stamp}.{fmt}"
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    if fmt == "csv":
        return Response(to_csv_bytes(rows, columns), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition})
    return Response(to_xlsx_bytes(rows, columns, name), media_type=XLSX_TYPE,
                    headers={"Content-Disposition": disposition})


def _flag(value: str | None) -> bool:
    return value in ("1", "true", "on", "yes")


@router.get("/desk/in-transit")
async def in_transit(request: Request, rt: RuntimeDep, person: PersonDep, station: str = "", region: str = "",
                     delayed: str = "", special: str = "", format: str = "") -> Response:
    got = await service.parts({
        "report": ("tracking", service.in_transit(rt, caller=person.caller)),
        "stations": ("tracking", rt.context.backends.tracking.get(person.caller, "/v1/stations", {"limit": 500})),
    })
    report, stations = got["report"], got["stations"]
    by_code = {s["code"]: s for s in (stations.data.get("items", []) if stations.ok else [])}
    rows = views.in_transit_rows(report.data, by_code) if report.ok else []
    rows = views.filter_in_transit(rows, station=station.strip().upper() or None, region=region.strip() or None,
                                   delayed=_flag(delayed), special=_flag(special))
    if format in ("csv", "xlsx"):
        if not report.ok:
            return rt.context.templates.render(request, "error.html", status=503, person=person,
                                               code="unavailable", message=report.message)
        return download(rows, IN_TRANSIT_COLUMNS, "in-transit", format)
    vehicles = report.data.get("vehicles", []) if report.ok else []
    positions = [{"id": v["vehicle_id"], "label": v.get("plate") or v["vehicle_id"], "stale": v.get("stale"),
                  "lat": v["last_position"]["lat"], "lon": v["last_position"]["lon"]}
                 for v in vehicles if v.get("last_position")]
    import json
    map_data = json.dumps({"tiles": rt.settings.map_tile_url, "attribution": rt.settings.map_tile_attribution,
                           "vehicles": positions, "track": [], "position": None,
                           "stations": [{"code": s["code"], "name": s.get("name"), "lat": s["lat"], "lon": s["lon"]}
                                        for s in by_code.values()]}, ensure_ascii=False)
    regions = sorted({s.get("region") for s in by_code.values() if s.get("region")})
    return rt.context.templates.render(
        request, "desk/in_transit.html", person=person, report=report, rows=rows, map_data=map_data,
        stations=sorted(by_code), regions=regions,
        filters={"station": station, "region": region, "delayed": _flag(delayed), "special": _flag(special)},
        query=str(request.url.query))


# --- reports ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    name: str
    backend: str
    columns: tuple[Column, ...]
    load: Callable[[WebRuntime, Caller, dict[str, str]], Awaitable[list[dict[str, Any]]]]
    period: str  # "month" | "range" | "now"


def _month(params: dict[str, str]) -> str:
    month = params.get("month") or utcnow().astimezone(BUSINESS_TZ).strftime("%Y-%m")
    try:
        date.fromisoformat(month + "-01")
    except ValueError as exc:
        raise Invalid("invalid_month", "month: YYYY-MM") from exc
    return month


def _range(params: dict[str, str]) -> tuple[str, str]:
    today = utcnow().astimezone(BUSINESS_TZ).date()
    try:
        start = date.fromisoformat(params.get("from") or str(today - timedelta(days=6)))
        end = date.fromisoformat(params.get("to") or str(today))
    except ValueError as exc:
        raise Invalid("invalid_date", "from/to: YYYY-MM-DD") from exc
    return day_start(start).isoformat(), day_start(end + timedelta(days=1)).isoformat()


async def _in_transit_rows(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> list[dict[str, Any]]:
    return views.in_transit_rows(await service.in_transit(rt, caller=caller), {})


async def _exception_rows(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> list[dict[str, Any]]:
    start, end = _range(params)
    report = await rt.context.backends.tracking.get(caller, "/v1/reports/exceptions", {"from": start, "to": end})
    return list(report.get("rows", []))


async def _receipt_rows(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> list[dict[str, Any]]:
    report = await rt.context.backends.receipts.get(caller, "/v1/reports/receipts/monthly", {"month": _month(params)})
    return [*report.get("regions", []), {**report.get("totals", {}), "region": "合计 total"}]


async def _complaint_rows(rt: WebRuntime, caller: Caller, params: dict[str, str]) -> list[dict[str, Any]]:
    r = await rt.context.backends.complaints.get(caller, "/v1/reports/complaints", {"month": _month(params)})
    rows = [{"measure": f"category:{k}", "value": v} for k, v in sorted(r.get("by_category", {}).items())]
    rows += [{"measure": f"channel:{k}", "value": v} for k, v in sorted(r.get("by_channel", {}).items())]
    for key in ("total", "median_first_response_minutes", "median_resolution_minutes", "csat_average", "csat_count"):
        rows.append({"measure": key, "value": r.get(key)})
    for sla in ("first_response", "resolution"):
        for k, v in (r.get(sla) or {}).items():
            rows.append({"measure": f"{sla}:{k}", "value": v})
    return rows


REPORTS: dict[str, Report] = {r.name: r for r in (
    Report("in-transit", "tracking", IN_TRANSIT_COLUMNS, _in_transit_rows, "now"),
    Report("exceptions", "tracking", (
        Column("station", "站点 station"), Column("kind", "类型 kind"), Column("count", "次数 count", "int"),
        Column("pieces", "件数 pieces", "int"), Column("open_at_end", "未结 open", "int"),
        Column("waybills", "运单 waybills")), _exception_rows, "range"),
    Report("receipts-month", "receipts", (
        Column("region", "区域 region"), Column("required", "应回 required", "int"),
        Column("returned_on_time", "按时 on time", "int"), Column("returned_late", "超期 late", "int"),
        Column("outstanding", "未回 outstanding", "int"), Column("abnormal", "异常 abnormal", "int"),
        Column("lost", "遗失 lost", "int"), Column("penalty_cny", "罚款(元) penalty CNY", "float")),
     _receipt_rows, "month"),
    Report("complaints-month", "complaints", (Column("measure", "指标 measure"), Column("value", "数值 value")),
           _complaint_rows, "month"),
)}


@router.get("/desk/reports")
async def reports_index(request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    return rt.context.templates.render(request, "desk/reports.html", person=person, reports=list(REPORTS))


@router.get("/desk/reports/{name}")
async def report(name: str, request: Request, rt: RuntimeDep, person: PersonDep, format: str = "") -> Response:
    spec = REPORTS.get(name)
    if spec is None:
        raise NotFound.of("report", name)
    params = dict(request.query_params)
    got: Part = await part(spec.backend, spec.load(rt, person.caller, params))
    if format in ("csv", "xlsx") and got.ok:
        return download(got.data, spec.columns, name, format)
    return rt.context.templates.render(request, "desk/report.html", person=person, name=name, spec=spec, report=got,
                                       params=params, query=str(request.url.query),
                                       status=200 if got.ok or format == "" else 503)


