"""The key-account portal's pages (`/portal/`, role `customer` only).

Every page reads as the signed-in customer; a part that cannot be had says so and the rest
renders. Everything is readable without JavaScript (plain links and forms). A write the
backend refuses re-renders the form with the reason above it and what was typed kept.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from services.web.context import RuntimeDep, WebRuntime
from services.web.desk.api import failed_status, failure_text
from services.web.desk.parts import Part, part
from services.web.desk.service import WriteFailed, write
from services.web.domain import portal as rules
from services.web.domain.messages import message
from services.web.people.api import CustomerDep, CustomerWriterDep
from services.web.people.models import Person
from services.web.portal import service
from services.web.portal.models import ARRIVAL_COLUMNS, RECEIPT_COLUMNS, SHIPMENT_COLUMNS, STORAGE_COLUMNS
from services.web.reports.api import download
from services.web.templating import language_of
from shared.clock import BUSINESS_TZ, utcnow
from shared.errors import Invalid

router = APIRouter(include_in_schema=False)
Waybill = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{4,40}$")]
FORMATS = ("csv", "xlsx")
COMPLAINT_CATEGORIES = ("delay", "damage", "loss", "attitude", "billing", "other")


def _today() -> date:
    return utcnow().astimezone(BUSINESS_TZ).date()


def _render(rt: WebRuntime, request: Request, template: str, person: Person, status: int = 200,
            **ctx: Any) -> Response:
    return rt.context.templates.render(request, template, status=status, person=person, **ctx)


def _not_found(rt: WebRuntime, request: Request, person: Person) -> Response:
    return _render(rt, request, "error.html", person, status=404, code="not_found", message=None)


def _unavailable_download(rt: WebRuntime, request: Request, person: Person, got: Part) -> Response:
    return _render(rt, request, "error.html", person, status=503, code="unavailable", message=got.message or None)


# --- shipments ----------------------------------------------------------------------------

@router.get("/portal/")
async def shipments(request: Request, rt: RuntimeDep, person: CustomerDep, format: str = "") -> Response:
    error = None
    try:
        f = rules.parse_filter(request.query_params)
    except Invalid as exc:
        error, f = exc.message, rules.ShipmentFilter()
    got = await service.shipments(rt, caller=person.caller, f=f)
    if format in FORMATS:
        if not got.ok:
            return _unavailable_download(rt, request, person, got)
        return download(got.data["rows"], SHIPMENT_COLUMNS, "shipments", format)
    return _render(rt, request, "portal/shipments.html", person, status=422 if error else 200, got=got,
                   filters=f, statuses=rules.STATUSES, error=error, query=_query(f.as_params()))


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{k}={quote(v)}" for k, v in params.items())


async def _shipment_page(rt: WebRuntime, request: Request, person: Person, waybill_no: str, *,
                         errors: dict[str, str] | None = None, values: dict[str, dict[str, Any]] | None = None,
                         status: int = 200) -> Response:
    assert person.customer is not None
    got = await service.shipment(rt, caller=person.caller, customer=person.customer, waybill_no=waybill_no)
    if got["shipment"].problem == "not_found":  # not there, or not the customer's: one answer
        return _not_found(rt, request, person)
    can_appoint = await service.can_appoint(rt)
    return _render(rt, request, "portal/shipment.html", person, status=status, waybill_no=waybill_no,
                   shipment=got["shipment"], receipt=got["receipt"], complaints=got["complaints"],
                   photos=got.get("photos"), can_appoint=can_appoint,
                   errors=errors or {}, values=values or {}, today=_today().isoformat(),
                   requested=request.query_params.get("appointment") == "requested")


@router.get("/portal/shipments/{waybill_no}")
async def shipment_page(waybill_no: Waybill, request: Request, rt: RuntimeDep, person: CustomerDep) -> Response:
    return await _shipment_page(rt, request, person, waybill_no.upper())


@router.get("/portal/shipments/{waybill_no}/exceptions/{exception_id}/photos/{photo_id}")
async def exception_photo(waybill_no: Waybill, exception_id: Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{32,36}$")],
                          photo_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, rt: RuntimeDep,
                          person: CustomerDep) -> Response:
    """The photo's bytes as tracking serves them: an attachment in a sandbox, so a file that is
    also HTML or script is never rendered as a page of this origin (an `<img>` shows it)."""
    assert person.customer is not None
    got = await service.photo(rt, caller=person.caller, customer=person.customer, waybill_no=waybill_no.upper(),
                              exception_id=exception_id.lower(), photo_id=photo_id)
    if got is None:
        return _not_found(rt, request, person)
    content, kind = got
    return Response(content, media_type=kind, headers={
        "Content-Disposition": f'attachment; filename="photo-{photo_id}.{kind.removeprefix("image/")}"',
        "Content-Security-Policy": "sandbox; default-src 'none'", "Cache-Control": "private, max-age=3600"})


@router.post("/portal/shipments/{waybill_no}/appointments")
async def request_appointment(waybill_no: Waybill, request: Request, rt: RuntimeDep, person: CustomerWriterDep,
                              day: Annotated[str, Form(alias="date", max_length=10)],
                              start: Annotated[str, Form(max_length=5)], end: Annotated[str, Form(max_length=5)],
                              contact: Annotated[str, Form(max_length=100)],
                              note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """预约送货: a delivery window for the waybill, sent to tracking as the customer."""
    waybill_no = waybill_no.upper()
    values = {"date": day, "start": start, "end": end, "contact": contact, "note": note}
    lang = language_of(request)
    if not await service.can_appoint(rt):
        return await _shipment_page(rt, request, person, waybill_no, status=503, values={"appointment": values},
                                    errors={"appointment": message("appointments_unavailable", lang)})
    try:
        window_start, window_end = rules.delivery_window(day, start, end, utcnow())
    except Invalid as exc:
        return await _shipment_page(rt, request, person, waybill_no, status=422, values={"appointment": values},
                                    errors={"appointment": message(f"refused_{exc.code}", lang)})
    if not contact.strip():
        return await _shipment_page(rt, request, person, waybill_no, status=422, values={"appointment": values},
                                    errors={"appointment": message("refused_contact_required", lang)})
    body = {"window_start": window_start.isoformat(), "window_end": window_end.isoformat(),
            "contact": contact.strip(), "channel": "portal", "note": note.strip() or None}
    try:
        await write(rt.context.backends.tracking.post(person.caller, f"/v1/shipments/{waybill_no}/appointments",
                                                      body))
    except WriteFailed as exc:
        if exc.error.status == 404:
            return _not_found(rt, request, person)
        return await _shipment_page(rt, request, person, waybill_no, status=failed_status(exc),
                                    values={"appointment": values},
                                    errors={"appointment": failure_text(exc, request)})
    return RedirectResponse(f"/portal/shipments/{waybill_no}?appointment=requested#appointment", status_code=303)


# --- arrivals, storage, receipts ----------------------------------------------------------

@router.get("/portal/arrivals")
async def arrivals(request: Request, rt: RuntimeDep, person: CustomerDep, date: str = "",
                   format: str = "") -> Response:
    try:
        day = rules.parse_day(date) or _today()
    except Invalid as exc:
        return _render(rt, request, "error.html", person, status=422, code="error", message=exc.message)
    got = await service.arrivals(rt, caller=person.caller, day=day)
    if format in FORMATS:
        if not got.ok:
            return _unavailable_download(rt, request, person, got)
        return download(got.data["rows"], ARRIVAL_COLUMNS, f"arrivals-{day.isoformat()}", format)
    return _render(rt, request, "portal/arrivals.html", person, got=got, day=day.isoformat())


@router.get("/portal/storage")
async def storage(request: Request, rt: RuntimeDep, person: CustomerDep, station: str = "",
                  format: str = "") -> Response:
    assert person.customer is not None
    code = station.strip().upper()[:16] or None
    as_of = utcnow()
    got = await service.storage(rt, caller=person.caller, customer=person.customer, station=code, as_of=as_of)
    if format in FORMATS:
        if not got.ok:
            return _unavailable_download(rt, request, person, got)
        return download(got.data, STORAGE_COLUMNS, "storage", format)
    return _render(rt, request, "portal/storage.html", person, got=got, station=code or "", as_of=as_of,
                   query=_query({"station": code} if code else {}))


@router.get("/portal/receipts")
async def receipts(request: Request, rt: RuntimeDep, person: CustomerDep, status: str = "",
                   format: str = "") -> Response:
    chosen = status if status in rules.RECEIPT_STATUSES else None
    got = await service.receipts(rt, caller=person.caller, status=chosen)
    if format in FORMATS:
        if not got.ok:
            return _unavailable_download(rt, request, person, got)
        return download(got.data["rows"], RECEIPT_COLUMNS, "receipts", format)
    return _render(rt, request, "portal/receipts.html", person, got=got, status_filter=chosen or "",
                   statuses=rules.RECEIPT_STATUSES, query=_query({"status": chosen} if chosen else {}))


# --- complaints ---------------------------------------------------------------------------

async def _complaints_page(rt: WebRuntime, request: Request, person: Person, *, error: str | None = None,
                           values: dict[str, str] | None = None, status: int = 200) -> Response:
    assert person.customer is not None
    got = await part("complaints", service.complaints_of(rt, caller=person.caller, customer=person.customer))
    prefill = {"waybill_no": request.query_params.get("waybill", "").upper()[:40],
               "caller_name": person.display_name}
    return _render(rt, request, "portal/complaints.html", person, status=status, got=got, error=error,
                   values=values or prefill, categories=COMPLAINT_CATEGORIES)


@router.get("/portal/complaints")
async def complaints(request: Request, rt: RuntimeDep, person: CustomerDep) -> Response:
    return await _complaints_page(rt, request, person)


@router.post("/portal/complaints")
async def open_complaint(request: Request, rt: RuntimeDep, person: CustomerWriterDep,
                         waybill_no: Annotated[str, Form(max_length=40)],
                         caller_name: Annotated[str, Form(max_length=100)],
                         phone: Annotated[str, Form(max_length=20)], category: Annotated[str, Form(max_length=20)],
                         description: Annotated[str, Form(max_length=2000)]) -> Response:
    """A complaint about one of the customer's waybills, filed as the customer (channel web)."""
    assert person.customer is not None
    values = {"waybill_no": waybill_no, "caller_name": caller_name, "phone": phone, "category": category,
              "description": description}
    lang = language_of(request)
    number = waybill_no.strip().upper()
    if category not in COMPLAINT_CATEGORIES or not description.strip() or not caller_name.strip():
        return await _complaints_page(rt, request, person, error=message("refused_validation_error", lang),
                                      values=values, status=422)
    # Only about a waybill that is the customer's: anything else is "not found" for it.
    mine = await service.shipment_owned(rt, caller=person.caller, customer=person.customer, waybill_no=number)
    if mine is not True:
        text = message("refused_not_found", lang) if mine is False else message("backend_down", lang, what=number,
                                                                                 backend=message("backend_tracking",
                                                                                                 lang))
        return await _complaints_page(rt, request, person, error=text, values=values,
                                      status=404 if mine is False else 503)
    body = {"customer_id": person.customer, "caller_name": caller_name.strip(), "phone": phone.strip(),
            "waybill_no": number, "channel": "web", "category": category, "description": description.strip()}
    try:
        created = await write(rt.context.backends.complaints.post(person.caller, "/v1/complaints", body))
    except WriteFailed as exc:
        return await _complaints_page(rt, request, person, error=failure_text(exc, request), values=values,
                                      status=failed_status(exc))
    return RedirectResponse(f"/portal/complaints/{quote(str(created['id']))}", status_code=303)


