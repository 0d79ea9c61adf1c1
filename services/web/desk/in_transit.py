"""The 08:00 in-transit view: every vehicle on the road with its waybills, its last fix and
the special handling to tell the driver; filters, the fleet map, CSV and XLSX."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.context import RuntimeDep
from services.web.desk import service, views
from services.web.people.api import PersonDep
from services.web.reports.api import download
from services.web.reports.models import IN_TRANSIT_COLUMNS

router = APIRouter(include_in_schema=False)


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
