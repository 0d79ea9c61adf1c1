"""Delivery appointments on the desk (预约送货): a station's day (`/desk/appointments`, the missed
and the outside-window ones flagged) and booking a window from the waybill's page (posted to
tracking as the signed-in person; a refusal re-renders the page with the reason and what was
typed)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.web.context import RuntimeDep
from services.web.desk import service
from services.web.desk.api import Waybill, _shipment_page, failed_status, failure_text
from services.web.domain.appointments import flagged, window_from_form
from services.web.domain.messages import message
from services.web.people.api import PersonDep, WriterDep
from services.web.reports.service import today
from services.web.templating import language_of
from shared.errors import DomainError

router = APIRouter(include_in_schema=False)


@router.get("/desk/appointments")
async def appointments(request: Request, rt: RuntimeDep, person: PersonDep, station: str = "",
                       day: Annotated[str, Query(alias="date", max_length=10)] = "") -> Response:
    """The station's day: each appointment with its outcome; missed and outside-window rows flagged."""
    try:
        chosen = date.fromisoformat(day) if day else today()
    except ValueError:
        chosen = today()
    code = station.strip().upper()[:16] or None
    tracking = rt.context.backends.tracking
    got = await service.parts({
        "day": ("tracking", tracking.get(person.caller, "/v1/appointments",
                                         {"station": code, "date": chosen.isoformat()})),
        "stations": ("tracking", tracking.get(person.caller, "/v1/stations", {"limit": 500})),
    })
    stations = sorted(s["code"] for s in (got["stations"].data.get("items", []) if got["stations"].ok else []))
    items = got["day"].data.get("items", []) if got["day"].ok else []
    return rt.context.templates.render(request, "desk/appointments.html", person=person, day=got["day"],
                                       items=[{**i, "flagged": flagged(i)} for i in items], stations=stations,
                                       station=code or "", date=chosen.isoformat())


@router.post("/desk/shipments/{waybill_no}/appointments")
async def book(waybill_no: Waybill, request: Request, rt: RuntimeDep, person: WriterDep,
               day: Annotated[str, Form(max_length=10)], start: Annotated[str, Form(max_length=8)],
               end: Annotated[str, Form(max_length=8)], contact: Annotated[str, Form(max_length=100)],
               channel: Annotated[str, Form(max_length=10)] = "phone",
               note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    values = {"day": day, "start": start, "end": end, "contact": contact, "channel": channel, "note": note}
    try:
        window_start, window_end = window_from_form(day, start, end)
    except DomainError:
        return await _shipment_page(rt, request, person, waybill_no, status=422,
                                    errors={"appointment": message("invalid_window", language_of(request))},
                                    values={"appointment": values})
    body = {"window_start": window_start.isoformat(), "window_end": window_end.isoformat(),
            "contact": contact.strip(), "channel": channel, "note": note.strip() or None}
    try:
        await service.write(rt.context.backends.tracking.post(
            person.caller, f"/v1/shipments/{waybill_no}/appointments", body))
    except service.WriteFailed as exc:
        return await _shipment_page(rt, request, person, waybill_no, errors={"appointment": failure_text(exc, request)},
                                    values={"appointment": values}, status=failed_status(exc))
    return RedirectResponse(f"/desk/shipments/{waybill_no}#appointment", status_code=303)