ComplaintId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{32,36}$")]


async def _complaint_page(rt: WebRuntime, request: Request, person: Person, complaint_id: str, *,
                          errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                          status: int = 200) -> Response:
    assert person.customer is not None
    got = await service.complaint(rt, caller=person.caller, customer=person.customer, complaint_id=complaint_id)
    if got.problem == "not_found":
        return _not_found(rt, request, person)
    allowed = set(got.data.get("allowed_actions") or []) if got.ok else set()
    return _render(rt, request, "portal/complaint.html", person, status=status, got=got, allowed=allowed,
                   history=rules.customer_history(got.data) if got.ok else [], errors=errors or {},
                   values=values or {})


@router.get("/portal/complaints/{complaint_id}")
async def complaint_page(complaint_id: ComplaintId, request: Request, rt: RuntimeDep,
                         person: CustomerDep) -> Response:
    return await _complaint_page(rt, request, person, complaint_id)


async def _complaint_step(rt: WebRuntime, request: Request, person: Person, complaint_id: str, step: str,
                          body: dict[str, Any], values: dict[str, str]) -> Response:
    """One step the customer takes on its own complaint (the complaints service decides which)."""
    try:
        await write(rt.context.backends.complaints.post(person.caller, f"/v1/complaints/{complaint_id}/{step}",
                                                        body))
    except WriteFailed as exc:
        if exc.error.status == 404:
            return _not_found(rt, request, person)
        return await _complaint_page(rt, request, person, complaint_id, errors={step: failure_text(exc, request)},
                                     values=values, status=failed_status(exc))
    return RedirectResponse(f"/portal/complaints/{complaint_id}", status_code=303)


@router.post("/portal/complaints/{complaint_id}/reply")
async def reply(complaint_id: ComplaintId, request: Request, rt: RuntimeDep, person: CustomerWriterDep,
                text: Annotated[str, Form(alias="message", min_length=1, max_length=2000)]) -> Response:
    return await _complaint_step(rt, request, person, complaint_id, "customer-reply",
                                 {"message": text.strip(), "channel": "web"}, {"message": text})


@router.post("/portal/complaints/{complaint_id}/survey")
async def survey(complaint_id: ComplaintId, request: Request, rt: RuntimeDep, person: CustomerWriterDep,
                 score: Annotated[int, Form(ge=1, le=5)],
                 comment: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return await _complaint_step(rt, request, person, complaint_id, "survey",
                                 {"score": score, "comment": comment.strip() or None},
                                 {"score": str(score), "comment": comment})
