"""The desk's pages: workbench, its live lists, search, one waybill and its three forms.

Reads go to the backends as the signed-in person; a part that cannot be had says so and
the rest renders. A write the backend refuses (or cannot take) re-renders the page with
the message above the form and everything the user typed kept.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from services.web.backends.client import BackendDown
from services.web.context import RuntimeDep, WebRuntime
from services.web.desk import service, views
from services.web.domain.messages import message
from services.web.people.api import PersonDep, SignInRequired, WriterDep, current_person, home_of, safe_next
from services.web.people.models import Person
from services.web.templating import LANG_COOKIE, language_of
from shared.clock import utcnow
from shared.errors import NotFound

router = APIRouter(include_in_schema=False)
Waybill = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{4,40}$")]


@router.get("/")
async def root(request: Request, rt: RuntimeDep) -> Response:
    """The signed-in person's start page (the portal for a customer), else the desk's sign-in."""
    try:
        person = await current_person(request, rt)
    except SignInRequired:
        return RedirectResponse("/desk/", status_code=303)
    return RedirectResponse(home_of(person), status_code=303)


@router.get("/lang/{code}")
async def switch_language(code: str, next: str = "/desk/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in ("zh-CN", "en"):
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/desk/")
async def workbench(request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    lists = await service.workbench(rt, caller=person.caller)
    return rt.context.templates.render(request, "desk/workbench.html", person=person, lists=lists)


@router.get("/desk/lists/{name}")
async def one_list(name: str, request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    if name not in service.LISTS:
        raise NotFound.of("list", name)
    got = await service.workbench(rt, caller=person.caller, names=[name])
    return rt.context.templates.render(request, "desk/_list.html", person=person, name=name, part=got[name])


@router.get("/desk/search")
async def search(request: Request, rt: RuntimeDep, person: PersonDep, q: str = "") -> Response:
    query, found = await service.search(rt, caller=person.caller, text=q[:100])
    hits = found.get("shipments")
    customer = found.get("customer")
    if hits is not None and hits.ok and len(hits.data) == 1 and (customer is None or not customer.ok):
        return RedirectResponse(f"/desk/shipments/{quote(hits.data[0]['waybill_no'])}", status_code=303)
    return rt.context.templates.render(request, "desk/search.html", person=person, q=q, query=query, found=found)


async def _shipment_page(rt: WebRuntime, request: Request, person: Person, waybill_no: str, *,
                         errors: dict[str, str] | None = None, values: dict[str, dict[str, Any]] | None = None,
                         status: int = 200) -> Response:
    got = await service.shipment(rt, caller=person.caller, waybill_no=waybill_no)
    shipment = got["shipment"]
    if shipment.problem in ("not_found", "forbidden"):
        return rt.context.templates.render(request, "error.html", status=404, person=person,
                                           code="not_found", message=None)
    s = rt.settings
    return rt.context.templates.render(
        request, "desk/shipment.html", status=status, person=person, waybill_no=waybill_no,
        shipment=shipment, receipt=got["receipt"], complaints=got["complaints"],
        notifications=got["notifications"], entries=views.timeline_entries(shipment, got["notifications"]),
        map_data=views.map_data(shipment, got["stations"], s.map_tile_url, s.map_tile_attribution, got["track"]),
        errors=errors or {}, values=values or {})


@router.get("/desk/shipments/{waybill_no}")
async def shipment_page(waybill_no: Waybill, request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    return await _shipment_page(rt, request, person, waybill_no.upper())


@router.get("/desk/shipments/{waybill_no}/timeline")
async def shipment_timeline(waybill_no: Waybill, request: Request, rt: RuntimeDep, person: PersonDep) -> Response:
    b = rt.context.backends
    got = await service.parts({
        "shipment": ("tracking", b.tracking.get(person.caller, f"/v1/shipments/{waybill_no}")),
        "notifications": ("notifier", b.notifier.get(person.caller, "/v1/notifications",
                                                     {"waybill_no": waybill_no})),
    })
    if got["shipment"].problem in ("not_found", "forbidden"):
        raise NotFound.of("waybill", waybill_no)
    return rt.context.templates.render(request, "desk/_timeline.html", person=person, waybill_no=waybill_no,
                                       shipment=got["shipment"],
                                       entries=views.timeline_entries(got["shipment"], got["notifications"]))


def failed_status(exc: service.WriteFailed) -> int:
    """The page's status when a write failed: the backend's refusal as it answered it (409 a
    conflict, 422 invalid input ...), 503 when it could not be reached, 502 when it broke or
    did not accept the desk's own token."""
    if isinstance(exc.error, BackendDown):
        return 503
    return exc.error.status if 400 <= exc.error.status < 500 and exc.error.status != 401 else 502


