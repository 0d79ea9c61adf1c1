"""The reports' pages and downloads: `/desk/reports`, `/desk/reports/{name}` (HTML; with
`?format=csv|xlsx` the same rows as a file)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.context import RuntimeDep
from services.web.desk.parts import Part, part
from services.web.domain.sheets import XLSX_TYPE, Column, to_csv_bytes, to_xlsx_bytes
from services.web.people.api import PersonDep
from services.web.reports.service import REPORTS
from shared.clock import BUSINESS_TZ, utcnow
from shared.errors import NotFound

router = APIRouter(include_in_schema=False)


def download(rows: list[dict[str, Any]], columns: tuple[Column, ...], name: str, fmt: str) -> Response:
    stamp = utcnow().astimezone(BUSINESS_TZ).strftime("%Y%m%d-%H%M")
    filename = f"{name}-{stamp}.{fmt}"
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    if fmt == "csv":
        return Response(to_csv_bytes(rows, columns), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition})
    return Response(to_xlsx_bytes(rows, columns, name), media_type=XLSX_TYPE,
                    headers={"Content-Disposition": disposition})


@router.get("/desk/reports")
async def reports_index(request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    return rt.context.templates.render(request, "desk/reports.html", person=person, reports=list(REPORTS.values()))


@router.get("/desk/reports/{name}")
async def report(name: str, request: Request, rt: RuntimeDep, person: PersonDep, format: str = "") -> Response:
    spec = REPORTS.get(name)
    if spec is None:
        raise NotFound.of("report", name)
    params = dict(request.query_params)
    got: Part = await part(spec.backend, spec.load(rt, person.caller, params))
    if format in ("csv", "xlsx") and got.ok:
        return download(got.data.rows, spec.columns, name, format)
    return rt.context.templates.render(request, "desk/report.html", person=person, name=name, spec=spec, report=got,
                                       params=params, query=str(request.url.query),
                                       status=200 if got.ok or format == "" else 503)