def failure_text(exc: service.WriteFailed, request: Request) -> str:
    """Why a write failed, for the person: the refusal in their language when the desk knows
    the backend's code, then the backend's own message and code."""
    if isinstance(exc.error, BackendDown):
        return f"{exc.error.backend}: unavailable — nothing was saved, please try again ({exc.error.message})"
    known = message(f"refused_{exc.error.code}", language_of(request), **_detail_words(exc.error.details))
    prefix = "" if known.startswith("refused_") else known + " — "
    return f"{prefix}{exc.error.message} ({exc.error.code})"


def _detail_words(details: Any) -> dict[str, str]:
    return {"holder": str(details.get("assigned_to") or "")} if isinstance(details, dict) else {"holder": ""}


@router.post("/desk/shipments/{waybill_no}/notes")
async def add_note(waybill_no: Waybill, request: Request, rt: RuntimeDep, person: WriterDep,
                   contact: Annotated[str, Form(max_length=100)],
                   channel: Annotated[str, Form(max_length=40)] = "phone",
                   delayed: Annotated[str, Form(max_length=5)] = "", reason: Annotated[str, Form(max_length=40)] = "",
                   note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    values = {"contact": contact, "channel": channel, "delayed": delayed, "reason": reason, "note": note}
    body = {"at": utcnow().isoformat(), "contact": contact.strip(), "channel": channel, "delayed": bool(delayed),
            "reason": (reason or None) if delayed else None, "note": note.strip() or None}
    try:
        await service.write(rt.context.backends.tracking.post(person.caller, f"/v1/shipments/{waybill_no}/notes",
                                                              body))
    except service.WriteFailed as exc:
        return await _shipment_page(rt, request, person, waybill_no, errors={"note": failure_text(exc, request)},
                                    values={"note": values}, status=failed_status(exc))
    return RedirectResponse(f"/desk/shipments/{waybill_no}#timeline-box", status_code=303)


@router.post("/desk/shipments/{waybill_no}/exceptions")
async def add_exception(waybill_no: Waybill, request: Request, rt: RuntimeDep, person: WriterDep,
                        kind: Annotated[str, Form(max_length=20)], pieces: Annotated[int, Form(ge=1, le=100_000)],
                        station: Annotated[str, Form(max_length=16)],
                        description: Annotated[str, Form(max_length=2000)],
                        photos: list[UploadFile] | None = None) -> Response:
    values = {"kind": kind, "pieces": str(pieces), "station": station, "description": description}
    tracking = rt.context.backends.tracking
    try:
        created = await service.write(tracking.post(
            person.caller, f"/v1/shipments/{waybill_no}/exceptions",
            {"kind": kind, "pieces": pieces, "station": station.strip().upper(), "description": description}))
        for photo in photos or []:
            if not photo.filename:
                continue
            data = await photo.read()
            await service.write(tracking.post(
                person.caller, f"/v1/exceptions/{created['id']}/photos",
                files={"file": (photo.filename, data, photo.content_type or "application/octet-stream")}))
    except service.WriteFailed as exc:
        return await _shipment_page(rt, request, person, waybill_no, errors={"exception": failure_text(exc, request)},
                                    values={"exception": values}, status=failed_status(exc))
    return RedirectResponse(f"/desk/shipments/{waybill_no}#timeline-box", status_code=303)


@router.post("/desk/shipments/{waybill_no}/complaints")
async def add_complaint(waybill_no: Waybill, request: Request, rt: RuntimeDep, person: WriterDep,
                        caller_name: Annotated[str, Form(max_length=100)], phone: Annotated[str, Form(max_length=20)],
                        channel: Annotated[str, Form(max_length=20)], category: Annotated[str, Form(max_length=20)],
                        description: Annotated[str, Form(max_length=2000)],
                        customer_id: Annotated[str, Form(max_length=64)] = "") -> Response:
    values = {"caller_name": caller_name, "phone": phone, "channel": channel, "category": category,
              "description": description, "customer_id": customer_id}
    body = {"customer_id": customer_id.strip() or None, "caller_name": caller_name.strip(), "phone": phone.strip(),
            "waybill_no": waybill_no, "channel": channel, "category": category, "description": description}
    try:
        created = await service.write(rt.context.backends.complaints.post(person.caller, "/v1/complaints", body))
    except service.WriteFailed as exc:
        return await _shipment_page(rt, request, person, waybill_no, errors={"complaint": failure_text(exc, request)},
                                    values={"complaint": values}, status=failed_status(exc))
    return RedirectResponse(f"/desk/complaints/{created['id']}", status_code=303)


